"""Load and save the settings file (TOML), migrating old layouts on the way in."""

from __future__ import annotations

import os
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import ValidationError

from app.core.errors import SettingsInvalid
from app.core.i18n import _
from app.core.settings import LanternSettings, migrate_settings
from app.services.paths import DataPaths, resolve_paths


def read_settings_file(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsInvalid(
            _("The settings file {path} is not valid TOML: {exc}.").format(path=path, exc=exc),
            hint=_("Fix the line it names, or delete the file to start from defaults."),
        ) from exc
    except OSError as exc:
        raise SettingsInvalid(
            _("The settings file {path} cannot be read ({strerror}).").format(path=path, strerror=exc.strerror),
            hint=_("Check the file's permissions."),
        ) from exc


def load_settings(config_file: Path | None = None) -> LanternSettings:
    """Settings from the file (migrated) overlaid by LANTERN_* environment variables."""
    path = config_file or resolve_paths().config_file
    data = migrate_settings(read_settings_file(path))
    try:
        return LanternSettings(**data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise SettingsInvalid(
            _("Setting '{where}' is invalid: {msg} (from {path} or a LANTERN_ variable).").format(
              where=where, msg=first['msg'], path=path),
            hint=_("Fix or remove '{where}' in {path}, or unset {env_var}.").format(
                   where=where, path=path, env_var=f"LANTERN_{where.upper()}"),
        ) from exc


def save_settings(settings: LanternSettings, config_file: Path | None = None) -> Path:
    """Write atomically (temp file + rename) so a crash never leaves a half-written settings file."""
    path = config_file or resolve_paths().config_file
    path.parent.mkdir(parents=True, exist_ok=True)
    data = settings.model_dump(mode="json", exclude_none=True)
    fd, tmp = tempfile.mkstemp(prefix=".config-", suffix=".toml", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            tomli_w.dump(data, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def paths_for(settings: LanternSettings) -> DataPaths:
    return resolve_paths(models_dir=settings.models_dir)
