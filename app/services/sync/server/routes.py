"""The /v1 endpoints (protocol.py's table). Sync handlers: FastAPI runs them on its thread pool.

Bodies are read raw and validated here with the protocol models, so the order of answers is ours:
a missing token is 401 before a bad body is 422, and a push is validated in full (every record, its
clock) before any transaction starts, so nothing is stored from a push with one bad record.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ValidationError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.responses import Response

from app.services.sync import protocol
from app.services.sync.server import auth, ratelimit, store
from app.services.sync.server.auth import Caller, Passwords
from app.services.sync.server.db import Database
from app.services.sync.server.errors import ApiError, invalid
from app.services.sync.server.logs import event
from app.services.sync.server.models import Device, Token, User
from app.services.sync.server.ratelimit import RateLimits

M = TypeVar("M", bound=BaseModel)
MAX_SEQ = 2**63 - 1  # seq is a BIGINT
router = APIRouter()


@dataclass
class ServerContext:
    """What the handlers share: all of it configuration or a pool; no request state."""

    db: Database
    passwords: Passwords
    token_days: int
    clock: Callable[[], datetime]
    limits: RateLimits = field(default_factory=RateLimits)


def context(request: Request) -> ServerContext:
    ctx: ServerContext = request.app.state.sync
    return ctx


async def raw_body(request: Request) -> bytes:
    return await request.body()  # already bounded by middleware.BodyLimit


Ctx = Annotated[ServerContext, Depends(context)]
Body = Annotated[bytes, Depends(raw_body)]


def parse(model: type[M], body: bytes, *, hint: str | None = None) -> M:
    try:
        return model.model_validate_json(body or b"null")
    except ValidationError as err:
        raise invalid(err, hint=hint) from None


def json_response(model: BaseModel, status: int = 200) -> Response:
    return Response(model.model_dump_json(), status_code=status, media_type="application/json")


def _note_user(request: Request, user_id: int) -> None:
    info = request.scope.get("lantern.log")
    if isinstance(info, dict):
        info["user_id"] = user_id


def _client(request: Request) -> str:
    return ratelimit.address_key(request.client.host if request.client else None)


def _authenticate(request: Request, session: Session, token: str, now: datetime, *,
                  lock_account: bool = False) -> Caller:
    caller = auth.authenticate(session, token, now, lock_account=lock_account)
    _note_user(request, caller.user_id)
    return caller


def _touch_later(ctx: ServerContext, caller: Caller, now: datetime) -> None:
    if auth.needs_touch(caller, now):
        ctx.db.run(lambda session: auth.touch(session, caller, now), write=True)


def _sign_in(session: Session, ctx: ServerContext, user_id: int, user: str, device_name: str,
             now: datetime) -> protocol.Session:
    device = Device(id=str(uuid.uuid4()), user_id=user_id, name=device_name, created_at=now, last_seen_at=now)
    token, digest = auth.new_token()
    expires = now + timedelta(days=ctx.token_days)
    session.add(device)
    session.flush()
    session.add(Token(token_hash=digest, device_id=device.id, user_id=user_id, created_at=now, expires_at=expires))
    return protocol.Session(token=token, user=user, device_id=device.id, expires_at=expires)


# --- accounts and sessions ----------------------------------------------------------------------

@router.post("/v1/accounts")
def register(request: Request, ctx: Ctx, body: Body) -> Response:
    creds = parse(protocol.Credentials, body)
    now, client, limits = ctx.clock(), _client(request), ctx.limits

    def check(session: Session) -> bool:
        ratelimit.check(session, ratelimit.REGISTER_ADDRESS, client, limit=limits.register_per_address,
                        window_s=limits.register_window_s, now=now, what="new accounts from this address")
        ratelimit.count(session, ratelimit.REGISTER_ADDRESS, client, now)  # a taken name counts too
        return session.execute(select(User.id).where(User.name == creds.user)).first() is not None

    def create(session: Session) -> tuple[int, protocol.Session]:
        user = User(name=creds.user, password_hash=hashed, next_seq=0, created_at=now)
        session.add(user)
        session.flush()
        return user.id, _sign_in(session, ctx, user.id, user.name, creds.device_name, now)

    taken = ctx.db.run(check, write=True)
    if not taken:
        hashed = ctx.passwords.hash(creds.password)  # slow on purpose: outside any transaction
        try:
            user_id, result = ctx.db.run(create, write=True)
        except IntegrityError:
            taken = True  # registered by a parallel request since the check
    if taken:
        raise ApiError(409, protocol.E_USER_EXISTS, "That user name is taken.",
                       hint="Choose another name, or sign in if the account is yours.")
    _note_user(request, user_id)
    event("account_created", user_id=user_id, device_id=result.device_id)
    return json_response(result, 201)


@router.post("/v1/sessions")
def login(request: Request, ctx: Ctx, body: Body) -> Response:
    creds = parse(protocol.Credentials, body)
    now, client, limits = ctx.clock(), _client(request), ctx.limits

    def find(session: Session) -> tuple[int, str] | None:
        for scope, key, limit in ((ratelimit.LOGIN_ACCOUNT, creds.user, limits.login_per_account),
                                  (ratelimit.LOGIN_ADDRESS, client, limits.login_per_address)):
            ratelimit.check(session, scope, key, limit=limit, window_s=limits.login_window_s, now=now,
                            what="failed sign-ins")
        row = session.execute(select(User.id, User.password_hash).where(User.name == creds.user)).one_or_none()
        return None if row is None else (row.id, row.password_hash)

    def count_failure(session: Session) -> None:
        ratelimit.count(session, ratelimit.LOGIN_ACCOUNT, creds.user, now)
        ratelimit.count(session, ratelimit.LOGIN_ADDRESS, client, now)

    def sign_in(session: Session) -> protocol.Session:
        ratelimit.clear(session, ratelimit.LOGIN_ACCOUNT, creds.user)
        if rehashed is not None:
            session.execute(update(User).where(User.id == user_id).values(password_hash=rehashed))
        return _sign_in(session, ctx, user_id, creds.user, creds.device_name, now)

    found = ctx.db.run(find, write=False)
    if found is None or not ctx.passwords.verify(found[1], creds.password):
        if found is None:
            ctx.passwords.verify(None, creds.password)  # as slow as a wrong password
        ctx.db.run(count_failure, write=True)
        event("login_failed", user_id=found[0] if found is not None else None)
        raise ApiError(401, protocol.E_BAD_CREDENTIALS, "The user name or password is not right.",
                       hint="Check both and try again.")
    user_id, stored = found
    rehashed = ctx.passwords.hash(creds.password) if ctx.passwords.needs_rehash(stored) else None
    result = ctx.db.run(sign_in, write=True)
    _note_user(request, user_id)
    event("login", user_id=user_id, device_id=result.device_id)
    return json_response(result)


@router.delete("/v1/sessions/current")
def logout(request: Request, ctx: Ctx) -> Response:
    token = auth.bearer(request.headers.get("authorization"))
    now = ctx.clock()

    def sign_out(session: Session) -> Caller:
        caller = _authenticate(request, session, token, now)
        session.execute(update(Token).where(Token.token_hash == caller.token_hash).values(revoked_at=now))
        session.execute(update(Device).where(Device.id == caller.device_id).values(revoked_at=now, last_seen_at=now))
        return caller

    caller = ctx.db.run(sign_out, write=True)
    event("logout", user_id=caller.user_id, device_id=caller.device_id)
    return Response(status_code=204)


# --- devices ------------------------------------------------------------------------------------

@router.get("/v1/devices")
def list_devices(request: Request, ctx: Ctx) -> Response:
    token = auth.bearer(request.headers.get("authorization"))
    now = ctx.clock()

    def listing(session: Session) -> tuple[Caller, list[protocol.Device]]:
        caller = _authenticate(request, session, token, now)
        rows = session.execute(
            select(Device).where(Device.user_id == caller.user_id).order_by(Device.created_at, Device.id)
        ).scalars().all()
        return caller, [protocol.Device(device_id=d.id, name=d.name, created_at=d.created_at,
                                        last_seen_at=now if d.id == caller.device_id else d.last_seen_at,
                                        revoked=d.revoked_at is not None, current=d.id == caller.device_id)
                        for d in rows]

    caller, devices = ctx.db.run(listing, write=False)
    _touch_later(ctx, caller, now)
    return json_response(protocol.Devices(devices=devices))


@router.delete("/v1/devices/{device_id}")
def revoke_device(request: Request, ctx: Ctx, device_id: str) -> Response:
    token = auth.bearer(request.headers.get("authorization"))
    now = ctx.clock()

    def revoke(session: Session) -> Caller:
        caller = _authenticate(request, session, token, now)
        # Scoped to the caller's account: another account's device id is "not found", like a made-up one.
        found = session.execute(
            select(Device.id, Device.revoked_at).where(Device.id == device_id[:64], Device.user_id == caller.user_id)
        ).one_or_none()
        if found is None:
            raise ApiError(404, protocol.E_NOT_FOUND, "This account has no such device.",
                           hint="List the account's devices to see their ids.")
        if found.revoked_at is None:
            session.execute(update(Device).where(Device.id == found.id).values(revoked_at=now))
        return caller

    caller = ctx.db.run(revoke, write=True)
    event("device_revoked", user_id=caller.user_id, device_id=device_id[:64], by_device_id=caller.device_id)
    return Response(status_code=204)


# --- records ------------------------------------------------------------------------------------

@router.post("/v1/records")
def push(request: Request, ctx: Ctx, body: Body) -> Response:
    token = auth.bearer(request.headers.get("authorization"))
    records = parse(protocol.Push, body, hint="Nothing was stored: the push is refused whole.").records
    now = ctx.clock()
    store.check_clocks(records, now)

    def append(session: Session) -> protocol.PushResult:
        caller = _authenticate(request, session, token, now, lock_account=True)
        result = store.push(session, caller, records, now)
        auth.touch(session, caller, now)
        return result

    return json_response(ctx.db.run(append, write=True))


@router.get("/v1/records")
def pull(request: Request, ctx: Ctx,
         after: Annotated[int, Query(ge=0, le=MAX_SEQ, description="the cursor of the last page applied")] = 0,
         after_id: Annotated[str | None, Query(max_length=36, description="the id of the record at `after`")] = None,
         limit: Annotated[int, Query(ge=1)] = protocol.DEFAULT_PULL_LIMIT) -> Response:
    token = auth.bearer(request.headers.get("authorization"))
    now = ctx.clock()

    def read(session: Session) -> tuple[Caller, bytes]:
        caller = _authenticate(request, session, token, now)
        if after > caller.next_seq or (after_id is not None and after > 0
                                        and store.id_at(session, caller, after) != after_id):
            raise ApiError(409, protocol.E_CURSOR_AHEAD,
                           f"This device has synced up to record {after}, but the account's records end at "
                           f"{caller.next_seq}: the server was restored from an older backup.",
                           hint="Lantern pulls everything again and sends its own records back; nothing is lost.")
        return caller, store.pull(session, caller, after=after, limit=min(limit, protocol.MAX_PULL_LIMIT))

    caller, page = ctx.db.run(read, write=False)
    _touch_later(ctx, caller, now)
    return Response(page, media_type="application/json")
