"""Stopping a cloud request that is blocked on a silent server, from another thread, at once.

A cancel or one of our own timeouts must end a stream within ~200 ms even when the reader thread is
blocked in `recv()` (a server that accepted the request and says nothing). Closing the response or
the socket from another thread does not wake a blocked `recv()` on Linux; `shutdown()` does. So each
request carries a `RequestHandle` that learns which socket it reads:

- a new connection: httpcore's public `trace` request extension reports the socket when
  `connect_tcp` / `start_tls` completes (set on the request by the client's request hook);
- a pooled connection: once the response headers are in, the response's `network_stream` extension.

The only socket we cannot name is a *reused* pooled connection before its response headers arrive;
then `abort()` shuts down every socket of the engine that no other live request has claimed (idle
pool connections just reconnect next time). A second request of the same engine waiting for its
headers on another reused connection at that very moment would break too; the router treats that
like any cloud failure. A connection still being opened cannot be interrupted at all: that phase is
bounded by the connect timeout.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import weakref
from typing import Any

log = logging.getLogger(__name__)

_CONNECTED = frozenset({"connection.connect_tcp.complete", "connection.start_tls.complete",
                        "proxy.connect_tcp.complete", "proxy.start_tls.complete"})


def _socket_of(network_stream: Any) -> socket.socket | None:
    get = getattr(network_stream, "get_extra_info", None)
    if get is None:
        return None
    try:
        sock = get("socket")
    except Exception:  # an exotic stream; then we just cannot name its socket
        return None
    return sock if isinstance(sock, socket.socket) else None


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed or never connected
        if sock.fileno() != -1:
            sock.shutdown(socket.SHUT_RDWR)


class SocketBook:
    """The sockets an engine's client has opened and which live request (if any) reads each one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owners: weakref.WeakKeyDictionary[socket.socket, RequestHandle | None] = weakref.WeakKeyDictionary()

    def claim(self, sock: socket.socket, handle: RequestHandle | None) -> None:
        with self._lock:
            self._owners[sock] = handle

    def release(self, handle: RequestHandle) -> None:
        with self._lock:
            for sock, owner in list(self._owners.items()):
                if owner is handle:
                    self._owners[sock] = None

    def shutdown_unclaimed(self, handle: RequestHandle) -> int:
        with self._lock:
            victims = [s for s, owner in self._owners.items() if owner is None or owner is handle]
        for sock in victims:
            _shutdown(sock)
        return len(victims)


class RequestHandle:
    """One streamed request's way out. `trace` and `attach` run on the reader thread; `abort` on any."""

    def __init__(self, book: SocketBook) -> None:
        self._book = book
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self.responded = False  # response headers received: a later error is a broken stream
        self.aborted = False
        self.finished = False

    def trace(self, name: str, info: dict[str, Any]) -> None:
        """httpcore's trace extension: remember the socket of a connection opened for this request."""
        if name in _CONNECTED:
            sock = _socket_of(info.get("return_value"))
            if sock is not None:
                self._claim(sock)

    def attach(self, response: Any) -> None:
        """The response headers are in: its socket is ours (this also covers a pooled connection)."""
        extensions = getattr(response, "extensions", None) or {}
        sock = _socket_of(extensions.get("network_stream"))
        if sock is not None:
            self._claim(sock)
        with self._lock:
            self.responded = True

    def _claim(self, sock: socket.socket) -> None:
        with self._lock:
            self._socket = sock
            aborted = self.aborted
        self._book.claim(sock, self)
        if aborted:  # the abort came while this connection was being opened or answered
            _shutdown(sock)

    def abort(self) -> None:
        """Make the reader thread's blocked read return now. A no-op once the request has finished."""
        with self._lock:
            if self.aborted or self.finished:
                return
            self.aborted = True
            sock = self._socket
        if sock is not None:
            _shutdown(sock)
        else:
            n = self._book.shutdown_unclaimed(self)
            log.debug("aborted a cloud request before its socket was known; shut %d pooled socket(s)", n)

    def finish(self) -> None:
        """The reader is done with the connection (it is back in the pool, or closed)."""
        with self._lock:
            self.finished = True
        self._book.release(self)
