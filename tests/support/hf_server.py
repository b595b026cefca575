"""A Hugging-Face-compatible file server on 127.0.0.1, with fault injection, for download tests.

`FakeHub` is a real HTTP/1.1 server (stdlib `ThreadingHTTPServer`, keep-alive, one daemon thread per
connection) that speaks the part of the Hub API that `huggingface_hub` 2.x uses to download:

- `HEAD|GET /{repo_id}/resolve/{revision}/{path}`: small files answer 200 with their bytes; LFS files
  answer 302 to `http://localhost:PORT/cdn/{sha256}?...&sig=...`. "localhost" is a different host name
  from the endpoint's "127.0.0.1" on purpose: huggingface_hub then treats it as a CDN, reads the file
  metadata from the 302 itself (`X-Repo-Commit`, `X-Linked-Etag`, `X-Linked-Size`) and does not send the
  `Authorization` header there.
- `GET|HEAD /cdn/{sha256}`: the blob, with `Range` / `If-Range` support.
- `GET /api/models/{repo_id}[/revision/{revision}]` (`?blobs=true` adds sizes and LFS data) and
  `GET /api/models/{repo_id}/tree/{revision}[/{path}]` (`?recursive=true`), the JSON that
  `HfApi.model_info`, `HfApi.list_repo_tree` and `snapshot_download` parse.

Every change to a repository makes a new commit (a deterministic 40-hex sha); "main" (or any branch
name) resolves to its latest commit and a full commit sha keeps serving that commit's content. Errors
carry the `X-Error-Code` values huggingface_hub turns into its exceptions (`RepoNotFound`,
`RevisionNotFound`, `EntryNotFound`, `GatedRepo`).

Faults (`fail`, `drop_after`, `stall_after`, `ignore_range`, `corrupt_byte`, `throttle`) are consumed in
the order they were added; `times=None` keeps one forever. Accounting (`requests`, `bytes_sent`) lets a
test assert what went over the wire, e.g. "the retry resumed at byte N and nothing was sent twice".

Standalone, for benchmarks: `python -m tests.support.hf_server --file REPO FILENAME PATH [--port N]`.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import hashlib
import hmac
import json
import os
import re
import secrets
import selectors
import socket
import socketserver
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

__all__ = ["LFS_THRESHOLD", "FakeHub", "Fault", "FileInfo", "RequestRecord", "main"]

LFS_THRESHOLD = 10 * 1024  # files this big (or *.gguf / *.safetensors) are stored in LFS by default
LFS_SUFFIXES = (".gguf", ".safetensors")
_COMMIT_RE = re.compile(r"[0-9a-f]{40}")
_ASCII_NAME = re.compile(r'[^\x20-\x7e]|"')  # what may not go in a quoted header value
_CHUNK = 256 * 1024  # body chunk when faults or throttling apply
_FAST_CHUNK = 8 * 1024 * 1024  # sendfile / sendall chunk on the fast path
_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


# -- data model -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Blob:
    sha256: str
    size: int
    git_sha1: str  # sha1(b"blob %d\0" % size + data): the git oid of the content itself
    data: bytes | None = None
    path: Path | None = None  # big files stay on disk and are streamed from there


@dataclass(frozen=True)
class _Entry:
    blob: _Blob
    lfs: bool

    @property
    def pointer(self) -> bytes:
        return (f"version https://git-lfs.github.com/spec/v1\noid sha256:{self.blob.sha256}\n"
                f"size {self.blob.size}\n").encode()

    @property
    def blob_id(self) -> str:
        """The oid git stores in the tree: the LFS pointer's for LFS files, the content's otherwise."""
        return _git_sha1(self.pointer) if self.lfs else self.blob.git_sha1

    @property
    def etag(self) -> str:
        return self.blob.sha256 if self.lfs else self.blob.git_sha1


@dataclass(frozen=True)
class _Commit:
    sha: str
    parent: str | None
    files: dict[str, _Entry]
    title: str
    date: datetime


@dataclass
class _Repo:
    repo_id: str
    gated_token: str | None
    gate_api: bool
    branches: dict[str, str]
    commits: dict[str, _Commit]
    created_at: datetime


@dataclass(frozen=True)
class FileInfo:
    """One file at one commit, as the hub describes it."""

    repo_id: str
    filename: str
    size: int
    sha256: str
    git_sha1: str  # sha1(b"blob %d\0" % size + data)
    lfs: bool
    commit: str
    blob_id: str  # git oid in the tree (LFS: the pointer file's oid; otherwise == git_sha1)
    pointer_size: int | None  # LFS pointer file size, None for non-LFS files

    @property
    def etag(self) -> str:
        """What `get_hf_file_metadata(...).etag` returns: the sha256 for LFS files, the git sha1 otherwise."""
        return self.sha256 if self.lfs else self.git_sha1


@dataclass
class RequestRecord:
    """One request the hub answered. `headers` keys are Title-Case ("Range", "Authorization")."""

    method: str
    path: str  # raw path, without the query string
    query: str
    headers: dict[str, str]
    kind: str  # "resolve" | "cdn" | "api" | "other"
    status: int = 0
    body_bytes: int = 0  # file-body bytes written to the socket for this response (exact once `done`)
    sha256: str | None = None  # blob served (cdn, or small file on resolve)
    faults: list[str] = field(default_factory=list)  # names of the faults applied
    aborted: bool = False  # connection closed before the whole body went out
    done: bool = False  # the response is over (body sent, or connection cut)

    @property
    def range(self) -> str | None:
        return self.headers.get("Range")

    @property
    def authorization(self) -> str | None:
        return self.headers.get("Authorization")


@dataclass
class Fault:
    """A fault waiting to be applied; `hits` counts how often it was. Returned by the fault methods."""

    action: str  # "fail" | "drop" | "stall" | "ignore_range" | "corrupt"
    kind: str  # "resolve" | "cdn" | "api" | "any"
    times: int | None
    path_contains: str | None = None
    method: str | None = None
    status: int = 500
    retry_after: float | None = None
    error_code: str | None = None
    n_bytes: int = 0
    seconds: float = 0.0
    offset: int = 0
    hits: int = 0

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times


class _Abort(Exception):
    """Ends a connection on purpose (injected drop, server shutdown)."""


# -- hashing ----------------------------------------------------------------------------------------------

_HASH_CACHE: dict[tuple[str, int, int], tuple[str, str]] = {}
_HASH_LOCK = threading.Lock()


def _git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _blob_from(data: bytes | bytearray | memoryview | os.PathLike[str]) -> _Blob:
    if isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
        return _Blob(hashlib.sha256(raw).hexdigest(), len(raw), _git_sha1(raw), data=raw)
    path = Path(data).resolve()
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    with _HASH_LOCK:
        cached = _HASH_CACHE.get(key)
    if cached is None:
        sha256 = hashlib.sha256()
        sha1 = hashlib.sha1(b"blob %d\0" % st.st_size)
        with path.open("rb") as f:
            while chunk := f.read(_FAST_CHUNK):
                sha256.update(chunk)
                sha1.update(chunk)
        cached = (sha256.hexdigest(), sha1.hexdigest())
        with _HASH_LOCK:
            _HASH_CACHE[key] = cached
    return _Blob(cached[0], st.st_size, cached[1], path=path)


def _title(name: str) -> str:
    return "-".join(part.capitalize() for part in name.split("-"))


# -- the hub ----------------------------------------------------------------------------------------------


class FakeHub:
    """A Hugging-Face-compatible hub on 127.0.0.1 (see the module docstring). Use as a context manager."""

    def __init__(self, *, port: int = 0) -> None:
        self._port_wanted = port
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._repos: dict[str, _Repo] = {}
        self._aliases: dict[str, str] = {}
        self._blobs: dict[str, _Blob] = {}
        self._faults: list[Fault] = []
        self._throttle: float | None = None
        self._requests: list[RequestRecord] = []
        self._sent: dict[str, int] = {}
        self._connections: set[socket.socket] = set()
        self._connection_threads: set[threading.Thread] = set()
        self._in_flight = 0
        self._idle = threading.Condition(self._lock)
        self._secret = secrets.token_bytes(16)
        self._servers: list[_Server] = []
        self._threads: list[threading.Thread] = []
        self._wake: tuple[socket.socket, socket.socket] = ()  # type: ignore[assignment]
        self.errors: list[str] = []  # tracebacks of unexpected server-side exceptions (bugs, not disconnects)
        self.port = 0

    # -- lifecycle ----------------------------------------------------------------------------------------

    def __enter__(self) -> FakeHub:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> FakeHub:
        """Start serving. After stop(), start() serves the same content again on the same port when it is
        free (a "hub restart" mid-download), else on a new one (`port`/`endpoint` then change)."""
        if self._servers:
            raise RuntimeError("FakeHub is already running")
        self._stopping.clear()
        try:
            self._servers = _bind_servers(self, self._port_wanted or self.port)
        except OSError:
            if self._port_wanted or not self.port:
                raise
            self._servers = _bind_servers(self, 0)
        self.port = self._servers[0].server_address[1]
        self._wake = socket.socketpair()
        t = threading.Thread(target=self._accept_loop, name=f"FakeHub:{self.port}", daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def _accept_loop(self) -> None:
        # Like serve_forever, but woken at once by stop() instead of polling (no 0.1 s per teardown).
        with selectors.DefaultSelector() as selector:
            for srv in self._servers:
                selector.register(srv, selectors.EVENT_READ)
            selector.register(self._wake[0], selectors.EVENT_READ)
            while not self._stopping.is_set():
                for key, _events in selector.select():
                    if isinstance(key.fileobj, _Server) and not self._stopping.is_set():
                        key.fileobj._handle_request_noblock()  # type: ignore[attr-defined]  # accept, spawn

    def stop(self) -> None:
        """Stop serving; open connections (even mid-transfer or stalled) are cut and their threads joined."""
        if not self._servers:
            return
        self._stopping.set()
        self._wake[1].send(b"x")
        for t in self._threads:
            t.join(timeout=5)
        with self._lock:
            conns = list(self._connections)
        for conn in conns:
            _shutdown_socket(conn)
        for srv in self._servers:
            srv.server_close()
        with self._lock:
            threads = list(self._connection_threads)
        deadline = time.monotonic() + 5
        for t in threads:
            t.join(timeout=max(0.0, deadline - time.monotonic()))
        for sock in self._wake:
            sock.close()
        self._servers.clear()
        self._threads.clear()

    @property
    def endpoint(self) -> str:
        if not self.port:
            raise RuntimeError("FakeHub is not started (use it as a context manager)")
        return f"http://127.0.0.1:{self.port}"

    @property
    def cdn_base(self) -> str:
        return f"http://localhost:{self.port}/cdn"

    # -- content ------------------------------------------------------------------------------------------

    def add_repo(self, repo_id: str, *, gated_token: str | None = None, gate_api: bool = True) -> str:
        """Create a repository (one empty initial commit) and return that commit's sha.

        A gated repo answers 401 `X-Error-Code: GatedRepo` unless the request carries
        `Authorization: Bearer <gated_token>` (CDN URLs: a valid signature instead). `gate_api=False`
        leaves `/api/models/...` open, as on the real hub, where only the files of a gated repo are locked.
        Calling it on an existing repo only changes its gating.
        """
        _check_repo_id(repo_id)
        with self._lock:
            repo = self._repos.get(repo_id)
            if repo is not None:
                repo.gated_token, repo.gate_api = gated_token, gate_api
                return repo.branches["main"]
            sha = hashlib.sha1(f"init {repo_id}".encode()).hexdigest()
            commit = _Commit(sha, None, {}, "initial commit", _EPOCH)
            self._repos[repo_id] = _Repo(repo_id, gated_token, gate_api, {"main": sha}, {sha: commit}, _EPOCH)
            return sha

    def add_file(self, repo_id: str, filename: str, data: bytes | os.PathLike[str], *, revision: str = "main",
                 lfs: bool | None = None) -> FileInfo:
        """Commit `data` (bytes, or a Path that is streamed from disk, never loaded) as `filename`.

        Creates the repo (not gated) and the branch `revision` (from main) when missing. `lfs=None`: LFS for
        files of `LFS_THRESHOLD` bytes or more and for *.gguf / *.safetensors.
        """
        filename = _check_filename(filename)
        blob = _blob_from(data)
        if lfs is None:
            lfs = blob.size >= LFS_THRESHOLD or filename.lower().endswith(LFS_SUFFIXES)
        with self._lock:
            self._blobs.setdefault(blob.sha256, blob)
            sha = self._commit(repo_id, revision, {filename: _Entry(blob, lfs)}, f"Upload {filename}")
        return self.file_info(repo_id, filename, revision=sha)

    def replace_file(self, repo_id: str, filename: str, data: bytes | os.PathLike[str], *, revision: str = "main",
                     lfs: bool | None = None) -> FileInfo:
        """`add_file` on a name that exists already: a new commit, a new etag; old commits keep the old bytes."""
        self.file_info(repo_id, filename, revision=revision)  # KeyError when it does not exist
        return self.add_file(repo_id, filename, data, revision=revision, lfs=lfs)

    def delete_file(self, repo_id: str, filename: str, *, revision: str = "main") -> str:
        """Remove a file in a new commit; returns that commit's sha."""
        self.file_info(repo_id, filename, revision=revision)
        with self._lock:
            return self._commit(repo_id, revision, {filename: None}, f"Delete {filename}")

    def add_alias(self, old_repo_id: str, new_repo_id: str) -> None:
        """A renamed repo: resolve/api requests on the old name get a 307 to the new name (relative Location)."""
        _check_repo_id(old_repo_id)
        with self._lock:
            self._aliases[old_repo_id] = new_repo_id

    def commit_sha(self, repo_id: str, revision: str = "main") -> str:
        with self._lock:
            repo = self._repos[repo_id]
            commit = self._resolve_revision(repo, revision)
            if commit is None:
                raise KeyError(f"{repo_id}@{revision}")
            return commit.sha

    def file_info(self, repo_id: str, filename: str, *, revision: str = "main") -> FileInfo:
        with self._lock:
            repo = self._repos[repo_id]
            commit = self._resolve_revision(repo, revision)
            if commit is None:
                raise KeyError(f"{repo_id}@{revision}")
            entry = commit.files[filename]
        blob = entry.blob
        return FileInfo(repo_id=repo_id, filename=filename, size=blob.size, sha256=blob.sha256,
                        git_sha1=blob.git_sha1, lfs=entry.lfs, commit=commit.sha, blob_id=entry.blob_id,
                        pointer_size=len(entry.pointer) if entry.lfs else None)

    def url(self, repo_id: str, filename: str, *, revision: str = "main") -> str:
        """The resolve URL, as `huggingface_hub.hf_hub_url` builds it."""
        return f"{self.endpoint}/{repo_id}/resolve/{quote(revision, safe='')}/{quote(filename)}"

    def cdn_url(self, repo_id: str, filename: str, *, revision: str = "main") -> str:
        """The signed CDN URL the resolve endpoint redirects to (handy for curl / direct client tests)."""
        info = self.file_info(repo_id, filename, revision=revision)
        return self._cdn_location(repo_id, filename, info.sha256)

    def expire_cdn_urls(self) -> None:
        """Invalidate every CDN signature handed out so far: old URLs get 403 (like an expired signed URL)."""
        with self._lock:
            self._secret = secrets.token_bytes(16)

    # -- faults -------------------------------------------------------------------------------------------

    def fail(self, kind: str = "resolve", status: int = 500, *, times: int | None = 1,
             retry_after: float | None = None, path_contains: str | None = None, method: str | None = None,
             error_code: str | None = None) -> Fault:
        """Answer matching requests with `status` (plus `Retry-After`, `X-Error-Code` when given)."""
        return self._add_fault(Fault("fail", _check_kind(kind), times, path_contains, method and method.upper(),
                                     status=status, retry_after=retry_after, error_code=error_code))

    def drop_after(self, n_bytes: int, *, times: int | None = 1, path_contains: str | None = None,
                   kind: str = "cdn") -> Fault:
        """On a matching GET, send the headers and `n_bytes` of the body, then cut the connection."""
        return self._add_fault(Fault("drop", _check_kind(kind), times, path_contains, "GET", n_bytes=n_bytes))

    def stall_after(self, n_bytes: int, seconds: float, *, times: int | None = 1, path_contains: str | None = None,
                    kind: str = "cdn") -> Fault:
        """On a matching GET, send `n_bytes` of the body, then go silent for `seconds` (cut short by stop())."""
        return self._add_fault(Fault("stall", _check_kind(kind), times, path_contains, "GET", n_bytes=n_bytes,
                                     seconds=seconds))

    def ignore_range(self, *, times: int | None = 1, path_contains: str | None = None, kind: str = "cdn") -> Fault:
        """Answer a matching request that has a `Range` header with 200 and the whole file."""
        return self._add_fault(Fault("ignore_range", _check_kind(kind), times, path_contains))

    def corrupt_byte(self, offset: int, *, times: int | None = None, path_contains: str | None = None,
                     kind: str = "cdn") -> Fault:
        """Flip (xor 0xFF) the byte at absolute file `offset` in matching GET bodies that include it.

        Only responses whose range covers `offset` count as a use. Metadata keeps the true sha256.
        """
        return self._add_fault(Fault("corrupt", _check_kind(kind), times, path_contains, "GET", offset=offset))

    def throttle(self, bytes_per_second: float | None) -> None:
        """Pace every file body (per response) at this rate; None turns it off."""
        with self._lock:
            self._throttle = bytes_per_second if bytes_per_second else None

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._throttle = None

    @property
    def faults(self) -> list[Fault]:
        """Faults not used up yet, in order."""
        with self._lock:
            return [f for f in self._faults if not f.exhausted]

    # -- accounting ---------------------------------------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request so far, oldest first (a snapshot of the list; records update while a body streams)."""
        with self._lock:
            return list(self._requests)

    def bytes_sent(self, sha256_or_filename: str | None = None) -> int:
        """File-body bytes written to sockets (CDN GETs, and small files served by resolve).

        None: in total. A sha256: for that blob. Otherwise a file name ("model.gguf", or "org/name/model.gguf"),
        summed over every blob that name has had in any commit.
        """
        with self._lock:
            if sha256_or_filename is None:
                return sum(self._sent.values())
            if sha256_or_filename in self._blobs:
                return self._sent.get(sha256_or_filename, 0)
            shas = set()
            for repo in self._repos.values():
                for commit in repo.commits.values():
                    for name, entry in commit.files.items():
                        if sha256_or_filename in (name, f"{repo.repo_id}/{name}"):
                            shas.add(entry.blob.sha256)
            return sum(self._sent.get(sha, 0) for sha in shas)

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until no request is being answered (e.g. after a client gave up mid-body, before reading
        `bytes_sent`, which is exact once each response is over). False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)

    def reset_stats(self) -> None:
        with self._lock:
            self._requests.clear()
            self._sent.clear()

    # -- internals ----------------------------------------------------------------------------------------

    def _commit(self, repo_id: str, revision: str, changes: dict[str, _Entry | None], title: str) -> str:
        if _COMMIT_RE.fullmatch(revision):
            raise ValueError("commit to a branch name, not to a commit sha")
        if repo_id not in self._repos:
            self.add_repo(repo_id)
        repo = self._repos[repo_id]
        parent = repo.commits[repo.branches.get(revision) or repo.branches["main"]]
        files = dict(parent.files)
        for name, entry in changes.items():
            if entry is None:
                files.pop(name, None)
            else:
                files[name] = entry
        listing = "".join(f"{e.lfs:d} {e.blob.git_sha1} {e.blob.sha256} {n}\n" for n, e in sorted(files.items()))
        sha = hashlib.sha1(f"parent {parent.sha}\nrepo {repo_id}\nbranch {revision}\n{listing}".encode()).hexdigest()
        date = _EPOCH + timedelta(seconds=len(repo.commits))
        repo.commits[sha] = _Commit(sha, parent.sha, files, title, date)
        repo.branches[revision] = sha
        return sha

    @staticmethod
    def _resolve_revision(repo: _Repo, revision: str) -> _Commit | None:
        sha = repo.branches.get(revision)
        if sha is None and _COMMIT_RE.fullmatch(revision):
            sha = revision
        return repo.commits.get(sha) if sha else None

    def _add_fault(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def _take(self, action: str, kind: str, method: str, texts: Iterable[str], *,
              applies: Callable[[Fault], bool] | None = None, take_all: bool = False) -> list[Fault]:
        """Use up the first (or every) matching fault of `action`; returns what was used."""
        texts = list(texts)
        taken: list[Fault] = []
        with self._lock:
            for fault in self._faults:
                if fault.action != action or fault.exhausted:
                    continue
                if fault.kind not in (kind, "any") or (fault.method and fault.method != method):
                    continue
                if fault.path_contains and not any(fault.path_contains in t for t in texts):
                    continue
                if applies is not None and not applies(fault):
                    continue
                fault.hits += 1
                taken.append(fault)
                if not take_all:
                    break
            self._faults = [f for f in self._faults if not f.exhausted]
        return taken

    def _sign(self, sha256: str, repo_id: str, filename: str) -> str:
        with self._lock:
            secret = self._secret
        return hmac.new(secret, f"{sha256}|{repo_id}|{filename}".encode(), hashlib.sha256).hexdigest()[:32]

    def _cdn_location(self, repo_id: str, filename: str, sha256: str) -> str:
        query = urlencode({"repo": repo_id, "filename": filename, "sig": self._sign(sha256, repo_id, filename)})
        return f"{self.cdn_base}/{sha256}?{query}"

    def _repos_holding(self, sha256: str) -> list[_Repo]:
        with self._lock:
            return [r for r in self._repos.values()
                    if any(e.blob.sha256 == sha256 for c in r.commits.values() for e in c.files.values())]

    def _names_of(self, sha256: str) -> list[str]:
        with self._lock:
            return sorted({f"{r.repo_id}/{n}" for r in self._repos.values() for c in r.commits.values()
                           for n, e in c.files.items() if e.blob.sha256 == sha256})

    def _count(self, record: RequestRecord, sha256: str, n: int) -> None:
        with self._lock:
            record.body_bytes += n
            self._sent[sha256] = self._sent.get(sha256, 0) + n


def _check_repo_id(repo_id: str) -> None:
    if not repo_id or repo_id.count("/") > 1 or repo_id.startswith("/") or repo_id.endswith("/"):
        raise ValueError(f"repo_id must be 'name' or 'org/name', not {repo_id!r}")


def _check_filename(filename: str) -> str:
    name = filename.strip("/")
    if not name or any(part in ("", ".", "..") for part in name.split("/")):
        raise ValueError(f"bad file name {filename!r}")
    return name


def _check_kind(kind: str) -> str:
    if kind not in ("resolve", "cdn", "api", "any"):
        raise ValueError(f"kind must be resolve, cdn, api or any, not {kind!r}")
    return kind


def _bind_servers(hub: FakeHub, port: int) -> list[_Server]:
    """127.0.0.1:port, plus [::1]:same port where the machine has IPv6 loopback.

    "localhost" (the CDN host) may resolve to ::1 first; answering there too spares clients a refused
    connection before they fall back to 127.0.0.1 (slow on Windows), and makes sure no other program that
    happens to hold [::1]:port gets our CDN traffic.
    """
    for _attempt in range(20):
        v4 = _Server(("127.0.0.1", port), _Handler, hub)
        try:
            v6 = _Server6(("::1", v4.server_address[1]), _Handler, hub)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE and port == 0:
                v4.server_close()
                continue  # that port is taken on ::1: pick another pair
            return [v4]  # no IPv6 loopback here (or a fixed port): 127.0.0.1 only
        return [v4, v6]
    return [_Server(("127.0.0.1", port), _Handler, hub)]


def _shutdown_socket(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


# -- HTTP -------------------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Rebinding a port with connections in TIME_WAIT (restart). Not on Windows, where it would let two
    # sockets share a live port.
    allow_reuse_address = sys.platform != "win32"

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], hub: FakeHub) -> None:
        self.hub = hub
        super().__init__(address, handler)

    def process_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        # ThreadingMixIn does not track daemon threads, so server_close() would not join them: do it here.
        t = threading.Thread(target=self._connection_thread, args=(request, client_address), daemon=True,
                             name=f"FakeHub:{self.hub.port} connection")
        with self.hub._lock:
            self.hub._connection_threads.add(t)
        t.start()

    def _connection_thread(self, request: socket.socket, client_address: object) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self.hub._lock:
                self.hub._connection_threads.discard(threading.current_thread())

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (socket.getfqdn), slow without a network.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])

    def handle_error(self, request: object, client_address: object) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, _Abort)) or self.hub._stopping.is_set():
            return
        text = traceback.format_exc()
        self.hub.errors.append(text)
        sys.stderr.write(f"FakeHub: error while serving {client_address}:\n{text}")


