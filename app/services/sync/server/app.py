"""The app factory: `create_app(db_url)` gives the whole server as an ASGI app.

The schema must already be migrated (cli.py runs `migrate.upgrade` before serving). Cheaper
Argon2 parameters (`password_hasher=auth.cheap_test_hasher()`), a fake clock and other rate limits
are for tests; production takes the defaults.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from argon2 import PasswordHasher
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from app.services.sync import protocol
from app.services.sync.server import auth
from app.services.sync.server.db import Database
from app.services.sync.server.errors import ApiError, api_error_response, error_response, invalid
from app.services.sync.server.logs import event
from app.services.sync.server.middleware import BodyLimit, ProtocolGate, RequestLog
from app.services.sync.server.ratelimit import RateLimits
from app.services.sync.server.routes import ServerContext, router

DEFAULT_TOKEN_DAYS = 180


def utc_now() -> datetime:
    return datetime.now(UTC)


def create_app(db_url: str, *, token_days: int = DEFAULT_TOKEN_DAYS, clock: Callable[[], datetime] = utc_now,
               password_hasher: PasswordHasher | None = None, rate_limits: RateLimits | None = None,
               pool_size: int = 10, max_request_bytes: int = protocol.MAX_REQUEST_BYTES) -> FastAPI:
    if token_days < 1:
        raise ValueError("token_days must be at least 1")
    db = Database(db_url, pool_size=pool_size)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        db.dispose()

    app = FastAPI(title="Lantern sync server", version=str(protocol.PROTOCOL_VERSION), lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url=None)
    app.state.sync = ServerContext(db=db, passwords=auth.Passwords(password_hasher or auth.default_hasher()),
                                   token_days=token_days, clock=clock, limits=rate_limits or RateLimits())
    app.include_router(router)

    @app.get("/healthz")
    def healthz() -> Response:
        try:
            db.ping()
        except Exception as err:
            event("health_failed", level=logging.WARNING, error=type(err).__name__)
            return error_response(503, protocol.E_SERVER, "The sync server cannot reach its database.")
        return Response(b'{"status":"ok"}', media_type="application/json")

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, err: ApiError) -> Response:
        return api_error_response(err)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, err: RequestValidationError) -> Response:
        return api_error_response(invalid(err.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, err: StarletteHTTPException) -> Response:
        if err.status_code == 404:
            return error_response(404, protocol.E_NOT_FOUND, "The sync server has no such endpoint.",
                                  hint="Lantern and the server may be different versions.")
        return error_response(err.status_code, protocol.E_INVALID, str(err.detail), headers=err.headers)

    # add_middleware puts each one outside the ones before it: RequestLog is outermost.
    app.add_middleware(BodyLimit, max_bytes=max_request_bytes)
    app.add_middleware(ProtocolGate)
    app.add_middleware(RequestLog)
    return app
