"""`lantern auth hf` end to end, as a real subprocess with a chosen keyring backend.

PYTHON_KEYRING_BACKEND picks the backend in the child: keyring's own 'fail' backend is a headless
machine without a keyring; JsonFileKeyring below is a working keyring (kept in a test file so the
child process can use it; the child imports this module by name).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import keyring.backend
import keyring.errors
import pytest

LANTERN = [sys.executable, "-m", "app"]
ROOT = Path(__file__).resolve().parents[2]
TOKEN = "hf_e2eTokenValue0123456789abcdefWXYZ"
NO_KEYRING = "keyring.backends.fail.Keyring"


class JsonFileKeyring(keyring.backend.KeyringBackend):
    """A working keyring backend for the child process, stored in $LANTERN_TEST_KEYRING_FILE."""

    priority = 5  # type: ignore[assignment]

    @property
    def _file(self) -> Path:
        return Path(os.environ["LANTERN_TEST_KEYRING_FILE"])

    def _load(self) -> dict[str, str]:
        return json.loads(self._file.read_text()) if self._file.exists() else {}

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service}/{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        self._file.write_text(json.dumps({**self._load(), f"{service}/{username}": password}))

    def delete_password(self, service: str, username: str) -> None:
        data = self._load()
        if data.pop(f"{service}/{username}", None) is None:
            raise keyring.errors.PasswordDeleteError("not found")
        self._file.write_text(json.dumps(data))


def lantern(*args: str, stdin: str = "", backend: str = NO_KEYRING,
            env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")}
    env.update({"PYTHON_KEYRING_BACKEND": backend, **(env_extra or {})})
    return subprocess.run([*LANTERN, *args], input=stdin, capture_output=True, text=True, timeout=120,
                          cwd=ROOT, env=env)


def files_containing(folder: Path, secret: str) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


def test_no_keyring_is_a_clear_error_and_stores_nothing(lantern_home):
    proc = lantern("auth", "hf", "--stdin", stdin=TOKEN + "\n")
    assert proc.returncode == 1, proc.stderr
    assert "Error: No OS keyring is available" in proc.stderr
    assert "Hint:" in proc.stderr and "--allow-plaintext" in proc.stderr and "HF_TOKEN" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert TOKEN not in proc.stdout + proc.stderr
    assert not (lantern_home / "secrets.json").exists()
    assert not lantern_home.exists() or files_containing(lantern_home, TOKEN) == []


def test_plaintext_opt_in_store_status_remove(lantern_home):
    stored = lantern("auth", "hf", "--stdin", "--allow-plaintext", stdin=TOKEN + "\n")
    assert stored.returncode == 0, stored.stderr
    secrets = lantern_home / "secrets.json"
    assert "plain-text file" in stored.stdout and str(secrets) in stored.stdout
    assert TOKEN not in stored.stdout + stored.stderr
    if sys.platform != "win32":
        assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    assert files_containing(lantern_home, TOKEN) == [secrets]

    status = lantern("auth", "hf", "--status")  # reading needs no opt-in
    assert status.returncode == 0, status.stderr
    assert "hf_…WXYZ" in status.stdout and "plain-text file" in status.stdout
    assert TOKEN not in status.stdout + status.stderr

    env_status = lantern("auth", "hf", "--status", env_extra={"HF_TOKEN": "hf_fromTheEnvironment9876"})
    assert "HF_TOKEN is set" in env_status.stdout and "hf_fromTheEnvironment9876" not in env_status.stdout

    removed = lantern("auth", "hf", "--remove")
    assert removed.returncode == 0 and "Removed" in removed.stdout
    assert not secrets.exists()
    after = lantern("auth", "hf", "--status")
    assert after.returncode == 0 and "No Hugging Face token is stored" in after.stdout
    again = lantern("auth", "hf", "--remove")
    assert again.returncode == 0 and "No Hugging Face token was stored" in again.stdout


def test_the_setting_is_an_opt_in_too(lantern_home):
    proc = lantern("auth", "hf", "--stdin", stdin=TOKEN, env_extra={"LANTERN_ALLOW_PLAINTEXT_SECRETS": "true"})
    assert proc.returncode == 0, proc.stderr
    assert (lantern_home / "secrets.json").exists()


def test_a_real_keyring_backend_keeps_it_off_disk(lantern_home, tmp_path):
    keyring_file = tmp_path / "keyring.json"
    backend = f"{__name__}.JsonFileKeyring"
    env = {"LANTERN_TEST_KEYRING_FILE": str(keyring_file)}
    proc = lantern("auth", "hf", "--stdin", stdin=TOKEN, backend=backend, env_extra=env)
    assert proc.returncode == 0, proc.stderr
    assert "OS keyring" in proc.stdout and "JsonFileKeyring" in proc.stdout
    assert json.loads(keyring_file.read_text()) == {"lantern/hf_token": TOKEN}
    assert files_containing(lantern_home, TOKEN) == []
    status = lantern("auth", "hf", "--status", backend=backend, env_extra=env)
    assert "OS keyring" in status.stdout and "hf_…WXYZ" in status.stdout and TOKEN not in status.stdout
    assert lantern("auth", "hf", "--remove", backend=backend, env_extra=env).returncode == 0
    assert json.loads(keyring_file.read_text()) == {}


@pytest.mark.parametrize(("stdin", "message"), [
    ("", "No token was given"),
    ("   \n", "No token was given"),
    ("hf_one\nhf_two\n", "More than one line"),
    ("hf_has a space", "contains spaces"),
])
def test_bad_input_is_refused(lantern_home, stdin, message):
    proc = lantern("auth", "hf", "--stdin", "--allow-plaintext", stdin=stdin)
    assert proc.returncode == 1 and message in proc.stderr and "Hint:" in proc.stderr
    assert not (lantern_home / "secrets.json").exists()


def test_without_a_terminal_it_asks_for_stdin(lantern_home):
    proc = lantern("auth", "hf", "--allow-plaintext", stdin=TOKEN)
    assert proc.returncode == 1 and "--stdin" in proc.stderr
    assert not (lantern_home / "secrets.json").exists()


def test_the_token_is_never_an_argument():
    assert lantern("auth", "hf", TOKEN).returncode == 2
    assert lantern("auth").returncode == 2  # a subcommand is required
    helptext = lantern("auth", "hf", "--help")
    assert helptext.returncode == 0 and "--stdin" in helptext.stdout and "HF_TOKEN" in helptext.stdout
