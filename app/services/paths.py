"""Where Lantern keeps its files.

`LANTERN_HOME` overrides every location (settings, models, database, indexes, logs, cache): tests
and benchmarks always set it to a temporary folder so nothing they do touches the real home.
Without it, the platform's standard folders are used (platformdirs).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "Lantern"
APP_AUTHOR = "Lantern"


@dataclass(frozen=True)
class DataPaths:
    config_file: Path
    data_dir: Path
    models_dir: Path
    index_dir: Path
    database_file: Path
    log_dir: Path
    cache_dir: Path

    def ensure(self) -> DataPaths:
        for folder in (self.config_file.parent, self.data_dir, self.models_dir, self.index_dir,
                       self.log_dir, self.cache_dir):
            folder.mkdir(parents=True, exist_ok=True)
        return self


def home_override(environ: dict[str, str] | None = None) -> Path | None:
    value = (environ if environ is not None else os.environ).get("LANTERN_HOME", "").strip()
    return Path(value).expanduser().resolve() if value else None


def resolve_paths(*, models_dir: Path | None = None, environ: dict[str, str] | None = None) -> DataPaths:
    """Resolve every location; `models_dir` is the user's setting, when they moved models elsewhere."""
    home = home_override(environ)
    if home is not None:
        config_file = home / "config.toml"
        data_dir = home / "data"
        log_dir = home / "logs"
        cache_dir = home / "cache"
    else:
        config_file = Path(platformdirs.user_config_dir(APP_NAME, APP_AUTHOR)) / "config.toml"
        data_dir = Path(platformdirs.user_data_dir(APP_NAME, APP_AUTHOR))
        log_dir = Path(platformdirs.user_log_dir(APP_NAME, APP_AUTHOR))
        cache_dir = Path(platformdirs.user_cache_dir(APP_NAME, APP_AUTHOR))
    return DataPaths(
        config_file=config_file,
        data_dir=data_dir,
        models_dir=models_dir.expanduser() if models_dir else data_dir / "models",
        index_dir=data_dir / "indexes",
        database_file=data_dir / "lantern.sqlite3",
        log_dir=log_dir,
        cache_dir=cache_dir,
    )
