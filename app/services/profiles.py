"""Get the device profile: from a `--profile FILE` (someone's diagnostics) or by probing."""

from __future__ import annotations

from pathlib import Path

from app.core.errors import InvalidProfile
from app.core.i18n import _
from app.core.profile import DeviceProfile


def read_profile(path: Path) -> DeviceProfile:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InvalidProfile(_("The profile file {path} does not exist.").format(path=path),
                             hint=_("Save one with `lantern doctor --json > profile.json`.")) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidProfile(_("The profile file {path} cannot be read ({exc}).").format(path=path, exc=exc),
                             hint=_("Save one with `lantern doctor --json > profile.json`.")) from exc
    return DeviceProfile.from_json(text, origin=f"profile file {path.name}")
