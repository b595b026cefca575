"""Talking to the Hugging Face Hub (or any server that speaks its API, e.g. HF_ENDPOINT).

huggingface_hub builds the URLs, reads the endpoint and the token, and parses file metadata
(commit, size, LFS sha256) and repository listings. Its errors are translated here, once, into
LanternErrors with a hint. Every request goes through the network gate (app/services/net.py): in
offline mode every method refuses first, by name, and huggingface_hub's own client is the gate's, so
nothing it does can open a socket to the network while offline mode is on.
"""

from __future__ import annotations

import logging
import os
import ssl
import time
from collections.abc import Callable, Iterable
from fnmatch import fnmatch
from typing import TypeVar
from urllib.parse import urlsplit

import httpx2
from huggingface_hub import HfApi, constants, get_hf_file_metadata, hf_hub_url
from huggingface_hub import errors as hf_errors

from app import __version__
from app.core.downloads import RETRY_STATUSES, RemoteFile, RetryPolicy
from app.core.errors import (
    AccessDenied,
    DownloadFailed,
    LanternError,
    OperationCancelled,
    RemoteNotFound,
)
from app.core.i18n import _
from app.services.net import NetworkGate, offline_refusal

log = logging.getLogger(__name__)
T = TypeVar("T")

# Files of an MLX model snapshot; everything else in such a repo (READMEs, images, other formats) is skipped.
MLX_PATTERNS = ("*.safetensors", "*.json", "tokenizer.model", "*.tiktoken", "*.txt", "*.jinja", "*.py")


def default_endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


__all__ = ["MLX_PATTERNS", "HubClient", "default_endpoint", "offline_refusal", "translate_hub_error"]


