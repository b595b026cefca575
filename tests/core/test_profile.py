from __future__ import annotations

import json

import pytest

from app.core.errors import InvalidProfile, LanternError
from app.core.profile import DeviceProfile
from tests.hardware_scenarios import SCENARIOS, profile


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_round_trip(name):
    p = profile(name)
    assert DeviceProfile.from_json(p.to_json()) == p


def test_json_is_versioned():
    data = json.loads(profile("ci-box-2core").to_json())
    assert data["schema"] == "lantern.device-profile" and data["version"] == 1


@pytest.mark.parametrize(("text", "message"), [
    ("{not json", "not valid JSON"),
    ('{"hello": 1}', "not a Lantern device profile"),
    ('{"schema": "lantern.device-profile", "version": 99}', "profile version 99"),
    ('{"schema": "lantern.device-profile", "version": 1, "memory": {"total_bytes": "lots"}}', "memory.total_bytes"),
])
def test_bad_profiles_get_clear_messages(text, message):
    with pytest.raises(InvalidProfile) as info:
        DeviceProfile.from_json(text)
    assert message in info.value.user_message
    assert info.value.hint and "lantern doctor --json" in info.value.hint
    assert isinstance(info.value, ValueError) and isinstance(info.value, LanternError)
