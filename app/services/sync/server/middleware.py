"""Three plain ASGI middlewares, outermost first:

- `RequestLog`: gives every request an id (a sane incoming X-Request-ID from the proxy, else a new
  one) returned in X-Request-ID, writes the one access-log line, and turns any exception that
  escaped the app into a 500 `server_error` whose body names only the request id (the traceback
  goes to the log under the same id).
- `ProtocolGate`: /v1/ requests must carry a `Lantern-Sync-Protocol` this server speaks, else 426
  `protocol_version` ("update Lantern"), answered before anything is read.
- `BodyLimit`: a body over protocol.MAX_REQUEST_BYTES is refused with 413 `too_large` without
  reading it: at once when Content-Length says so, else as soon as the streamed (chunked) bytes
  pass the limit. The body is buffered (at most the limit) and handed on whole.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from app.services.sync import protocol
from app.services.sync.server import logs
from app.services.sync.server.errors import error_json
from app.services.sync.server.logs import event

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_PROTOCOL_HEADER = protocol.PROTOCOL_HEADER.lower().encode()
_VERSION_VALUE = str(protocol.PROTOCOL_VERSION).encode()


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


async def send_error(send: Send, status: int, code: str, message: str, *, hint: str | None = None,
                     headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = error_json(code, message, hint)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


class RequestLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        incoming = header(scope, b"x-request-id")
        request_id = incoming if incoming and _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        info: dict[str, Any] = {"user_id": None, "request_id": request_id}
        scope["lantern.log"] = info
        state = {"status": 0}
        reset = logs.request_id.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = int(message["status"])
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            event("unhandled_error", level=logging.ERROR, exc_info=True, request_id=request_id,
                  method=scope.get("method"), path=scope.get("path"))
            if state["status"] == 0:
                await send_error(send_with_id, 500, protocol.E_SERVER, "The sync server hit an unexpected error.",
                                 hint=f"Try again later. If it keeps happening, give the server's administrator "
                                      f"this request id: {request_id}.")
            else:
                state["status"] = 500
        finally:
            status = state["status"] or 500
            client = scope.get("client")
            event("request", level=logging.ERROR if status >= 500 else logging.INFO,
                  method=scope.get("method"), path=scope.get("path"), status=status,
                  duration_ms=round((time.perf_counter() - started) * 1000, 2), user_id=info.get("user_id"),
                  request_id=request_id, client=client[0] if client else None)
            logs.request_id.reset(reset)


class ProtocolGate:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or not (path == "/v1" or path.startswith("/v1/")):
            await self.app(scope, receive, send)
            return
        value = (header(scope, _PROTOCOL_HEADER) or "").strip()
        if not (value.isdigit() and len(value) < 6 and int(value) in protocol.SUPPORTED_VERSIONS):
            speaks = ", ".join(str(v) for v in protocol.SUPPORTED_VERSIONS)
            await send_error(send, 426, protocol.E_PROTOCOL,
                             "Lantern and this sync server speak different versions of the sync protocol: "
                             "update Lantern.",
                             hint=f"The server speaks version {speaks}. If Lantern is already up to date, "
                                  "the server needs updating.",
                             headers=[(_PROTOCOL_HEADER, speaks.encode())])
            return

        async def send_with_version(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), (_PROTOCOL_HEADER, _VERSION_VALUE)]
            await send(message)

        await self.app(scope, receive, send_with_version)


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int = protocol.MAX_REQUEST_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _too_large(self, send: Send) -> None:
        await send_error(send, 413, protocol.E_TOO_LARGE,
                         f"The request is larger than the sync server accepts ({self.max_bytes // (1024 * 1024)} MiB).",
                         hint="Nothing was stored. Lantern sends smaller pages; update it if this keeps happening.",
                         headers=[(b"connection", b"close")])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = header(scope, b"content-length")
        if length is not None and (not length.strip().isdigit() or int(length) > self.max_bytes):
            await self._too_large(send)  # unread: the client may still be sending it
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away mid-body: nobody to answer
                return
            chunk = bytes(message.get("body", b""))
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)
