"""`lantern auth cloud` end to end, as a real subprocess with a chosen keyring backend (the helpers and
the working JsonFileKeyring backend are the ones `lantern auth hf`'s tests use)."""

from __future__ import annotations

import json

from tests.e2e.test_cli_auth import files_containing, lantern

KEY = "sk-proj-e2eCloudKeyValue0123456789abcdQRST"
BACKEND = "tests.e2e.test_cli_auth.JsonFileKeyring"


def test_store_status_remove_in_a_real_keyring(lantern_home, tmp_path):
    keyring_file = tmp_path / "keyring.json"
    env = {"LANTERN_TEST_KEYRING_FILE": str(keyring_file)}
    stored = lantern("auth", "cloud", "--provider", "openrouter", "--stdin", stdin=KEY + "\n", backend=BACKEND,
                     env_extra=env)
    assert stored.returncode == 0, stored.stderr
    assert "openrouter" in stored.stdout and "OS keyring" in stored.stdout and "…QRST" in stored.stdout
    assert KEY not in stored.stdout + stored.stderr
    assert json.loads(keyring_file.read_text()) == {"lantern/cloud_key.openrouter": KEY}
    assert files_containing(lantern_home, KEY) == []  # nothing under LANTERN_HOME holds the key

    status = lantern("auth", "cloud", "--provider", "openrouter", "--status", backend=BACKEND, env_extra=env)
    assert status.returncode == 0, status.stderr
    assert "…QRST" in status.stdout and "OS keyring" in status.stdout and KEY not in status.stdout
    other = lantern("auth", "cloud", "--status", backend=BACKEND, env_extra=env)  # the default provider: openai
    assert other.returncode == 0 and "No API key for openai is stored" in other.stdout

    env_status = lantern("auth", "cloud", "--provider", "openrouter", "--status", backend=BACKEND,
                         env_extra={**env, "LANTERN_CLOUD_KEY_OPENROUTER": "sk-fromTheEnvironment9876"})
    assert "LANTERN_CLOUD_KEY_OPENROUTER is set" in env_status.stdout
    assert "sk-fromTheEnvironment9876" not in env_status.stdout

    removed = lantern("auth", "cloud", "--provider", "openrouter", "--remove", backend=BACKEND, env_extra=env)
    assert removed.returncode == 0 and "Removed the stored API key for openrouter" in removed.stdout
    assert json.loads(keyring_file.read_text()) == {}
    again = lantern("auth", "cloud", "--provider", "openrouter", "--remove", backend=BACKEND, env_extra=env)
    assert again.returncode == 0 and "No API key for openrouter was stored" in again.stdout


def test_no_keyring_says_how_to_opt_in_and_the_file_is_private(lantern_home):
    refused = lantern("auth", "cloud", "--stdin", stdin=KEY)
    assert refused.returncode == 1 and "No OS keyring" in refused.stderr
    assert "lantern auth cloud --provider openai --allow-plaintext" in refused.stderr
    assert "LANTERN_CLOUD_KEY_OPENAI" in refused.stderr and "Traceback" not in refused.stderr
    assert not lantern_home.exists() or files_containing(lantern_home, KEY) == []
    stored = lantern("auth", "cloud", "--stdin", "--allow-plaintext", stdin=KEY)
    assert stored.returncode == 0, stored.stderr
    assert files_containing(lantern_home, KEY) == [lantern_home / "secrets.json"]


def test_bad_input_is_refused(lantern_home):
    bad_name = lantern("auth", "cloud", "--provider", "Open AI", "--stdin", "--allow-plaintext", stdin=KEY)
    assert bad_name.returncode == 1 and "not a provider name" in bad_name.stderr and "Hint:" in bad_name.stderr
    for stdin, message in (("", "No API key was given"), ("sk-a\nsk-b\n", "More than one line"),
                           ("sk has space", "contains spaces")):
        proc = lantern("auth", "cloud", "--stdin", "--allow-plaintext", stdin=stdin)
        assert proc.returncode == 1 and message in proc.stderr and "Hint:" in proc.stderr
    assert not (lantern_home / "secrets.json").exists()
    assert lantern("auth", "cloud", KEY).returncode == 2  # never an argument
    helptext = lantern("auth", "cloud", "--help")
    assert helptext.returncode == 0 and "--provider" in helptext.stdout and "LANTERN_CLOUD_KEY_" in helptext.stdout