class _Server6(_Server):
    address_family = socket.AF_INET6


@dataclass
class _Range:
    start: int
    end: int  # inclusive
    partial: bool


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes: no 40 ms delayed-ACK stalls
    server: _Server
    record: RequestRecord

    @property
    def hub(self) -> FakeHub:
        return self.server.hub

    # connection bookkeeping, so stop() can cut idle keep-alive and mid-transfer connections
    def setup(self) -> None:
        super().setup()
        with self.hub._lock:
            self.hub._connections.add(self.connection)
            stopping = self.hub._stopping.is_set()
        if stopping:
            _shutdown_socket(self.connection)

    def finish(self) -> None:
        with self.hub._lock:
            self.hub._connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def handle(self) -> None:
        try:
            super().handle()
        except (ConnectionError, TimeoutError, _Abort):
            return  # the client hung up, or a fault cut the connection on purpose
        except OSError:
            if not self.hub._stopping.is_set():
                raise

    def log_message(self, format: str, *args: object) -> None:
        return None  # quiet: tests read `hub.requests` instead of a log

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    # -- routing ------------------------------------------------------------------------------------------

    def _dispatch(self) -> None:
        split = urlsplit(self.path)
        raw_path, query = split.path, split.query
        segs = raw_path.strip("/").split("/")
        if segs[0] == "cdn":
            kind = "cdn"
        elif segs[:2] == ["api", "models"]:
            kind = "api"
        elif "resolve" in segs[1:3]:
            kind = "resolve"
        else:
            kind = "other"
        self.record = RequestRecord(self.command, raw_path, query, {_title(k): v for k, v in self.headers.items()},
                                    kind)
        with self.hub._lock:
            self.hub._requests.append(self.record)
            self.hub._in_flight += 1
        try:
            self._route(kind, segs, raw_path, query)
        finally:
            with self.hub._idle:
                self.record.done = True
                self.hub._in_flight -= 1
                self.hub._idle.notify_all()

    def _route(self, kind: str, segs: list[str], raw_path: str, query: str) -> None:
        self.query = parse_qs(query)

        texts = [raw_path + ("?" + query if query else ""), unquote(raw_path)]
        if kind == "cdn" and len(segs) > 1:
            texts += self.hub._names_of(segs[1])
        failed = self.hub._take("fail", kind, self.command, texts)
        if failed:
            f = failed[0]
            self.record.faults.append(f"fail:{f.status}")
            extra = {}
            if f.retry_after is not None:
                extra["Retry-After"] = f"{f.retry_after:g}"
            self._error(f.status, f.error_code, f"Injected failure ({f.status})", extra)
            return

        if kind == "cdn":
            self._cdn(segs[1:], texts)
        elif kind == "api":
            self._api(segs[2:])
        elif kind == "resolve":
            at = 2 if len(segs) > 2 and segs[2] == "resolve" else 1
            self._resolve("/".join(unquote(s) for s in segs[:at]), segs[at + 1:], raw_path, query, texts)
        else:
            self._error(404, None, "Not Found")

    def _repo_or_error(self, repo_id: str, raw_path: str, query: str) -> _Repo | None:
        """The repo, or None after answering (redirect for an alias, 404, 401 gated)."""
        hub = self.hub
        with hub._lock:
            new = hub._aliases.get(repo_id)
            repo = hub._repos.get(repo_id)
        if repo is None and new is not None:
            location = raw_path.replace(f"/{quote(repo_id)}/", f"/{quote(new)}/", 1)
            if location.endswith(f"/{quote(repo_id)}"):
                location = location[: -len(quote(repo_id))] + quote(new)
            self._send(307, {"Location": location + ("?" + query if query else "")})
            return None
        if repo is None:
            self._error(404, "RepoNotFound", "Repository not found")
            return None
        if repo.gated_token is not None and (self.record.kind != "api" or repo.gate_api) \
                and not self._authorized(repo):
            self._gated(repo)
            return None
        return repo

    def _authorized(self, repo: _Repo) -> bool:
        return repo.gated_token is not None and self.headers.get("Authorization") == f"Bearer {repo.gated_token}"

    def _gated(self, repo: _Repo) -> None:
        self._error(401, "GatedRepo",
                    f"Access to model {repo.repo_id} is restricted. You must have access to it and be "
                    "authenticated to access it. Please log in.")

    def _revision_or_error(self, repo: _Repo, revision: str) -> _Commit | None:
        with self.hub._lock:
            commit = self.hub._resolve_revision(repo, revision)
        if commit is None:
            self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        return commit

    # -- /{repo}/resolve/{revision}/{path} -----------------------------------------------------------------

    def _resolve(self, repo_id: str, rest: list[str], raw_path: str, query: str, texts: list[str]) -> None:
        repo = self._repo_or_error(repo_id, raw_path, query)
        if repo is None:
            return
        if len(rest) < 2:
            self._error(404, "EntryNotFound", "Entry not found")
            return
        commit = self._revision_or_error(repo, unquote(rest[0]))
        if commit is None:
            return
        filename = unquote("/".join(rest[1:]))
        entry = commit.files.get(filename)
        if entry is None:
            self._error(404, "EntryNotFound", f"{filename} does not exist on \"{commit.sha}\"",
                        {"X-Repo-Commit": commit.sha})
            return
        blob = entry.blob
        self.record.sha256 = blob.sha256
        if entry.lfs:
            location = self.hub._cdn_location(repo.repo_id, filename, blob.sha256)
            self._send(302, {
                "Location": location,
                "X-Repo-Commit": commit.sha,
                "X-Linked-Etag": f'"{blob.sha256}"',
                "X-Linked-Size": str(blob.size),
                "ETag": f'"{entry.blob_id}"',
                "Vary": "Origin, Accept",
            })
            return
        self._serve_blob(blob, f'"{blob.git_sha1}"', "resolve", [*texts, f"{repo.repo_id}/{filename}"],
                         {"X-Repo-Commit": commit.sha}, filename)

    # -- /cdn/{sha256} ---------------------------------------------------------------------------------------

    def _cdn(self, rest: list[str], texts: list[str]) -> None:
        hub = self.hub
        sha256 = rest[0] if len(rest) == 1 else ""
        with hub._lock:
            blob = hub._blobs.get(sha256)
        if blob is None:
            self._error(404, None, "NoSuchKey: the specified key does not exist")
            return
        self.record.sha256 = sha256
        repo_q = self.query.get("repo", [""])[0]
        name_q = self.query.get("filename", [""])[0]
        sig = self.query.get("sig", [None])[0]
        holders = hub._repos_holding(sha256)
        if sig is not None:
            if not hmac.compare_digest(sig.encode(), hub._sign(sha256, repo_q, name_q).encode()):
                self._error(403, None, "AccessDenied: Request has expired or the signature does not match")
                return
        elif holders and not any(r.gated_token is None or self._authorized(r) for r in holders):
            self._gated(holders[0])
            return
        self._serve_blob(blob, f'"{sha256}"', "cdn", texts, {}, name_q.rsplit("/", 1)[-1] or sha256)

    # -- serving file bodies -------------------------------------------------------------------------------

    def _serve_blob(self, blob: _Blob, etag: str, kind: str, texts: list[str], extra: dict[str, str],
                    display_name: str) -> None:
        hub = self.hub
        total = blob.size
        rng = self._parse_range(total, etag)
        if rng is not None and hub._take("ignore_range", kind, self.command, texts):
            self.record.faults.append("ignore_range")
            rng = None
        if rng == "unsatisfiable":
            self._error(416, None, "Requested Range Not Satisfiable", {"Content-Range": f"bytes */{total}"})
            return
        span = rng if isinstance(rng, _Range) else _Range(0, total - 1, False)
        length = span.end - span.start + 1
        headers = {
            "Content-Type": "application/octet-stream",
            "Accept-Ranges": "bytes",
            "ETag": etag,
            "Last-Modified": "Mon, 01 Jan 2024 00:00:00 GMT",
            "Content-Disposition": f"inline; filename*=UTF-8''{quote(display_name)}; "
                                   f"filename=\"{_ASCII_NAME.sub('_', display_name)}\"",
            **extra,
        }
        if span.partial:
            headers["Content-Range"] = f"bytes {span.start}-{span.end}/{total}"
        self._send(206 if span.partial else 200, headers, length=length)
        if self.command == "HEAD" or length == 0:
            return

        drop = hub._take("drop", kind, "GET", texts)
        stall = hub._take("stall", kind, "GET", texts)
        corrupt = hub._take("corrupt", kind, "GET", texts, take_all=True,
                            applies=lambda f: span.start <= f.offset <= span.end)
        for f in drop:
            self.record.faults.append(f"drop_after:{f.n_bytes}")
        for f in stall:
            self.record.faults.append(f"stall_after:{f.n_bytes}:{f.seconds:g}")
        for f in corrupt:
            self.record.faults.append(f"corrupt_byte:{f.offset}")
        with hub._lock:
            throttle = hub._throttle
        limit = min(length, drop[0].n_bytes) if drop else length
        if not (drop or stall or corrupt or throttle):
            self._send_fast(blob, span.start, length)
            return
        self._send_slow(blob, span.start, limit, stall[0] if stall else None,
                        {f.offset for f in corrupt}, throttle)
        if limit < length:  # injected drop: the client must see an incomplete body
            self.record.aborted = True
            self.close_connection = True
            _shutdown_socket(self.connection)
            raise _Abort

    def _parse_range(self, total: int, etag: str) -> _Range | str | None:
        value = self.headers.get("Range")
        if not value:
            return None
        if_range = self.headers.get("If-Range")
        if if_range and if_range.strip() not in (etag, etag.strip('"')) and '"' in if_range:
            return None  # the client's copy is of another version: send the whole new one
        m = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", value)
        if not m or (not m.group(1) and not m.group(2)):
            return None  # malformed or multi-range: ignore the header (RFC 9110 allows it)
        if not m.group(1):  # suffix: the last N bytes
            n = int(m.group(2))
            if n == 0 or total == 0:
                return "unsatisfiable"
            return _Range(max(0, total - n), total - 1, True)
        start = int(m.group(1))
        end = int(m.group(2)) if m.group(2) else total - 1
        if start >= total:
            return "unsatisfiable"
        if end < start:
            return None
        return _Range(start, min(end, total - 1), True)

    def _send_fast(self, blob: _Blob, start: int, length: int) -> None:
        """No faults: sendfile from disk (or big sendall from memory), counting exactly what the kernel took."""
        sock = self.connection
        if blob.data is not None:
            view = memoryview(blob.data)[start:start + length]
            for pos in range(0, length, _FAST_CHUNK):
                self._send_bytes(blob, view[pos:pos + _FAST_CHUNK])
            return
        assert blob.path is not None
        with blob.path.open("rb") as f:
            if hasattr(os, "sendfile") and sys.platform != "win32":
                offset, remaining = start, length
                while remaining > 0:
                    if self.hub._stopping.is_set():
                        raise _Abort
                    n = min(remaining, _FAST_CHUNK)
                    self.hub._count(self.record, blob.sha256, n)  # before the syscall, see _send_bytes
                    sent = 0
                    try:
                        sent = os.sendfile(sock.fileno(), f.fileno(), offset, n)
                    except BlockingIOError:
                        continue
                    finally:
                        self.hub._count(self.record, blob.sha256, sent - n)
                    if sent == 0:
                        raise _Abort  # file shrank under us
                    offset += sent
                    remaining -= sent
                return
            f.seek(start)
            remaining = length
            while remaining > 0:
                chunk = f.read(min(remaining, _FAST_CHUNK))
                if not chunk:
                    raise _Abort
                self._send_bytes(blob, memoryview(chunk))
                remaining -= len(chunk)

    def _send_slow(self, blob: _Blob, start: int, limit: int, stall: Fault | None, corrupt: set[int],
                   throttle: float | None) -> None:
        """Chunked body with faults: stops after `limit` bytes, stalls, flips bytes, paces."""
        f = blob.path.open("rb") if blob.path is not None else None
        try:
            if f is not None:
                f.seek(start)
            pos = 0  # bytes of this response sent
            began = time.monotonic()
            chunk_max = _CHUNK if not throttle else max(1, min(_CHUNK, int(throttle / 20)))
            while pos < limit:
                if stall is not None and pos >= stall.n_bytes:
                    self.hub._stopping.wait(stall.seconds)
                    stall = None
                if self.hub._stopping.is_set():
                    raise _Abort
                n = min(chunk_max, limit - pos)
                if stall is not None:
                    n = min(n, stall.n_bytes - pos)
                if f is not None:
                    data = bytearray(f.read(n))
                else:
                    assert blob.data is not None
                    data = bytearray(blob.data[start + pos:start + pos + n])
                if len(data) != n:
                    raise _Abort
                for off in corrupt:
                    if start + pos <= off < start + pos + n:
                        data[off - start - pos] ^= 0xFF
                self._send_bytes(blob, memoryview(data))
                pos += n
                if throttle:
                    ahead = pos / throttle - (time.monotonic() - began)
                    if ahead > 0 and self.hub._stopping.wait(ahead):
                        raise _Abort
        finally:
            if f is not None:
                f.close()

    def _send_bytes(self, blob: _Blob, view: memoryview) -> None:
        # Counted before the syscall and corrected after it: once the client holds the last byte, the
        # counters already include it (counting after send() races with a test's assertion).
        while view:
            if self.hub._stopping.is_set():
                raise _Abort
            self.hub._count(self.record, blob.sha256, len(view))
            sent = 0
            try:
                sent = self.connection.send(view)
            finally:
                self.hub._count(self.record, blob.sha256, sent - len(view))
            view = view[sent:]

    # -- /api/models/... ---------------------------------------------------------------------------------------

    def _api(self, segs: list[str]) -> None:
        if not segs or not segs[0]:
            self._error(404, None, "Not Found")
            return
        n = 2 if len(segs) >= 2 and (len(segs) == 2 or segs[2] in ("revision", "tree")) else 1
        repo_id = "/".join(unquote(s) for s in segs[:n])
        raw_path = urlsplit(self.path).path
        repo = self._repo_or_error(repo_id, raw_path, urlsplit(self.path).query)
        if repo is None:
            return
        rest = segs[n:]
        if not rest or (rest[0] == "revision" and len(rest) >= 2):
            commit = self._revision_or_error(repo, unquote("/".join(rest[1:])) if rest else "main")
            if commit is not None:
                self._json(self._model_json(repo, commit))
        elif rest[0] == "tree" and len(rest) >= 2:
            commit = self._revision_or_error(repo, unquote(rest[1]))
            if commit is not None:
                self._tree(commit, unquote("/".join(rest[2:])).strip("/"))
        else:
            self._error(404, None, "Not Found")

    def _flag(self, name: str) -> bool:
        return self.query.get(name, ["false"])[0].lower() in ("1", "true")

    def _model_json(self, repo: _Repo, commit: _Commit) -> dict[str, object]:
        blobs = self._flag("blobs")
        siblings: list[dict[str, object]] = []
        for name, entry in sorted(commit.files.items()):
            sib: dict[str, object] = {"rfilename": name}
            if blobs:
                sib["size"] = entry.blob.size
                sib["blobId"] = entry.blob_id
                if entry.lfs:
                    sib["lfs"] = {"sha256": entry.blob.sha256, "size": entry.blob.size,
                                  "pointerSize": len(entry.pointer)}
            siblings.append(sib)
        author = repo.repo_id.split("/")[0] if "/" in repo.repo_id else None
        return {
            "_id": hashlib.sha1(repo.repo_id.encode()).hexdigest()[:24],
            "id": repo.repo_id,
            "modelId": repo.repo_id,
            "author": author,
            "sha": commit.sha,
            "lastModified": commit.date.isoformat().replace("+00:00", ".000Z"),
            "createdAt": repo.created_at.isoformat().replace("+00:00", ".000Z"),
            "private": False,
            "gated": "auto" if repo.gated_token is not None else False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "siblings": siblings,
            "usedStorage": sum(e.blob.size for e in commit.files.values()),
        }

    def _tree(self, commit: _Commit, path: str) -> None:
        recursive = self._flag("recursive")
        prefix = f"{path}/" if path else ""
        if path and path not in commit.files and not any(n.startswith(prefix) for n in commit.files):
            self._error(404, "EntryNotFound", f"{path} does not exist on \"{commit.sha}\"")
            return
        entries: dict[str, dict[str, object]] = {}
        for name, entry in sorted(commit.files.items()):
            if not name.startswith(prefix):
                continue
            parts = name[len(prefix):].split("/")
            for depth in range(1, len(parts)):
                if depth > 1 and not recursive:
                    break
                folder = prefix + "/".join(parts[:depth])
                entries.setdefault(folder, {"type": "directory", "path": folder, "size": 0,
                                            "oid": hashlib.sha1(f"tree {commit.sha} {folder}".encode()).hexdigest()})
            if len(parts) == 1 or recursive:
                item: dict[str, object] = {"type": "file", "oid": entry.blob_id, "size": entry.blob.size,
                                           "path": name}
                if entry.lfs:
                    item["lfs"] = {"oid": entry.blob.sha256, "size": entry.blob.size,
                                   "pointerSize": len(entry.pointer)}
                entries[name] = item
        self._json(sorted(entries.values(), key=lambda e: str(e["path"])))

    # -- responses -------------------------------------------------------------------------------------------

    def _send(self, status: int, headers: dict[str, str], *, length: int = 0, body: bytes = b"") -> None:
        self.record.status = status
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(length if not body else len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, payload: object) -> None:
        self._send(200, {"Content-Type": "application/json; charset=utf-8"}, body=json.dumps(payload).encode())

    def _error(self, status: int, code: str | None, message: str, extra: dict[str, str] | None = None) -> None:
        headers = {"Content-Type": "application/json; charset=utf-8", **(extra or {})}
        if code:
            headers["X-Error-Code"] = code
        headers["X-Error-Message"] = message
        self._send(status, headers, body=json.dumps({"error": message}).encode())


# -- standalone -------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.hf_server",
                                     description="Serve files over a Hugging-Face-compatible API on 127.0.0.1.")
    parser.add_argument("--file", nargs=3, action="append", metavar=("REPO", "FILENAME", "PATH"), default=[],
                        help="serve PATH as FILENAME in repo REPO (repeatable)")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--gated-token", default=None, help="make every repo gated behind this token")
    args = parser.parse_args(argv)
    hub = FakeHub(port=args.port)
    with hub:
        for repo, filename, path in args.file:
            if args.gated_token:
                hub.add_repo(repo, gated_token=args.gated_token)
            hub.add_file(repo, filename, Path(path))
        print(f"endpoint {hub.endpoint}", flush=True)
        for repo, filename, _path in args.file:
            info = hub.file_info(repo, filename)
            print(f"file {hub.url(repo, filename)} size={info.size} sha256={info.sha256}", flush=True)
            if info.lfs:
                print(f"cdn {hub.cdn_url(repo, filename)}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
