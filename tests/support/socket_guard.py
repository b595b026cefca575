"""A socket guard for tests: records (and refuses) every attempt to reach anything but loopback.

It patches `socket.socket.connect`/`connect_ex`, `socket.create_connection` and `socket.getaddrinfo`
(a name that is not loopback would be a DNS query, itself a packet on the network). Loopback
(127.0.0.0/8, ::1, localhost) and non-IP sockets (AF_UNIX: D-Bus for the keyring) pass untouched.
A refused attempt raises `ConnectionRefusedError` at once, so code under test fails fast instead of
waiting for a timeout, and the attempt is kept in `attempts` for the test to assert on.

Its loopback rule is written here on purpose, not imported from app.services.net: the guard checks
the gate, so it must not share the gate's code.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from typing import Any


def _is_loopback(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


class SocketGuard:
    def __init__(self) -> None:
        self.attempts: list[tuple[str, Any]] = []
        self._lock = threading.Lock()

    def _refuse(self, kind: str, target: Any) -> None:
        with self._lock:
            self.attempts.append((kind, target))
        raise ConnectionRefusedError(f"socket guard: {kind} to non-loopback {target!r} refused")

    def install(self, monkeypatch: Any) -> SocketGuard:
        real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
        real_create, real_getaddrinfo = socket.create_connection, socket.getaddrinfo
        guard = self

        def checked(sock: socket.socket, address: Any, kind: str) -> None:
            if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
                guard._refuse(kind, address)

        def connect(self: socket.socket, address: Any) -> None:
            checked(self, address, "connect")
            return real_connect(self, address)

        def connect_ex(self: socket.socket, address: Any) -> int:
            checked(self, address, "connect_ex")
            return real_connect_ex(self, address)

        def create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
            if not _is_loopback(address[0]):
                guard._refuse("create_connection", address)
            return real_create(address, *args, **kwargs)

        def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
            if host is not None and not _is_loopback(host):
                guard._refuse("getaddrinfo", host)
            return real_getaddrinfo(host, *args, **kwargs)

        monkeypatch.setattr(socket.socket, "connect", connect)
        monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
        monkeypatch.setattr(socket, "create_connection", create_connection)
        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
        return self

    def clear(self) -> None:
        with self._lock:
            self.attempts.clear()
