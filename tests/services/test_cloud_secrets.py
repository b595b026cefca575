"""Cloud API keys: the secret name per provider, and the environment before the store."""

from __future__ import annotations

import logging

import keyring
import pytest
from keyring.backends import fail

from app.services.secrets import SecretStore, cloud_api_key, cloud_key_env_var, cloud_key_secret

KEY = "sk-storedKey0123456789abcdef"


@pytest.fixture(autouse=True)
def no_keyring():
    """keyring's 'fail' backend (a headless machine), so the store is the opt-in file; restored after."""
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(previous)


def test_secret_names_and_env_vars():
    assert cloud_key_secret("openai") == "cloud_key.openai"
    assert cloud_key_secret("my-vllm.local_2") == "cloud_key.my-vllm.local_2"
    assert cloud_key_env_var("openrouter") == "LANTERN_CLOUD_KEY_OPENROUTER"
    assert cloud_key_env_var("my-vllm.local_2") == "LANTERN_CLOUD_KEY_MY_VLLM_LOCAL_2"


@pytest.mark.parametrize("bad", ["", "OpenAI", "-x", "a b", "a/b", "../etc", "é"])
def test_bad_provider_names_are_refused(bad):
    with pytest.raises(ValueError, match="provider name"):
        cloud_key_secret(bad)


def test_the_environment_wins_then_the_store(tmp_path):
    store = SecretStore(tmp_path, allow_plaintext=True)  # the opt-in file: a real store without a keyring
    assert cloud_api_key(store, "openai", environ={}) is None
    store.set(cloud_key_secret("openai"), KEY)
    assert cloud_api_key(store, "openai", environ={}) == KEY
    assert cloud_api_key(store, "openai", environ={"LANTERN_CLOUD_KEY_OPENAI": " sk-fromEnv "}) == "sk-fromEnv"
    assert cloud_api_key(store, "openrouter", environ={"LANTERN_CLOUD_KEY_OPENAI": "sk-fromEnv"}) is None
    assert cloud_api_key(None, "openai", environ={}) is None


def test_a_broken_store_means_no_key(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="app.services.secrets")
    (tmp_path / "secrets.json").write_text("{not json")
    store = SecretStore(tmp_path, allow_plaintext=True)
    assert cloud_api_key(store, "openai", environ={}) is None
    assert any("No stored API key for openai" in r.getMessage() for r in caplog.records)
