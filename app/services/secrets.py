"""Secrets (Hugging Face token, cloud API key, sync token): the OS keyring, or an opt-in private file.

Secrets live in the OS keyring (macOS Keychain, Windows Credential Manager, Secret Service /
KWallet on Linux) under the service name "lantern". Where there is no usable keyring (headless
Linux, a locked keyring) we say so; only when the user opted in (`allow_plaintext`, from
`--allow-plaintext` or the `allow_plaintext_secrets` setting) do we keep them in `secrets.json` in
the config folder, created with mode 0600. Nothing is ever written in plain text silently.

Backends whose priority is below 1 (keyring's "fail" and "null" backends, keyrings.alt's plain-text
and obfuscated files) do not count as a keyring: they are not safe storage.

Any exception from a keyring backend (KeyringError, KeyringLocked, or a D-Bus/OS error a backend lets
through) is translated here into SecretStoreUnavailable, never shown raw.

Reading: the keyring first, then the private file if one exists (a token stored there earlier stays
usable after a keyring appears). Storing in the keyring removes any copy from the file.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import keyring
import keyring.backend
import keyring.errors
from keyring.backends import fail, null

from app.core.errors import SecretStoreUnavailable
from app.core.i18n import N_, _

log = logging.getLogger(__name__)

SERVICE = "lantern"
HF_TOKEN_SECRET = "hf_token"
PLAINTEXT_FILE_NAME = "secrets.json"
_FILE_SCHEMA = "lantern.secrets"
_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]*")

NO_KEYRING_HINT = (
    N_("Install and unlock a keyring (GNOME Keyring or KWallet on Linux), "
       "or set the HF_TOKEN environment variable for this session, "
       "or opt in to keeping it in a private plain-text file with `lantern auth hf --allow-plaintext` "
       "(or allow_plaintext_secrets = true in the settings file).")
)


def mask_secret(value: str) -> str:
    """A hint of which secret this is, never enough to use it: 'hf_…abcd'."""
    if len(value) < 12:
        return "…"
    prefix = value.split("_", 1)[0] + "_" if "_" in value[:8] else ""
    return f"{prefix}…{value[-4:]}"


def _usable_backend() -> tuple[keyring.backend.KeyringBackend | None, str]:
    """The active keyring backend (None if there is none worth storing a secret in) and what it is."""
    try:
        backend = keyring.get_keyring()
        priority = float(backend.priority)
    except Exception as err:  # a backend's priority or init may raise anything (D-Bus, ctypes)
        log.info("No usable keyring backend: %r", err)
        return None, f"keyring failed to start: {err!r}"
    if isinstance(backend, fail.Keyring | null.Keyring) or priority < 1:
        log.info("Keyring backend %s is not a usable keyring", backend)
        return None, str(backend)
    return backend, str(backend)


class SecretStore:
    """Named secrets for Lantern, in the OS keyring or (opt-in) a private file in `config_dir`."""

    def __init__(self, config_dir: Path, *, allow_plaintext: bool) -> None:
        self.config_dir = config_dir
        self.allow_plaintext = allow_plaintext
        self.plaintext_file = config_dir / PLAINTEXT_FILE_NAME
        self._backend: keyring.backend.KeyringBackend | None = None
        self._backend_info = ""
        self._resolved = False
        self._keyring_failure: Exception | None = None

    # --- public -----------------------------------------------------------------------------------

    def set(self, name: str, value: str) -> None:
        """Store `value`; SecretStoreUnavailable if there is no keyring and no opt-in to the file."""
        _check_name(name)
        if not value:
            raise ValueError("refusing to store an empty secret")
        backend = self._keyring()
        if backend is not None:
            try:
                backend.set_password(SERVICE, name, value)
            except Exception as err:  # KeyringError, or a backend's own (D-Bus, OS) error
                self._keyring_failed(err)
            else:
                try:
                    self._file_delete(name)  # no stale plain-text copy once the keyring has it
                except SecretStoreUnavailable as err:
                    log.warning("Stored %s in the keyring but could not clean the secrets file: %s", name, err)
                return
        if not self.allow_plaintext:
            raise self._unavailable()
        secrets = self._file_read()
        secrets[name] = value
        self._file_write(secrets)

    def get(self, name: str) -> str | None:
        """The stored secret, or None if it is stored nowhere we can look."""
        return self._lookup(name)[0]

    def location(self, name: str) -> str | None:
        """Where the secret `name` is stored now, in words, or None if it is not stored."""
        return self._lookup(name)[1]

    def _lookup(self, name: str) -> tuple[str | None, str | None]:
        _check_name(name)
        backend = self._keyring()
        if backend is not None:
            try:
                value = backend.get_password(SERVICE, name)
            except Exception as err:  # KeyringError, or a backend's own (D-Bus, OS) error
                self._keyring_failed(err)
            else:
                if value:
                    return value, self._keyring_description(backend)
        value = self._file_read().get(name)
        if value is not None:
            return value, self._file_description()
        if self._keyring_failure is not None and not self.allow_plaintext:
            # The keyring is there but would not answer (locked?): "not stored" would be a guess.
            raise self._unavailable()
        return None, None

    def delete(self, name: str) -> bool:
        """Remove the secret from the keyring and the private file; True if it was stored."""
        _check_name(name)
        removed = self._file_delete(name)
        backend = self._keyring()
        if backend is not None:
            try:
                if backend.get_password(SERVICE, name) is not None:
                    backend.delete_password(SERVICE, name)
                    removed = True
            except keyring.errors.PasswordDeleteError:
                log.debug("secret %s vanished from the keyring before it could be deleted", name)
            except Exception as err:  # KeyringError, or a backend's own (D-Bus, OS) error
                self._keyring_failed(err)
                raise self._unavailable() from err
        return removed

    def check_available(self) -> None:
        """Raise SecretStoreUnavailable now if `set()` could not store anything (before asking for a token)."""
        if self._keyring() is None and not self.allow_plaintext:
            raise self._unavailable()

    def backend_description(self) -> str:
        """Where `set()` stores secrets, in words for the user."""
        backend = self._keyring()
        if backend is not None:
            return self._keyring_description(backend)
        if self.allow_plaintext:
            return self._file_description()
        return _("nowhere: no OS keyring is available")

    @staticmethod
    def _keyring_description(backend: keyring.backend.KeyringBackend) -> str:
        return _("the OS keyring ({name})").format(name=backend.name)

    def _file_description(self) -> str:
        return _("a plain-text file readable only by you ({plaintext_file})").format(
                 plaintext_file=self.plaintext_file)

    # --- keyring ----------------------------------------------------------------------------------

    def _keyring(self) -> keyring.backend.KeyringBackend | None:
        if not self._resolved:
            (self._backend, self._backend_info), self._resolved = _usable_backend(), True
        return None if self._keyring_failure is not None else self._backend

    def _keyring_failed(self, err: Exception) -> None:
        log.warning("The OS keyring failed: %r", err)
        self._keyring_failure = err

    def _unavailable(self) -> SecretStoreUnavailable:
        if self._keyring_failure is not None:
            message = _("The OS keyring could not be used ({error}); the token cannot be stored safely.").format(
                error=self._keyring_failure)
        else:
            message = _("No OS keyring is available on this machine, so the token cannot be stored safely.")
        return SecretStoreUnavailable(
            message,
            hint=_(NO_KEYRING_HINT),
            debug_context={"keyring": self._backend_info, "error": repr(self._keyring_failure)},
        )

    # --- private file -----------------------------------------------------------------------------

    def _file_read(self) -> dict[str, str]:
        try:
            raw = self.plaintext_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as err:
            raise SecretStoreUnavailable(
                _("The secrets file {plaintext_file} cannot be read ({reason}).").format(
                  plaintext_file=self.plaintext_file, reason=err.strerror or err),
                hint=_("Check that you own the file, or delete it and store the token again with `lantern auth hf`."),
            ) from err
        try:
            data: Any = json.loads(raw)
            secrets = data["secrets"]
            if data.get("schema") != _FILE_SCHEMA or not isinstance(secrets, dict) or not all(
                    isinstance(k, str) and isinstance(v, str) for k, v in secrets.items()):
                raise ValueError("unexpected layout")
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise SecretStoreUnavailable(
                _("The secrets file {plaintext_file} is damaged.").format(plaintext_file=self.plaintext_file),
                hint=_("Delete it and store the token again with `lantern auth hf`."),
            ) from err
        return dict(secrets)

    def _file_write(self, secrets: Mapping[str, str]) -> None:
        """Atomic: a temp file created 0600 in the same folder, then os.replace."""
        if not secrets:
            self.plaintext_file.unlink(missing_ok=True)
            return
        payload = json.dumps({"schema": _FILE_SCHEMA, "version": 1, "secrets": dict(secrets)}, indent=2) + "\n"
        try:
            self.config_dir.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".secrets-", suffix=".json", dir=self.config_dir)  # mode 0600
        except OSError as err:
            raise SecretStoreUnavailable(
                _("The secrets file cannot be created in {config_dir} ({reason}).").format(
                  config_dir=self.config_dir, reason=err.strerror or err),
                hint=_("Check that folder's permissions."),
            ) from err
        try:
            with contextlib.suppress(OSError, AttributeError):  # no fchmod on Windows
                os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.plaintext_file)
        except OSError as err:
            Path(tmp).unlink(missing_ok=True)
            raise SecretStoreUnavailable(
                _("The secrets file {plaintext_file} cannot be written ({reason}).").format(
                  plaintext_file=self.plaintext_file, reason=err.strerror or err),
                hint=_("Check the disk and that folder's permissions."),
            ) from err
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _file_delete(self, name: str) -> bool:
        secrets = self._file_read()
        if name not in secrets:
            return False
        del secrets[name]
        self._file_write(secrets)
        return True


def _check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise ValueError(f"invalid secret name {name!r}")


def hf_token(store: SecretStore | None, environ: Mapping[str, str] = os.environ) -> str | None:
    """The Hugging Face token to send: $HF_TOKEN, else the stored one, else None (public files only).

    The environment wins, as in huggingface_hub, so CI and headless users need not store anything.
    A missing or broken secret store never stops a public download: it just means no token.
    """
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):  # the second is huggingface_hub's old name
        value = environ.get(var, "").strip()
        if value:
            return value
    if store is None:
        return None
    try:
        return store.get(HF_TOKEN_SECRET)
    except SecretStoreUnavailable as err:
        log.info("No stored Hugging Face token: %s", err)
        return None


CLOUD_KEY_PREFIX = "cloud_key."
_PROVIDER = re.compile(r"[a-z0-9][a-z0-9_.-]*")


def cloud_key_secret(provider: str) -> str:
    """The secret name of `provider`'s API key: 'cloud_key.<provider>' (provider names come from the user)."""
    if not isinstance(provider, str) or not _PROVIDER.fullmatch(provider):
        raise ValueError(f"{provider!r} is not a provider name: use lowercase letters, digits, '-', '_' and '.' "
                         "(e.g. openai, openrouter, my-vllm)")
    return CLOUD_KEY_PREFIX + provider


def cloud_key_env_var(provider: str) -> str:
    """LANTERN_CLOUD_KEY_<PROVIDER>: upper case, anything but a letter or digit becomes '_'."""
    cloud_key_secret(provider)  # validates
    return "LANTERN_CLOUD_KEY_" + re.sub(r"[^A-Z0-9]", "_", provider.upper())


def cloud_api_key(store: SecretStore | None, provider: str, environ: Mapping[str, str] = os.environ) -> str | None:
    """The API key for `provider`: $LANTERN_CLOUD_KEY_<PROVIDER>, else the stored one, else None.

    The environment wins (CI, headless machines, a one-off key). A broken secret store means "no key"
    (logged): the router then answers on this device instead of failing the question.
    """
    value = environ.get(cloud_key_env_var(provider), "").strip()
    if value:
        return value
    if store is None:
        return None
    try:
        return store.get(cloud_key_secret(provider))
    except SecretStoreUnavailable as err:
        log.info("No stored API key for %s: %s", provider, err)
        return None
