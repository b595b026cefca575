"""The resumable, verified transfer of one file.

Why hand-written: huggingface_hub's downloader no longer resumes across calls (an interrupted
download starts again from zero), and a learner's first model is gigabytes on a flaky connection.
So the bytes go into `<models>/.partial/<key>.part` with a JSON sidecar (URL, commit, expected size
and hashes, bytes done), checkpointed with fsync, and a later run — after a pause, a dropped
connection, a crash or an app restart — continues with an HTTP Range request from the checkpoint.
Hashes are computed while writing; only a file whose size and sha256 (or git blob sha1, for small
files) match what the server published is moved into place, atomically.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import queue
import re
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2
from filelock import FileLock, Timeout

from app.core.downloads import DownloadPaused, RemoteFile, RetryPolicy, disk_shortfall, human_bytes
from app.core.errors import (
    ChecksumMismatch,
    DiskFull,
    DownloadFailed,
    LanternError,
    OfflineModeEnabled,
    OperationCancelled,
)
from app.core.i18n import _
from app.services.downloads.hub import HubClient, retry_after_of, retryable, translate_hub_error
from app.services.hashing import file_sha256
from app.services.net import NetworkGate

log = logging.getLogger(__name__)

SIDECAR_VERSION = 1
PARTIAL_DIR_NAME = ".partial"


@dataclass(frozen=True)
class TransferTuning:
    chunk_bytes: int = 1 << 20
    # After a crash at most max(checkpoint_bytes, checkpoint_interval_s of transfer) is fetched again.
    # The interval keeps fsync from capping a fast (LAN, loopback) download at the disk's flush rate.
    checkpoint_bytes: int = 16 << 20
    checkpoint_interval_s: float = 1.0
    stall_timeout_s: float = 30.0      # no byte for this long = a stalled connection: reconnect and resume
    connect_timeout_s: float = 15.0


def make_http_client(gate: NetworkGate, tuning: TransferTuning) -> httpx2.Client:
    """The gate's client (offline mode, TLS on, proxies from the environment, User-Agent) with the
    transfer's timeouts: a read timeout is how a stalled connection is noticed."""
    return gate.http_client(
        follow_redirects=True,
        timeout=httpx2.Timeout(connect=tuning.connect_timeout_s, read=tuning.stall_timeout_s,
                               write=tuning.stall_timeout_s, pool=tuning.connect_timeout_s))


class TransferControl:
    """Pause/cancel flags a worker checks between chunks; waits (backoff) end early when one is set."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._action: str | None = None

    def pause(self) -> None:
        self._action = self._action or "pause"
        self._event.set()

    def cancel(self) -> None:
        self._action = "cancel"
        self._event.set()

    def clear(self) -> None:
        self._action = None
        self._event.clear()

    @property
    def requested(self) -> str | None:
        return self._action

    def check(self) -> None:
        if self._action == "cancel":
            raise OperationCancelled()
        if self._action == "pause":
            raise DownloadPaused()

    def wait(self, seconds: float) -> None:
        self._event.wait(seconds)
        self.check()


@dataclass
class Sidecar:
    source_ref: str
    url: str
    commit: str
    size: int
    etag: str
    sha256: str | None
    git_sha1: str | None
    bytes_done: int
    version: int = SIDECAR_VERSION

    @classmethod
    def for_remote(cls, remote: RemoteFile) -> Sidecar:
        return cls(remote.source_ref, remote.url, remote.commit, remote.size, remote.etag, remote.sha256,
                   remote.git_sha1, 0)

    def same_content(self, remote: RemoteFile) -> bool:
        return (self.size, self.etag, self.sha256, self.git_sha1) == (remote.size, remote.etag, remote.sha256,
                                                                       remote.git_sha1)

    @classmethod
    def load(cls, path: Path) -> Sidecar | None:
        """None for a missing or unreadable sidecar: the partial file is then not trusted."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or data.get("version") != SIDECAR_VERSION:
                return None
            return cls(**data)
        except (OSError, ValueError, TypeError):
            return None

    def save(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(asdict(self)), encoding="utf-8")
        os.replace(tmp, path)


class _Digest:
    """sha256 for LFS files; for small files the git blob sha1, which is all the server publishes."""

    def __init__(self, remote: RemoteFile) -> None:
        self.remote = remote
        self.kind = "sha256" if remote.sha256 else "git-sha1"
        self.expected = remote.sha256 or remote.git_sha1
        self.reset()

    def reset(self) -> None:
        self.h = hashlib.sha256() if self.remote.sha256 else hashlib.sha1()
        if not self.remote.sha256:
            self.h.update(b"blob %d\0" % self.remote.size)

    def update(self, data: bytes | memoryview) -> None:
        self.h.update(data)

    def hexdigest(self) -> str:
        return self.h.hexdigest()


