"""The secret store against real keyring backends: an in-memory one, and keyring's own 'fail' backend."""

from __future__ import annotations

import json
import os
import stat
import sys

import keyring
import keyring.backend
import keyring.errors
import pytest
from keyring.backends import fail, null

from app.core.errors import LanternError, SecretStoreUnavailable
from app.services.secrets import HF_TOKEN_SECRET, SERVICE, SecretStore, hf_token, mask_secret

TOKEN = "hf_abcdefghijklmnopqrstuvwxyzABCDEFGH"


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A real keyring backend that keeps passwords in a dict."""

    priority = 5  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.passwords: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.passwords.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.passwords[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        try:
            del self.passwords[(service, username)]
        except KeyError:
            raise keyring.errors.PasswordDeleteError("not found") from None


class LockedKeyring(MemoryKeyring):
    """Present, but every call fails the way a locked GNOME Keyring does when the prompt is dismissed."""

    def get_password(self, service: str, username: str, *_: object) -> str | None:
        raise keyring.errors.KeyringLocked("Failed to unlock the collection!")

    set_password = delete_password = get_password  # type: ignore[assignment]


class LowPriorityKeyring(MemoryKeyring):
    """Like keyrings.alt's plain-text file backend: works, but priority < 1 means it is not safe storage."""

    priority = 0.5  # type: ignore[assignment]


@pytest.fixture(autouse=True)
def restore_keyring():
    previous = keyring.get_keyring()
    yield
    keyring.set_keyring(previous)


@pytest.fixture
def memory_keyring():
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    return backend


def test_keyring_set_get_delete(memory_keyring, tmp_path):
    store = SecretStore(tmp_path, allow_plaintext=False)
    assert store.get(HF_TOKEN_SECRET) is None
    store.set(HF_TOKEN_SECRET, TOKEN)
    assert memory_keyring.passwords == {(SERVICE, "hf_token"): TOKEN}
    assert store.get(HF_TOKEN_SECRET) == TOKEN
    assert SecretStore(tmp_path, allow_plaintext=False).get(HF_TOKEN_SECRET) == TOKEN  # a later session
    assert "OS keyring" in store.backend_description() and "MemoryKeyring" in store.backend_description()
    assert "OS keyring" in store.location(HF_TOKEN_SECRET)
    assert store.delete(HF_TOKEN_SECRET) is True
    assert store.delete(HF_TOKEN_SECRET) is False
    assert store.get(HF_TOKEN_SECRET) is None and store.location(HF_TOKEN_SECRET) is None
    assert list(tmp_path.iterdir()) == []  # nothing on disk, ever


@pytest.mark.parametrize("backend", [fail.Keyring(), null.Keyring(), LowPriorityKeyring()],
                         ids=["fail", "null", "priority<1"])
def test_no_keyring_without_opt_in_is_a_clear_error(backend, tmp_path):
    keyring.set_keyring(backend)
    store = SecretStore(tmp_path, allow_plaintext=False)
    with pytest.raises(SecretStoreUnavailable) as info:
        store.set(HF_TOKEN_SECRET, TOKEN)
    err = info.value
    assert isinstance(err, LanternError) and isinstance(err, RuntimeError)
    assert "No OS keyring" in err.user_message
    for option in ("GNOME Keyring", "KWallet", "HF_TOKEN", "--allow-plaintext", "allow_plaintext_secrets"):
        assert option in err.hint
    with pytest.raises(SecretStoreUnavailable):
        store.check_available()
    assert list(tmp_path.iterdir()) == []  # no silent plain-text file
    assert store.get(HF_TOKEN_SECRET) is None  # nothing can be stored, so nothing is
    assert store.delete(HF_TOKEN_SECRET) is False
    assert "no OS keyring" in store.backend_description()
    if isinstance(backend, LowPriorityKeyring):
        assert backend.passwords == {}


def test_a_keyring_that_fails_at_runtime(tmp_path):
    keyring.set_keyring(LockedKeyring())
    store = SecretStore(tmp_path, allow_plaintext=False)
    with pytest.raises(SecretStoreUnavailable) as info:
        store.set(HF_TOKEN_SECRET, TOKEN)
    assert "could not be used" in info.value.user_message and "unlock" in info.value.hint
    with pytest.raises(SecretStoreUnavailable):  # "not stored" would be a guess
        SecretStore(tmp_path, allow_plaintext=False).get(HF_TOKEN_SECRET)
    assert list(tmp_path.iterdir()) == []
    opted_in = SecretStore(tmp_path, allow_plaintext=True)
    opted_in.set(HF_TOKEN_SECRET, TOKEN)
    assert opted_in.get(HF_TOKEN_SECRET) == TOKEN and "plain-text file" in opted_in.backend_description()


