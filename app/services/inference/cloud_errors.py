"""Every `openai` SDK / httpx error from a cloud model, translated once into a Lantern error.

The router fails over to the on-device model on any `CloudModelError`, and it reads the subclass
(never the text) to decide whether to retry, cool down (`CloudRateLimited.retry_after_s`) or tell the
learner to fix their key. Messages name the provider and say what to do; the provider's own words
go to `debug_context` only, with the API key scrubbed out (some providers echo part of the key back).

`OfflineModeEnabled` from the network gate is already a Lantern error and passes through unchanged,
also when the SDK wrapped it in an `APIConnectionError`.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from app.core.errors import (
    CloudAuthFailed,
    CloudContextTooLong,
    CloudModelError,
    CloudRateLimited,
    CloudRequestRejected,
    CloudServerError,
    CloudTimeout,
    CloudUnreachable,
    LanternError,
    OfflineModeEnabled,
)
from app.core.i18n import _

if TYPE_CHECKING:
    from app.services.inference.cloud_backend import CloudEndpoint

# What providers say when the prompt does not fit (OpenAI's code, and the wording of OpenAI, vLLM,
# llama.cpp's server, OpenRouter and Ollama).
_CONTEXT_CODES = frozenset({"context_length_exceeded", "string_above_max_length"})
_CONTEXT_WORDS = ("maximum context length", "context length", "context window", "too long", "too many tokens")
_MAX_RETRY_AFTER_S = 24 * 3600.0  # a longer Retry-After is a provider bug; cap what the breaker waits


def scrub(value: Any, secret: str | None) -> Any:
    """`value` with every occurrence of `secret` replaced (strings, and strings inside dicts/lists)."""
    if not secret:
        return value
    if isinstance(value, str):
        return value.replace(secret, "[api key]")
    if isinstance(value, dict):
        return {k: scrub(v, secret) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v, secret) for v in value]
    return value


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), _MAX_RETRY_AFTER_S)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _chain(exc: BaseException) -> str:
    """'APIConnectionError: Connection error. <- RemoteProtocolError: incomplete chunked read', for diagnostics."""
    return " <- ".join(f"{type(e).__name__}: {e}"[:300] for e in _causes(exc))


def _is_stream_break(exc: BaseException) -> bool:
    """httpx's "the body stopped": RemoteProtocolError (incomplete chunked read), ReadError, or
    anything the SDK wrapped around one."""
    import httpx2

    return any(isinstance(e, httpx2.RemoteProtocolError | httpx2.ReadError | httpx2.StreamError)
               for e in _causes(exc))


def _provider_words(exc: BaseException) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        for key in ("message", "detail", "error"):
            value = body.get(key)
            if isinstance(value, dict):
                value = value.get("message")
            if isinstance(value, str):
                return value
    return str(getattr(exc, "message", "") or exc)


def translate_error(exc: BaseException, endpoint: CloudEndpoint, *,
                    partial_text: str | None = None) -> LanternError:
    """The Lantern error for `exc`. `partial_text` is None when no response had started, else the
    answer text received before it broke ("" when the stream broke before any text)."""
    import httpx2
    import openai

    for cause in _causes(exc):
        if isinstance(cause, OfflineModeEnabled):
            return cause
    if isinstance(exc, CloudModelError):
        return exc
    provider = endpoint.provider
    context: dict[str, Any] = {"provider": provider, "base_url": endpoint.base_url, "model": endpoint.model,
                               "error": type(exc).__name__}
    status = getattr(exc, "status_code", None)
    if status is not None:
        context["status"] = status
        context["provider_message"] = _provider_words(exc)[:500]
        context["provider_code"] = getattr(exc, "code", None)
        context["request_id"] = getattr(exc, "request_id", None)

    def done(error: CloudModelError) -> CloudModelError:
        error.debug_context = scrub({**context, **error.debug_context}, endpoint.api_key)
        if exc.__traceback__ is not None:
            error.__cause__ = exc
        return error

    if partial_text is not None and not isinstance(exc, openai.APIStatusError | httpx2.TimeoutException |
                                                   openai.APITimeoutError) and (
            _is_stream_break(exc) or isinstance(exc, openai.APIError)):
        return done(CloudServerError(
            _("The answer from {provider} broke off before it was finished.").format(provider=provider),
            hint=_("Try again; if it keeps happening, the provider may be having trouble."),
            debug_context={"partial_output": bool(partial_text), "partial_text_chars": len(partial_text),
                           "cause": scrub(_chain(exc), endpoint.api_key)}))
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError) or status in (401, 403):
        return done(CloudAuthFailed(
            _("{provider} refused the API key.").format(provider=provider),
            hint=_("Store a valid key with `lantern auth cloud --provider {provider}`.").format(provider=provider)))
    if isinstance(exc, openai.RateLimitError) or status == 429:
        response = getattr(exc, "response", None)
        headers = response.headers if response is not None else {}
        retry_after = parse_retry_after(headers.get("retry-after"))
        if retry_after is None and headers.get("retry-after-ms"):
            ms = parse_retry_after(headers.get("retry-after-ms"))
            retry_after = None if ms is None else ms / 1000.0
        context["retry_after_s"] = retry_after
        if retry_after is not None:
            hint = _("Lantern will try {provider} again in {seconds:.0f} s; until then it answers on this device."
                     ).format(provider=provider, seconds=retry_after)
        else:
            hint = _("Wait a minute before asking {provider} again, or check your plan's limits.").format(
                provider=provider)
        error = CloudRateLimited(_("{provider} says there are too many requests right now.").format(
                                 provider=provider), hint=hint, retry_after_s=retry_after)
        return done(error)
    if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException):
        return done(CloudTimeout(
            _("{provider} did not answer in time.").format(provider=provider),
            hint=_("Check your connection, or try again later.")))
    if isinstance(exc, openai.APIConnectionError | httpx2.TransportError):
        return done(CloudUnreachable(
            _("Lantern could not connect to {provider} ({base_url}).").format(provider=provider,
                                                                               base_url=endpoint.base_url),
            hint=_("Check your internet connection, a proxy setting, or the provider's address in the settings.")))
    if isinstance(exc, openai.InternalServerError) or (status is not None and status >= 500):
        return done(CloudServerError(
            _("{provider} had a problem answering (error {status}).").format(provider=provider, status=status),
            hint=_("Try again in a moment; Lantern answers on this device meanwhile.")))
    if status is not None and 400 <= status < 500:
        words = _provider_words(exc).lower()
        if status in (400, 413, 422) and (getattr(exc, "code", None) in _CONTEXT_CODES
                                          or any(w in words for w in _CONTEXT_WORDS)):
            return done(CloudContextTooLong(
                _("The question and its course material are too long for {provider}'s model {model}.").format(
                  provider=provider, model=endpoint.model),
                hint=_("Ask a shorter question, or pick a cloud model with a longer context window.")))
        return done(CloudRequestRejected(
            _("{provider} rejected the request (error {status}).").format(provider=provider, status=status),
            hint=_("Check the cloud model name '{model}' and the provider settings.").format(model=endpoint.model)))
    return done(CloudServerError(
        _("Something went wrong while talking to {provider}.").format(provider=provider),
        hint=_("Try again; if it keeps happening, run with --debug and report the diagnostics."),
        debug_context={"cause": scrub(_chain(exc), endpoint.api_key)}))
