"""A fault-injecting HTTP proxy on 127.0.0.1 in front of an OpenAI-compatible server (cloud-model tests).

The test points the engine's `base_url` at the proxy and sets a mode; the mode holds until changed:

- `passthrough()`: forward as is.
- `slow_first_token(seconds)`: send the response headers, then hold the first body bytes that long.
- `status(code, headers=..., body=...)`: answer with that status (an OpenAI-style error body by default)
  without asking the upstream.
- `drop_after(n)`: forward `n` SSE events, then cut the TCP connection without the terminating chunk.
- `stall_after(n)`: forward `n` SSE events, then send nothing more (the connection stays open).
- `hang()`: read the request and never answer.
- `strip_usage()`: drop usage chunks (and `usage` fields) from the stream: a server that reports none.
- `upstream_usage()`: add the usage chunk `stream_options.include_usage` asks for, with the upstream
  server's own counts for the same request (from a non-streamed twin request; exact for greedy
  requests). llama.cpp's server does not send one in streams.

Streams are forwarded event by event as they arrive (re-chunked, flushed per event), so timing seen
by the client is the upstream's. `requests` counts what the proxy saw; `usage_events` counts usage
chunks it forwarded. A handler in `hang` / `stall_after` ends when the client closes its side or the
proxy stops.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import select
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
                         "transfer-encoding", "upgrade", "content-length", "host", "accept-encoding"})
_EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")


@dataclass(frozen=True)
class Mode:
    kind: str = "passthrough"
    seconds: float = 0.0
    code: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    events: int = 0


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        if parts.hostname is None or parts.port is None:
            raise ValueError(f"upstream needs a host and a port: {upstream!r}")
        self.upstream_host, self.upstream_port = parts.hostname, parts.port
        self.mode = Mode()
        self.requests: list[tuple[str, str]] = []
        self.usage_events = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- modes --------------------------------------------------------------------------------------
    def passthrough(self) -> None:
        self.mode = Mode()

    def slow_first_token(self, seconds: float) -> None:
        self.mode = Mode("slow_first_token", seconds=seconds)

    def status(self, code: int, *, headers: dict[str, str] | None = None, body: Any = None) -> None:
        self.mode = Mode("status", code=code, headers=dict(headers or {}), body=body)

    def drop_after(self, n_sse_events: int) -> None:
        self.mode = Mode("drop_after", events=n_sse_events)

    def stall_after(self, n_sse_events: int) -> None:
        self.mode = Mode("stall_after", events=n_sse_events)

    def hang(self) -> None:
        self.mode = Mode("hang")

    def strip_usage(self) -> None:
        self.mode = Mode("strip_usage")

    def upstream_usage(self) -> None:
        self.mode = Mode("upstream_usage")

    # -- life ---------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "start() the proxy first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self.requests)

    def start(self) -> FaultProxy:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.proxy = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fault-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _record(self, method: str, path: str) -> Mode:
        with self._lock:
            self.requests.append((method, path))
            return self.mode

    def _wait_for_client_close(self, conn: socket.socket, seconds: float | None = None) -> bool:
        """Wait (up to `seconds`) until the client closes or the proxy stops; True if it did either."""
        waited = 0.0
        while not self._stopping.is_set() and (seconds is None or waited < seconds):
            step = 0.05 if seconds is None else min(0.05, seconds - waited)
            readable, _, _ = select.select([conn], [], [], step)
            waited += step
            if readable:
                try:
                    if not conn.recv(1, socket.MSG_PEEK):
                        return True
                except OSError:
                    return True
        return self._stopping.is_set()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (a cancel, a cut we made) is normal here, not a traceback."""
        import sys

        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Any
    _held_done = b""

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read `requests` instead."""

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        proxy: FaultProxy = self.server.proxy
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        mode = proxy._record(self.command, self.path)
        if mode.kind == "hang":
            proxy._wait_for_client_close(self.connection)
            self.close_connection = True
            return
        if mode.kind == "status":
            self._send_status(mode)
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        upstream = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=300)
        try:
            upstream.request(self.command, self.path, body=body, headers=headers)
            response = upstream.getresponse()
            self.send_response(response.status, response.reason)
            for name, value in response.getheaders():
                if name.lower() not in _HOP_BY_HOP and name.lower() not in ("date", "server"):
                    self.send_header(name, value)
            if not (response.getheader("Content-Type") or "").startswith("text/event-stream"):
                data = response.read()
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self._stream(proxy, mode, response, headers, body)
        except (ConnectionError, OSError):
            self.close_connection = True  # the client went away (a cancel): nothing more to send
        finally:
            upstream.close()

    def _send_status(self, mode: Mode) -> None:
        body = mode.body if mode.body is not None else {"error": {
            "message": f"fault proxy: status {mode.code}", "type": "fault_proxy", "code": None}}
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(mode.code)
        for name, value in mode.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _chunk(self, data: bytes) -> None:
        if data:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

    def _stream(self, proxy: FaultProxy, mode: Mode, response: http.client.HTTPResponse,
                headers: dict[str, str], body: bytes) -> None:
        if mode.kind == "slow_first_token" and proxy._wait_for_client_close(self.connection, mode.seconds):
            self.close_connection = True
            return
        buffer, sent = b"", 0
        self._held_done = b""
        while True:
            piece = response.read1(65536)
            if not piece:
                break
            buffer += piece
            while (match := _EVENT_END.search(buffer)) is not None:
                event, buffer = buffer[:match.end()], buffer[match.end():]
                if mode.kind in ("drop_after", "stall_after") and sent >= mode.events:
                    return self._cut(proxy, mode)
                event = self._rewrite(proxy, mode, event, headers, body)
                if event:
                    self._chunk(event)
                    sent += 1
        if mode.kind in ("drop_after", "stall_after") and sent >= mode.events:
            return self._cut(proxy, mode)
        self._chunk(buffer)
        if self._held_done:
            response.close()
            self._chunk(self._usage_event(proxy, headers, body) + self._held_done)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _cut(self, proxy: FaultProxy, mode: Mode) -> None:
        self.close_connection = True
        if mode.kind == "stall_after":
            proxy._wait_for_client_close(self.connection)
            return
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)  # no terminating chunk: an incomplete chunked read

    def _rewrite(self, proxy: FaultProxy, mode: Mode, event: bytes, headers: dict[str, str], body: bytes) -> bytes:
        data = _data_of(event)
        if data is None:
            return event
        if data == "[DONE]" and mode.kind == "upstream_usage":
            # Sent once the upstream stream has ended: the twin request must not wait behind it.
            self._held_done = event
            return b""
        try:
            payload = json.loads(data)
        except ValueError:
            return event
        if isinstance(payload, dict) and payload.get("usage") is not None:
            if mode.kind == "strip_usage":
                if not payload.get("choices"):
                    return b""
                payload.pop("usage")
                return b"data: " + json.dumps(payload).encode() + b"\n\n"
            with proxy._lock:
                proxy.usage_events += 1
        return event

    def _usage_event(self, proxy: FaultProxy, headers: dict[str, str], body: bytes) -> bytes:
        request = json.loads(body)
        if not (request.get("stream_options") or {}).get("include_usage"):
            return b""
        request["stream"] = False
        request.pop("stream_options", None)
        twin = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=300)
        try:
            twin.request("POST", self.path, body=json.dumps(request).encode(),
                         headers={**headers, "Content-Type": "application/json"})
            answer = json.loads(twin.getresponse().read())
        finally:
            twin.close()
        chunk = {"id": answer.get("id"), "object": "chat.completion.chunk", "created": answer.get("created"),
                 "model": answer.get("model"), "choices": [], "usage": answer["usage"]}
        with proxy._lock:
            proxy.usage_events += 1
        return b"data: " + json.dumps(chunk).encode() + b"\n\n"


def _data_of(event: bytes) -> str | None:
    lines = [line[5:].strip() for line in event.decode("utf-8", "replace").splitlines() if line.startswith("data:")]
    return "\n".join(lines) if lines else None