class _Restart(Exception):
    """The server's answer means the partial bytes cannot be continued; start from zero."""


class _RetryableStatus(Exception):
    def __init__(self, status: int, retry_after: float) -> None:
        super().__init__(f"HTTP {status}")
        self.status, self.retry_after = status, retry_after


def partial_key(remote: RemoteFile) -> str:
    """Stable per repo+file (not per commit), so a changed file finds its old partial and restarts it."""
    digest = hashlib.sha1(f"{remote.repo_id}/{remote.filename}".encode()).hexdigest()[:16]
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", remote.label)[:80]
    return f"{digest}-{safe}"


ProgressCallback = Callable[[int, str | None], None]   # (bytes done, message about a restart or retry)


class FileTransfer:
    """Downloads one RemoteFile to `dest`, resuming whatever an earlier run left behind."""

    def __init__(self, hub: HubClient, *, partial_dir: Path, client: httpx2.Client | None = None,
                 tuning: TransferTuning | None = None, retry: RetryPolicy | None = None,
                 free_bytes: Callable[[Path], int] = lambda p: shutil.disk_usage(p).free) -> None:
        self.hub = hub
        self.partial_dir = partial_dir
        self.tuning = tuning or TransferTuning()
        self.client = client or make_http_client(hub.gate, self.tuning)
        self.retry = retry or hub.retry
        self.free_bytes = free_bytes

    def paths(self, remote: RemoteFile) -> tuple[Path, Path]:
        part = self.partial_dir / f"{partial_key(remote)}.part"
        return part, part.with_name(part.name + ".json")

    def discard(self, remote: RemoteFile) -> None:
        for p in self.paths(remote):
            p.unlink(missing_ok=True)

    def bytes_on_disk(self, remote: RemoteFile) -> int:
        """Bytes a resume would keep (what `lantern models list` can show for a paused download)."""
        part, side = self.paths(remote)
        state = Sidecar.load(side)
        if state is None or not state.same_content(remote) or not part.exists():
            return 0
        return min(state.bytes_done, part.stat().st_size, remote.size)

    def run(self, remote: RemoteFile, dest: Path, *, control: TransferControl | None = None,
            on_progress: ProgressCallback = lambda done, msg: None) -> Path:
        control = control or TransferControl()
        self.hub.refuse_if_offline(remote.label)
        self.partial_dir.mkdir(parents=True, exist_ok=True)
        if self._already_complete(remote, dest):
            return dest
        part, _done = self.paths(remote)
        # Two runs on one partial (two windows, a double click) would interleave writes: one at a time.
        lock = FileLock(str(part) + ".lock", timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise LanternError(_("'{label}' is already being downloaded by another Lantern window or command.").format(
                                 label=remote.label),
                               hint=_("Wait for that download to finish, or pause it there.")) from None
        try:
            return self._run_locked(remote, dest, control, on_progress)
        finally:
            lock.release()
            Path(str(part) + ".lock").unlink(missing_ok=True)

    def _already_complete(self, remote: RemoteFile, dest: Path) -> bool:
        """A verified file already in place (e.g. the app stopped before registering it): keep it."""
        if not dest.is_file() or dest.stat().st_size != remote.size:
            return False
        if remote.sha256:
            return file_sha256(dest) == remote.sha256
        return file_sha256(dest, algorithm="sha1", prefix=b"blob %d\0" % remote.size) == remote.git_sha1

    def _run_locked(self, remote: RemoteFile, dest: Path, control: TransferControl,
                    on_progress: ProgressCallback) -> Path:
        part, side = self.paths(remote)
        state = Sidecar.load(side)
        offset, message = 0, None
        if state is not None and part.exists():
            if state.same_content(remote):
                offset = min(state.bytes_done, part.stat().st_size, remote.size)
            else:
                message = _("The file changed on the server since the download started; starting again from zero.")
        self._check_disk(remote, offset)
        state = Sidecar.for_remote(remote)
        state.bytes_done = offset
        with open(part, "r+b" if part.exists() else "w+b") as f:
            try:
                f.truncate(offset)
                digest = self._rehash(f, remote, offset)
                state.save(side)
                on_progress(offset, message or (_("Resuming from {size}.").format(size=human_bytes(offset))
                                                if offset else None))
                offset = self._fetch_all(remote, f, digest, state, side, control, on_progress)
                f.flush()
                os.fsync(f.fileno())
                size = os.fstat(f.fileno()).st_size
            except OSError as exc:
                if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    f.close()
                    self.discard(remote)
                    raise DiskFull(
                        _("The disk filled up while downloading '{label}'; the partial file was deleted to give the "
                          "space back.").format(label=remote.label),
                        hint=_("Free at least {size} on {anchor} (or move the models folder with the `models_dir` "
                               "setting), then try again.").format(
                               size=human_bytes(remote.size), anchor=self.partial_dir.anchor or '/'),
                        debug_context={"error": repr(exc)}) from exc
                raise
            except OperationCancelled:
                f.close()
                self.discard(remote)
                raise
        self._verify(remote, part, size, digest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(part, dest)
        _fsync_dir(dest.parent)
        side.unlink(missing_ok=True)
        return dest

    # -- the transfer loop ------------------------------------------------------------------------

    def _fetch_all(self, remote: RemoteFile, f: Any, digest: _Digest, state: Sidecar, side: Path,
                   control: TransferControl, on_progress: ProgressCallback) -> int:
        offset = state.bytes_done
        location = self._pinned(remote, remote.location)
        failures = 0
        while offset < remote.size:
            before = offset
            try:
                control.check()
                offset = self._fetch_from(location, remote, f, digest, state, side, control, on_progress, offset)
            except _Restart as why:
                log.warning("restarting %s from zero: %s", remote.label, why)
                f.seek(0)
                f.truncate(0)
                digest.reset()
                offset = state.bytes_done = 0
                state.save(side)
                on_progress(0, str(why))
                failures += 1
            except (DownloadPaused, KeyboardInterrupt, OperationCancelled, OfflineModeEnabled):
                self._checkpoint(f, state, side, offset_of(f))  # offline mid-way (the gate): resumable later
                raise
            except (httpx2.TransportError, _RetryableStatus) as exc:
                offset = offset_of(f)
                self._checkpoint(f, state, side, offset)
                if isinstance(exc, httpx2.TransportError) and retryable(exc) is None:
                    raise translate_hub_error(exc, what=f"'{remote.label}'", endpoint=self.hub.endpoint) from exc
                failures = 0 if offset > before else failures + 1
                if self.retry.gives_up(failures):
                    raise self._gave_up(remote, exc, offset) from exc
                retry_after = exc.retry_after if isinstance(exc, _RetryableStatus) and exc.retry_after > 0 else None
                delay = self.retry.delay(max(1, failures), retry_after_s=retry_after)
                on_progress(offset, _("Connection problem ({exc}); retrying in {delay:.0f} s.").format(
                                      exc=_short(exc), delay=delay))
                log.info("transfer of %s interrupted at %d: %r; retry in %.1fs", remote.label, offset, exc, delay)
                control.wait(delay)
                location = self._fresh_location(remote, location)
            if failures and self.retry.gives_up(failures):
                raise DownloadFailed(_("The server kept sending '{label}' in a form that cannot be resumed.").format(
                                       label=remote.label),
                                     hint=_("Try again later."), debug_context={"offset": offset})
        return offset

    def _fetch_from(self, location: str, remote: RemoteFile, f: Any, digest: _Digest, state: Sidecar, side: Path,
                    control: TransferControl, on_progress: ProgressCallback, offset: int) -> int:
        headers = {"Accept-Encoding": "identity", **self.hub.auth_headers(location)}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        with self.client.stream("GET", location, headers=headers) as r:
            self._check_response(r, remote, offset)
            if r.status_code == 416:
                return offset
            if r.status_code == 200 and offset:
                raise _Restart(_("The server cannot resume this download; starting again from zero."))
            raw = "content-encoding" not in r.headers
            # No re-chunking: a re-chunked buffer is lost when the connection drops, and resume must
            # start at the last byte that really arrived.
            chunks = r.iter_raw() if raw else r.iter_bytes()
            sink = _Sink(f, digest, offset, self.tuning, lambda done: self._checkpoint(f, state, side, done))
            try:
                for chunk in chunks:
                    if offset + len(chunk) > remote.size:
                        raise _Restart(_("The server sent more bytes than the file has; starting again from zero."))
                    sink.put(chunk)
                    offset += len(chunk)
                    on_progress(offset, None)
                    control.check()
            finally:
                sink.close()  # every byte that arrived is on disk before anyone checkpoints or retries
        if offset < remote.size:  # the body ended early without an error from the client
            raise httpx2.RemoteProtocolError(_("the server closed the connection before the end of the file"))
        return offset

    def _check_response(self, r: httpx2.Response, remote: RemoteFile, offset: int) -> None:
        status = r.status_code
        if status == 206:
            m = re.match(r"bytes (\d+)-(\d+)/(\d+|\*)", r.headers.get("content-range", ""))
            if not m or int(m.group(1)) != offset or (m.group(3) != "*" and int(m.group(3)) != remote.size):
                raise _Restart(_("The server answered the resume request with a different part of the file; "
                                 "starting again from zero."))
        elif status == 200:
            length = r.headers.get("content-length")
            if length is not None and int(length) != remote.size:
                raise _Restart(_("The server is now sending a different file; starting again from zero."))
        elif status == 416:
            if offset != remote.size:
                raise _Restart(_("The server says the saved part does not fit the file; starting again from zero."))
        elif status in (401, 403, 404, 410):
            # A signed CDN link may have expired; fresh metadata either gives a new link or the real error.
            self.hub.refresh(remote)
            raise _RetryableStatus(status, 0.0)
        elif status in (408, 429) or status >= 500:
            raise _RetryableStatus(status, retry_after_of(r.headers))
        else:
            raise DownloadFailed(_("The server refused to send '{label}' (HTTP {status}).").format(
                                   label=remote.label, status=status),
                                 hint=_("Try again later."), debug_context={"url": str(r.url)})
        etag = (r.headers.get("etag") or "").strip('"').removeprefix("W/").strip('"')
        if len(etag) == 64 and remote.sha256 and etag != remote.sha256:
            raise _Restart(_("The file changed on the server since the download started; starting again from zero."))

    def _fresh_location(self, remote: RemoteFile, current: str) -> str:
        """Signed CDN links expire: ask for a fresh one before resuming. Keep the old one if that fails."""
        try:
            fresh = self.hub.refresh(remote, attempts=1)  # one try: the transfer loop does the backing off
        except LanternError as exc:
            if not isinstance(exc, DownloadFailed):
                raise
            return current
        if fresh.etag != remote.etag or fresh.size != remote.size:
            raise DownloadFailed(_("'{label}' changed on the server during the download.").format(label=remote.label),
                                 hint=_("Run the command again to download the new version."))
        return self._pinned(remote, fresh.location)

    def _pinned(self, remote: RemoteFile, location: str | None) -> str:
        """A location on the hub itself may say "main" (mirrors, small files): use the commit-pinned URL."""
        if not location or urlsplit(location).netloc == urlsplit(self.hub.endpoint).netloc:
            return remote.url
        return location

    # -- helpers ----------------------------------------------------------------------------------

    def _check_disk(self, remote: RemoteFile, offset: int) -> None:
        free = self.free_bytes(self.partial_dir)
        short = disk_shortfall(free_bytes=free, remaining_bytes=remote.size - offset, total_bytes=remote.size)
        if short:
            raise DiskFull(
                _("Not enough free disk space for '{label}': it needs {size} more and {free} is free (Lantern also "
                  "keeps a little space spare for your system).").format(
                  label=remote.label, size=human_bytes(remote.size - offset), free=human_bytes(free)),
                hint=_("Free at least {short}, or move the models folder to a bigger disk (setting `models_dir`), "
                       "then run the same command again.").format(short=human_bytes(short)),
                debug_context={"free": free, "needed": remote.size - offset, "dir": str(self.partial_dir)})

    def _rehash(self, f: Any, remote: RemoteFile, offset: int) -> _Digest:
        """The hash state cannot be saved, so the kept bytes are hashed again (GB/s; cheap next to a download)."""
        digest = _Digest(remote)
        f.seek(0)
        left = offset
        buf = bytearray(self.tuning.chunk_bytes * 4)
        view = memoryview(buf)
        while left:
            n = f.readinto(view[: min(len(buf), left)])
            if not n:
                raise _Restart(_("The saved part is shorter than recorded"))
            digest.update(view[:n])
            left -= n
        f.seek(offset)
        return digest

    def _checkpoint(self, f: Any, state: Sidecar, side: Path, offset: int) -> None:
        """Data reaches the disk before the sidecar claims it, so a crash never resumes past real bytes."""
        try:
            f.flush()
            os.fsync(f.fileno())
        except ValueError:  # already closed
            return
        state.bytes_done = offset
        state.save(side)

    def _verify(self, remote: RemoteFile, part: Path, size: int, digest: _Digest) -> None:
        got = digest.hexdigest()
        if size != remote.size or got != digest.expected:
            self.discard(remote)
            what = (_("its size is {size:,} bytes instead of {expected:,}").format(
                      size=size, expected=remote.size) if size != remote.size
                    else _("its {kind} is {got}… but the server published {expected}…").format(
                           kind=digest.kind, got=got[:12], expected=str(digest.expected)[:12]))
            raise ChecksumMismatch(
                _("'{label}' arrived damaged ({what}). It was deleted and not installed.").format(
                  label=remote.label, what=what),
                hint=_("Run the same command again to download it afresh. If this repeats, a proxy or antivirus "
                       "may be altering downloads."),
                debug_context={"expected": digest.expected, "got": got, "size": size, "source": remote.source_ref})

    def _gave_up(self, remote: RemoteFile, exc: BaseException, offset: int) -> BaseException:
        done = f"{human_bytes(offset)} of {human_bytes(remote.size)}"
        if isinstance(exc, _RetryableStatus):
            what = (_("The server is limiting requests") if exc.status == 429
                    else _("The server kept failing (HTTP {status})").format(status=exc.status))
            return DownloadFailed(_("{what} while sending '{label}'; stopped after {done}.").format(
                                    what=what, label=remote.label, done=done),
                                  hint=_("Try again later; the download resumes where it stopped."),
                                  debug_context={"status": exc.status})
        return DownloadFailed(
            _("The connection kept failing while downloading '{label}'; stopped after {done}.").format(
              label=remote.label, done=done),
            hint=_("Check your internet connection (and HTTPS_PROXY if you use a proxy), then run the same command "
                   "again: the download resumes where it stopped."), debug_context={"error": repr(exc)})


class _Sink:
    """Writes on one thread and hashes on another while the caller receives (file writes and sha256
    both release the GIL), so a fast connection is not held back by the disk or the hash. Checkpoints
    happen on the writer thread, after the data they claim."""

    def __init__(self, f: Any, digest: _Digest, offset: int, tuning: TransferTuning,
                 checkpoint: Callable[[int], None]) -> None:
        self.f, self.digest, self.offset = f, digest, offset
        self.tuning, self.checkpoint = tuning, checkpoint
        self.error: BaseException | None = None
        # <= 16 MiB of 64 KiB reads in flight on each queue
        self.to_write: queue.Queue[bytes | None] = queue.Queue(maxsize=256)
        self.to_hash: queue.Queue[bytes | None] = queue.Queue(maxsize=256)
        self.threads = [threading.Thread(target=self._write, name="lantern-download-writer", daemon=True),
                        threading.Thread(target=self._hash, name="lantern-download-hasher", daemon=True)]
        for t in self.threads:
            t.start()

    def put(self, chunk: bytes) -> None:
        if self.error is not None:
            raise self.error
        self.to_write.put(chunk)
        self.to_hash.put(chunk)

    def close(self) -> None:
        self.to_write.put(None)
        self.to_hash.put(None)
        for t in self.threads:
            t.join()
        if self.error is not None:
            raise self.error

    def _hash(self) -> None:
        while (chunk := self.to_hash.get()) is not None:
            self.digest.update(chunk)

    def _write(self) -> None:
        since, last = 0, time.monotonic()
        while (chunk := self.to_write.get()) is not None:
            if self.error is not None:
                continue  # drain after a failure; the error is raised to the receiver
            try:
                self.f.write(chunk)
                self.offset += len(chunk)
                since += len(chunk)
                due = time.monotonic() - last >= self.tuning.checkpoint_interval_s
                if since >= self.tuning.checkpoint_bytes and due:
                    self.checkpoint(self.offset)
                    since, last = 0, time.monotonic()
            except BaseException as exc:  # handed to the receiving thread by put()/close()
                self.error = exc


def offset_of(f: Any) -> int:
    try:
        f.flush()
        return int(os.fstat(f.fileno()).st_size)
    except ValueError:
        return 0


def _short(exc: BaseException) -> str:
    if isinstance(exc, _RetryableStatus):
        return f"HTTP {exc.status}"
    if isinstance(exc, httpx2.TimeoutException):
        return _("no data arrived for a while")
    return "connection lost"


def _fsync_dir(folder: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