class HubClient:
    """Metadata and listings from the hub, with retries and plain-language errors. Offline mode is the
    gate's, read live: toggling it needs no new client."""

    def __init__(self, *, gate: NetworkGate, token: str | None = None, endpoint: str | None = None,
                 timeout_s: float = 15.0, retry: RetryPolicy | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.gate = gate
        self.token = token
        self.endpoint = (endpoint or default_endpoint()).rstrip("/")
        self.timeout_s = timeout_s
        self.retry = retry or RetryPolicy()
        self._sleep = sleep

    # -- public API -------------------------------------------------------------------------------

    def file_metadata(self, repo_id: str, filename: str, *, revision: str = "main",
                      attempts: int | None = None) -> RemoteFile:
        """Resolve `revision` to a commit and learn the file's size and hash without downloading it."""
        self.refuse_if_offline(f"'{filename}' from {repo_id}")
        url = hf_hub_url(repo_id, filename, revision=revision, endpoint=self.endpoint)
        meta = self._with_retries(
            lambda: get_hf_file_metadata(url, token=self._token_arg(), timeout=self.timeout_s, endpoint=self.endpoint,
                                         library_name="Lantern", library_version=__version__),
            what=f"'{filename}' in {repo_id}", attempts=attempts)
        if meta.commit_hash is None or meta.etag is None or meta.size is None:
            raise DownloadFailed(
                _("The server did not say which version of '{filename}' it has (no commit, size or etag).").format(
                  filename=filename),
                hint=_("The server may not be a Hugging Face Hub; check HF_ENDPOINT."),
                debug_context={"url": url, "metadata": repr(meta)})
        is_lfs = len(meta.etag) == 64  # LFS etags are the sha256; small files carry their git blob sha1
        return RemoteFile(
            repo_id=repo_id, filename=filename, commit=meta.commit_hash,
            url=hf_hub_url(repo_id, filename, revision=meta.commit_hash, endpoint=self.endpoint),
            size=meta.size, etag=meta.etag, sha256=meta.etag if is_lfs else None,
            git_sha1=None if is_lfs else meta.etag, location=meta.location)

    def list_files(self, repo_id: str, *, revision: str = "main",
                   patterns: Iterable[str] = ("*",)) -> list[RemoteFile]:
        """Every file of a repository at one commit, with sizes and hashes (for MLX snapshots and listings)."""
        self.refuse_if_offline(repo_id)
        api = HfApi(endpoint=self.endpoint, token=self._token_arg(), library_name="Lantern",
                    library_version=__version__)
        info = self._with_retries(
            lambda: api.model_info(repo_id, revision=revision, files_metadata=True, timeout=self.timeout_s),
            what=repo_id)
        if info.sha is None:
            raise DownloadFailed(_("The server did not say which commit {repo_id} is at.").format(repo_id=repo_id),
                                 hint=_("Try again later; check HF_ENDPOINT."))
        wanted = tuple(patterns)
        files = []
        for s in info.siblings or []:
            if not any(fnmatch(s.rfilename, p) for p in wanted):
                continue
            if not safe_relative_path(s.rfilename):  # names come from the server: never write outside the folder
                raise DownloadFailed(_("{repo_id} lists a file with an unsafe name ({rfilename!r}); nothing was "
                                       "downloaded.").format(
                                       repo_id=repo_id, rfilename=s.rfilename),
                                     hint=_("Report the repository; choose another model."))
            if s.size is None:
                raise DownloadFailed(_("The server did not give the size of '{rfilename}' in {repo_id}.").format(
                                       rfilename=s.rfilename, repo_id=repo_id),
                                     hint=_("Try again later."))
            sha256 = s.lfs.sha256 if s.lfs is not None else None
            etag = sha256 or s.blob_id or ""
            files.append(RemoteFile(
                repo_id=repo_id, filename=s.rfilename, commit=info.sha,
                url=hf_hub_url(repo_id, s.rfilename, revision=info.sha, endpoint=self.endpoint),
                size=s.size, etag=etag, sha256=sha256, git_sha1=None if sha256 else s.blob_id))
        return files

    def refresh(self, remote: RemoteFile, *, attempts: int | None = None) -> RemoteFile:
        """Fresh metadata for the same commit (a new signed CDN location; detects a changed file)."""
        return self.file_metadata(remote.repo_id, remote.filename, revision=remote.commit, attempts=attempts)

    def latest(self, remote: RemoteFile, *, revision: str) -> RemoteFile:
        return self.file_metadata(remote.repo_id, remote.filename, revision=revision)

    def auth_headers(self, url: str) -> dict[str, str]:
        """The token goes only to the hub itself, never to a CDN host (those URLs are signed)."""
        token = self._token_value()
        if token and urlsplit(url).netloc == urlsplit(self.endpoint).netloc:
            return {"Authorization": f"Bearer {token}"}
        return {}

    @property
    def offline(self) -> bool:
        return self.gate.offline

    def refuse_if_offline(self, what: str) -> None:
        """Downloads are refused in offline mode wherever the hub is (a loopback test hub too): the
        setting means "no downloads", and the message names what was refused."""
        self.gate.refuse_if_offline(what)

    # -- internals --------------------------------------------------------------------------------

    def _token_value(self) -> str | None:
        if self.token:
            return self.token
        from huggingface_hub import get_token

        return get_token()

    def _token_arg(self) -> str | None:
        return self.token or None  # None: huggingface_hub's own lookup (HF_TOKEN, `hf auth login`)

    def _with_retries(self, call: Callable[[], T], *, what: str, attempts: int | None = None) -> T:
        limit = attempts or self.retry.max_attempts
        attempt = 0
        while True:
            try:
                with self.gate.huggingface_hub():
                    return call()
            except Exception as exc:  # translated below; unknown kinds are re-raised untouched
                retry_after = retryable(exc)
                if retry_after is None:
                    raise translate_hub_error(exc, what=what, endpoint=self.endpoint) from exc
                attempt += 1
                if attempt >= limit:
                    raise translate_hub_error(exc, what=what, endpoint=self.endpoint) from exc
                delay = self.retry.delay(attempt, retry_after_s=retry_after if retry_after > 0 else None)
                log.info("hub request for %s failed (%s); retry %d in %.1fs", what, exc, attempt, delay)
                self._sleep(delay)


def safe_relative_path(name: str) -> bool:
    parts = name.replace("\\", "/").split("/")
    return bool(name) and not name.startswith(("/", "\\")) and ":" not in parts[0] and \
        all(p not in ("", ".", "..") for p in parts)


def status_of(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def retry_after_of(headers: httpx2.Headers | dict[str, str] | None) -> float:
    value = (headers or {}).get("Retry-After")
    try:
        return max(0.0, float(value)) if value else 0.0
    except ValueError:
        return 0.0


def retryable(exc: BaseException) -> float | None:
    """None when retrying cannot help; otherwise the server's Retry-After (0 = use our backoff)."""
    if isinstance(exc, (httpx2.TimeoutException, httpx2.NetworkError, httpx2.RemoteProtocolError)):
        return None if is_tls_error(exc) else 0.0
    status = status_of(exc)
    if status in RETRY_STATUSES:
        return retry_after_of(getattr(getattr(exc, "response", None), "headers", None))
    return None


def is_tls_error(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError) or "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def translate_hub_error(exc: BaseException, *, what: str, endpoint: str) -> BaseException:
    """One place that turns huggingface_hub / httpx2 exceptions into errors a learner can act on."""
    if isinstance(exc, (LanternError, OperationCancelled)):
        return exc
    ctx = {"error": repr(exc), "endpoint": endpoint}
    status = status_of(exc)
    if isinstance(exc, hf_errors.GatedRepoError) or status in (401, 403):
        return AccessDenied(
            _("The server refused access to {what}: the model is gated or private, or the saved token is not "
              "valid.").format(what=what),
            hint=_("Open the model's page on Hugging Face, accept its licence with your account, then store an "
                   "access token with `lantern auth hf` (or set HF_TOKEN)."), debug_context=ctx)
    if isinstance(exc, hf_errors.RevisionNotFoundError):
        return RemoteNotFound(_("That revision of {what} does not exist.").format(what=what),
                              hint=_("Check the branch, tag or commit name, or leave it out to use 'main'."),
                              debug_context=ctx)
    if isinstance(exc, hf_errors.RemoteEntryNotFoundError):
        return RemoteNotFound(_("There is no file {what} on the server.").format(what=what),
                              hint=_("Check the file name (case matters) on the model's 'Files' page."),
                              debug_context=ctx)
    if isinstance(exc, hf_errors.RepositoryNotFoundError) or status == 404:
        return RemoteNotFound(_("The repository for {what} was not found.").format(what=what),
                              hint=_("Check the spelling (owner/name). A private repository also looks like this "
                                     "without a token: `lantern auth hf`."), debug_context=ctx)
    if is_tls_error(exc):
        return DownloadFailed(
            _("The secure connection to {netloc} could not be verified, so nothing was downloaded.").format(
              netloc=urlsplit(endpoint).netloc),
            hint=_("Lantern never turns certificate checks off. Behind a company proxy, install its root certificate "
                   "in the system's certificate store (or point SSL_CERT_FILE at it)."), debug_context=ctx)
    if status == 429:
        return DownloadFailed(_("The server is limiting requests and kept refusing {what}.").format(what=what),
                              hint=_("Wait a few minutes and run the same command again; a token "
                                     "(`lantern auth hf`) raises the limit."), debug_context=ctx)
    if status is not None and status >= 500:
        return DownloadFailed(_("The server had an error ({status}) while sending {what}, and retrying did not "
                                "help.").format(status=status, what=what),
                              hint=_("Try again later; the partial download is kept and resumes."), debug_context=ctx)
    if isinstance(exc, (httpx2.TimeoutException, httpx2.NetworkError, httpx2.RemoteProtocolError,
                        httpx2.ProxyError)):
        return DownloadFailed(_("The connection failed while fetching {what}.").format(what=what),
                              hint=_("Check your internet connection (and HTTPS_PROXY if you use a proxy), then run "
                                     "the same command again; the download resumes where it stopped."),
                              debug_context=ctx)
    if isinstance(exc, hf_errors.HfHubHTTPError):
        return DownloadFailed(_("The server refused {what} ({status}).").format(
                                what=what, status=status), hint=_("Try again later."), debug_context=ctx)
    return exc
