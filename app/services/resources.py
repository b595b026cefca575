"""Locate files under resources/: in a PyInstaller bundle, a source checkout (or editable install),
or a regular install (pyproject's data-files put them in <prefix>/share/lantern/resources)."""

from __future__ import annotations

import sys
from pathlib import Path


def resources_root() -> Path:
    frozen_root = getattr(sys, "_MEIPASS", None)  # set by PyInstaller's bootloader
    if frozen_root:
        return Path(frozen_root) / "resources"
    checkout = Path(__file__).resolve().parents[2] / "resources"
    if checkout.is_dir():
        return checkout
    return Path(sys.prefix) / "share" / "lantern" / "resources"


def resource_path(*parts: str) -> Path:
    return resources_root().joinpath(*parts)