def test_plaintext_opt_in_file_is_private_and_round_trips(tmp_path):
    keyring.set_keyring(fail.Keyring())
    config_dir = tmp_path / "config"
    store = SecretStore(config_dir, allow_plaintext=True)
    store.check_available()
    store.set(HF_TOKEN_SECRET, TOKEN)
    store.set("sync_token", "s3cret-sync-value")
    path = config_dir / "secrets.json"
    assert path.exists()
    if sys.platform != "win32":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["secrets"] == {"hf_token": TOKEN, "sync_token": "s3cret-sync-value"}
    assert [p.name for p in config_dir.iterdir()] == ["secrets.json"]  # no temp files left
    assert "plain-text file" in store.backend_description() and str(path) in store.backend_description()
    again = SecretStore(config_dir, allow_plaintext=True)
    assert again.get(HF_TOKEN_SECRET) == TOKEN and again.location(HF_TOKEN_SECRET) == store.backend_description()
    # a file stored earlier is still read without the opt-in (reading writes nothing)
    assert SecretStore(config_dir, allow_plaintext=False).get(HF_TOKEN_SECRET) == TOKEN
    assert again.delete(HF_TOKEN_SECRET) is True
    assert again.get(HF_TOKEN_SECRET) is None and again.get("sync_token") == "s3cret-sync-value"
    assert again.delete("sync_token") is True
    assert not path.exists()


def test_storing_in_a_keyring_removes_the_plaintext_copy(tmp_path):
    keyring.set_keyring(fail.Keyring())
    SecretStore(tmp_path, allow_plaintext=True).set(HF_TOKEN_SECRET, "hf_old_token_value_0000")
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    store = SecretStore(tmp_path, allow_plaintext=True)
    assert store.get(HF_TOKEN_SECRET) == "hf_old_token_value_0000"
    assert "plain-text" in store.location(HF_TOKEN_SECRET)
    store.set(HF_TOKEN_SECRET, TOKEN)
    assert backend.passwords[(SERVICE, "hf_token")] == TOKEN
    assert not (tmp_path / "secrets.json").exists()


def test_damaged_secrets_file(tmp_path):
    keyring.set_keyring(fail.Keyring())
    (tmp_path / "secrets.json").write_text("{not json")
    store = SecretStore(tmp_path, allow_plaintext=True)
    with pytest.raises(SecretStoreUnavailable) as info:
        store.get(HF_TOKEN_SECRET)
    assert "damaged" in info.value.user_message and info.value.hint
    assert hf_token(store, environ={}) is None  # a broken store never breaks public downloads


def test_hf_token_order(memory_keyring, tmp_path):
    store = SecretStore(tmp_path, allow_plaintext=False)
    assert hf_token(store, environ={}) is None
    assert hf_token(None, environ={}) is None
    store.set(HF_TOKEN_SECRET, TOKEN)
    assert hf_token(store, environ={}) == TOKEN
    assert hf_token(store, environ={"HF_TOKEN": " hf_from_env \n"}) == "hf_from_env"  # env wins
    assert hf_token(store, environ={"HF_TOKEN": ""}) == TOKEN
    assert hf_token(store, environ={"HUGGING_FACE_HUB_TOKEN": "hf_old_name"}) == "hf_old_name"
    assert hf_token(None, environ={"HF_TOKEN": "hf_from_env"}) == "hf_from_env"


def test_hf_token_without_any_keyring(tmp_path, monkeypatch):
    keyring.set_keyring(fail.Keyring())
    store = SecretStore(tmp_path, allow_plaintext=False)
    assert hf_token(store, environ={}) is None
    assert hf_token(store, environ={"HF_TOKEN": "hf_env"}) == "hf_env"
    monkeypatch.setenv("HF_TOKEN", "hf_default_environ")
    assert hf_token(store) == "hf_default_environ"
    assert not os.listdir(tmp_path)


def test_mask_secret():
    assert mask_secret(TOKEN) == "hf_…EFGH"
    assert mask_secret("sk-proj-abcdefghijklmnop") == "…mnop"
    assert mask_secret("short") == "…"
    assert TOKEN[4:-4] not in mask_secret(TOKEN)


def test_names_and_values_are_checked(memory_keyring, tmp_path):
    store = SecretStore(tmp_path, allow_plaintext=False)
    with pytest.raises(ValueError):
        store.set("", TOKEN)
    with pytest.raises(ValueError):
        store.set(HF_TOKEN_SECRET, "")
