"""`lantern models roles`: the tier, the overrides, prices and whether each cloud model is usable now."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NO_KEYRING = "keyring.backends.fail.Keyring"


def roles(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LANTERN_CLOUD_KEY_")}
    environ.update({"PYTHON_KEYRING_BACKEND": NO_KEYRING, **env})
    return subprocess.run([sys.executable, "-m", "app", "models", "roles", *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env=environ)


def test_free_tier_has_a_priced_cloud_fallback_that_needs_a_key():
    done = roles("--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["tier"] == "free" and data["cloud_consent"] == "ask"
    assert data["roles"]["default"] == {"model": "local:auto", "where": "local", "from": "tier", "price": None,
                                        "usable": True, "blocked": None}
    fallback = data["roles"]["fallback"]
    assert fallback["model"] == "cloud:openai/gpt-4o-mini" and fallback["price"]["as_of"]
    assert fallback["usable"] is False and fallback["blocked"]["code"] == "no_key"


def test_overrides_offline_and_a_key_from_the_environment_change_the_verdicts():
    key = "sk-test-1234567890abcd"
    done = roles("--json", LANTERN_ROLES='{"code": "cloud:openai/gpt-4.1-mini"}', LANTERN_CLOUD_KEY_OPENAI=key)
    data = json.loads(done.stdout)
    assert data["roles"]["code"]["from"] == "setting" and data["roles"]["code"]["usable"] is True
    offline = json.loads(roles("--json", LANTERN_OFFLINE="1", LANTERN_CLOUD_KEY_OPENAI=key).stdout)
    assert offline["roles"]["fallback"]["blocked"]["code"] == "offline"
    text = roles(LANTERN_TIER="local").stdout
    assert "Tier: local" in text and "(none)" in text


def test_a_bad_role_value_is_a_clear_error_not_a_traceback():
    done = roles(LANTERN_ROLES='{"fallback": "gpt-4o"}')
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "not a model reference" in done.stderr and "cloud:<provider>/<model>" in done.stderr
