"""Logging: a rotating file in the log folder always; the console only with --debug."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def configure_logging(log_dir: Path, *, level: str = "INFO", debug: bool = False) -> Path | None:
    """Returns the log file path, or None when the folder cannot be written (logging then goes
    to the console only, never stopping the app)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_lantern", False):
            root.removeHandler(handler)
            handler.close()
    root.setLevel(logging.DEBUG if debug else getattr(logging, level, logging.INFO))
    log_file: Path | None = log_dir / "lantern.log"
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        file_handler: logging.Handler = logging.handlers.RotatingFileHandler(
            log_dir / "lantern.log", maxBytes=2_000_000, backupCount=5, encoding="utf-8"
        )
        file_handler.setFormatter(logging.Formatter(LOG_FORMAT))
        file_handler._lantern = True  # type: ignore[attr-defined]
        root.addHandler(file_handler)
    except OSError:
        log_file = None
    if debug or log_file is None:
        console = logging.StreamHandler()
        console.setFormatter(logging.Formatter(LOG_FORMAT))
        console.setLevel(logging.DEBUG if debug else logging.WARNING)
        console._lantern = True  # type: ignore[attr-defined]
        root.addHandler(console)
    return log_file
