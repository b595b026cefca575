"""What the app remembers between runs that is not a setting: whether first-run setup finished,
and the downloads the setup wizard started (so quitting mid-download and reopening resumes them).

A small JSON file beside the settings file, written atomically; a damaged file is set aside and
treated as a first run rather than stopping the app.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

STATE_FILE = "state.json"


@dataclass
class AppState:
    setup_done: bool = False
    # Model specs (catalog "id:QUANT" or hub file refs) the wizard started, by role ("chat", "embedding").
    pending_pulls: dict[str, str] = field(default_factory=dict)
    course_id: str | None = None      # the course open when the app was last closed
    lesson_id: str | None = None

    @classmethod
    def load(cls, folder: Path) -> AppState:
        path = folder / STATE_FILE
        try:
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
            state = cls(**known)
            if not isinstance(state.pending_pulls, dict):
                raise TypeError("pending_pulls is not a mapping")
            return state
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError, TypeError) as exc:
            log.warning("the app state file %s is unreadable (%s); starting from defaults", path, exc)
            with contextlib.suppress(OSError):  # keep the damaged file for a bug report if we can
                path.replace(path.with_suffix(".json.bad"))
            return cls()

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".state-", suffix=".json", dir=folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(asdict(self), fh, indent=2)
            os.replace(tmp, folder / STATE_FILE)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
