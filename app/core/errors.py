"""Errors the user sees.

Every error raised to the user is a LanternError with a plain-language message and, where we know
one, a hint saying what to do. Subclasses also inherit the matching built-in exception, so callers
that only know Python's hierarchy still catch them. Library exceptions are translated once, in the
service that calls the library; the UI never parses message text.
"""

from __future__ import annotations

from typing import Any


class LanternError(Exception):
    """Base of all user-facing errors."""

    def __init__(
        self,
        user_message: str,
        *,
        hint: str | None = None,
        debug_context: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(user_message)
        self.user_message = user_message
        self.hint = hint
        self.debug_context = dict(debug_context or {})

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Subclasses list the built-in first (`class X(ValueError, LanternError)`), which would put
        # the built-in's __init__ (no keyword arguments) ahead of ours in the MRO.
        super().__init_subclass__(**kwargs)
        if "__init__" not in cls.__dict__:
            cls.__init__ = LanternError.__init__  # type: ignore[method-assign]

    def __str__(self) -> str:
        return self.user_message if not self.hint else f"{self.user_message} ({self.hint})"


class InvalidProfile(ValueError, LanternError):
    """A device-profile JSON that cannot be read or does not match the schema."""


class CatalogInvalid(ValueError, LanternError):
    """The model catalog file is missing or does not match its schema."""


class SettingsInvalid(ValueError, LanternError):
    """The settings file cannot be read, migrated or validated."""


class UnknownModel(KeyError, LanternError):
    """A model id that is not in the catalog."""

    def __str__(self) -> str:  # KeyError would otherwise print the repr of the message
        return LanternError.__str__(self)


class OfflineModeEnabled(ConnectionError, LanternError):
    """A network action was requested while offline mode is on."""


class ModelNotInstalled(KeyError, LanternError):
    """A model id that is not in the installed-model registry."""

    def __str__(self) -> str:
        return LanternError.__str__(self)


class AmbiguousModelRef(LookupError, LanternError):
    """What the user typed matches more than one installed model."""


class ModelAlreadyInstalled(ValueError, LanternError):
    """An installed model with this id already exists."""


class InvalidModelId(ValueError, LanternError):
    """A model id with characters ids may not have (ids can come from the user: `--id`)."""


class ModelFileInvalid(ValueError, LanternError):
    """A model file that is not a readable GGUF (wrong magic, truncated, tensors out of bounds)."""


class ChecksumMismatch(ValueError, LanternError):
    """A downloaded or installed file whose size or sha256 differs from what the source published."""


class DownloadFailed(ConnectionError, LanternError):
    """The network or the server failed and retrying did not help."""


class RemoteNotFound(FileNotFoundError, LanternError):
    """The repository, revision or file does not exist on the server."""


class AccessDenied(PermissionError, LanternError):
    """The server refused access: a gated or private repository, or a bad token."""


class DiskFull(OSError, LanternError):
    """Not enough free disk space for the download (checked before, or hit while writing)."""


class SecretStoreUnavailable(RuntimeError, LanternError):
    """No OS keyring backend is available to store a secret."""


class OperationCancelled(Exception):
    """The user cancelled. Not a LanternError: a cancel is never shown as an error."""


class ModelLoadFailed(RuntimeError, LanternError):
    """The inference library could not load a valid model file, even after the fallback plans."""


class PromptTooLong(ValueError, LanternError):
    """The system prompt and the current question alone do not fit in the model's context window."""


class OutputFormatUnsupported(ValueError, LanternError):
    """The backend cannot constrain output the way the request asks (e.g. a grammar on MLX)."""


class BackendUnavailable(RuntimeError, LanternError):
    """The inference runtime a model needs is not installed or cannot run on this machine."""


class InferenceFailed(RuntimeError, LanternError):
    """The runtime failed while generating (not a cancel)."""


class NotEnoughMemory(MemoryError, LanternError):
    """The model does not fit in the free memory, even with the shortest useful context."""


class CourseInvalid(ValueError, LanternError):
    """A course pack or folder that cannot be read: bad manifest, lesson, archive or file."""


class EvalSetInvalid(ValueError, LanternError):
    """The tutoring eval set (resources/eval/*.jsonl) has a line that is not a valid query."""


class CourseNotFound(KeyError, LanternError):
    """No installed course has the given id."""

    def __str__(self) -> str:
        return LanternError.__str__(self)


class IndexNotReady(RuntimeError, LanternError):
    """A course has no usable search index yet (never indexed, or indexed with another embedder)."""


class UnsupportedProcessor(RuntimeError, LanternError):
    """The processor lacks instructions the app's compiled parts were built for."""


# -- cloud models (app.services.inference.cloud_backend translates every SDK error into one of these) --

class CloudModelError(ConnectionError, LanternError):
    """A cloud model could not answer. The router fails over to the on-device model on any of these."""

    __str__ = LanternError.__str__  # not OSError's


class CloudNotConfigured(CloudModelError):
    """No cloud model, provider or API key is set up (or consent says never)."""


class CloudAuthFailed(CloudModelError):
    """The provider refused the API key (401/403)."""


class CloudRateLimited(CloudModelError):
    """The provider said "too many requests" (429); `retry_after_s` is its Retry-After, when it sent one."""

    def __init__(self, user_message: str, *, hint: str | None = None, debug_context: dict[str, Any] | None = None,
                 retry_after_s: float | None = None) -> None:
        LanternError.__init__(self, user_message, hint=hint, debug_context=debug_context)
        self.retry_after_s = retry_after_s


class CloudServerError(CloudModelError):
    """The provider failed (5xx), or its stream broke off mid-answer."""


class CloudUnreachable(CloudModelError):
    """No connection to the provider (DNS, refused, TLS, proxy)."""


class CloudTimeout(TimeoutError, CloudModelError):
    """The provider did not connect, send its first token, keep streaming, or finish in time."""


class CloudContextTooLong(CloudModelError):
    """The prompt is longer than the cloud model's context window."""


class CloudRequestRejected(CloudModelError):
    """The provider rejected the request for another reason (400/404/422: unknown model, bad parameter)."""


# -- progress sync (app.services.sync.client translates every HTTP and server error into one of these) --

class SyncError(ConnectionError, LanternError):
    """Sync with the sync server did not happen. Nothing local is lost: pending changes stay pending."""

    __str__ = LanternError.__str__  # not OSError's

    def __init__(self, user_message: str, *, hint: str | None = None, debug_context: dict[str, Any] | None = None,
                 code: str | None = None, retry_after_s: float | None = None) -> None:
        LanternError.__init__(self, user_message, hint=hint, debug_context=debug_context)
        self.code = code  # the server's error code (app.services.sync.protocol), when it sent one
        self.retry_after_s = retry_after_s

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("__init__") is LanternError.__init__:  # LanternError's hook gave it the plain one
            cls.__init__ = SyncError.__init__  # type: ignore[method-assign]


class SyncNotSignedIn(SyncError):
    """No account on this device (or its sign-in ended): `lantern sync login`."""


class SyncAuthFailed(SyncError):
    """The server refused the password or this device's token (expired, revoked, signed out)."""


class SyncUnreachable(SyncError):
    """No connection to the sync server, a timeout, or a server failure (5xx): worth retrying later."""


class SyncRefused(SyncError):
    """The server refused the request (protocol version, rate limit, invalid data, account exists)."""


class SyncServerInvalid(ValueError, LanternError):
    """A sync server address that cannot be used (not a URL, or plain http to another machine)."""
