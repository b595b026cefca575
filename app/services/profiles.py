"""Get the device profile: from a `--profile FILE` (someone's diagnostics) or by probing."""

from __future__ import annotations

from pathlib import Path

from app.core.errors import InvalidProfile
from app.core.profile import DeviceProfile


def read_profile(path: Path) -> DeviceProfile:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InvalidProfile(f"The profile file {path} does not exist.",
                             hint="Save one with `lantern doctor --json > profile.json`.") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidProfile(f"The profile file {path} cannot be read ({exc}).",
                             hint="Save one with `lantern doctor --json > profile.json`.") from exc
    return DeviceProfile.from_json(text, origin=f"profile file {path.name}")
