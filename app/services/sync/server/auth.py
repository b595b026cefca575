"""Passwords, tokens and who is calling.

- Passwords: Argon2id through argon2-cffi's `PasswordHasher` with its defaults (RFC 9106's second
  recommended profile: 64 MiB, 3 passes, ~50-100 ms a hash, slow on purpose). `cheap_test_hasher()` is
  the cheap profile for test suites only (`--argon2-profile test`); never use it for real accounts.
  A hash made with older parameters is redone at the next successful login.
- Tokens: `secrets.token_urlsafe(32)` (256 random bits) handed out once; the database keeps only
  its sha256. A token belongs to one device, expires after `token_days`, and stops working when
  its device is revoked or signs out.
- A login for a user who does not exist still verifies a password against a dummy hash, so the
  answer takes as long and says the same as a wrong password.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from app.services.sync import protocol
from app.services.sync.server.errors import ApiError
from app.services.sync.server.models import Base, Device

LAST_SEEN_EVERY = timedelta(minutes=5)  # device.last_seen_at is refreshed at most this often


def default_hasher() -> PasswordHasher:
    return PasswordHasher()  # argon2-cffi's defaults: Argon2id, t=3, m=64 MiB, p=4


def cheap_test_hasher() -> PasswordHasher:
    """Argon2id at the cheapest legal cost (~1 ms): for test suites only."""
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


class Passwords:
    def __init__(self, hasher: PasswordHasher) -> None:
        self.hasher = hasher
        self._dummy = hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        return self.hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        """True when `password` matches; `stored` None (no such user) costs the same and is False."""
        try:
            return bool(self.hasher.verify(stored or self._dummy, password)) and stored is not None
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        try:
            return self.hasher.check_needs_rehash(stored)
        except InvalidHashError:
            return True


def new_token() -> tuple[str, str]:
    """(the token to hand out, the digest to store)."""
    token = secrets.token_urlsafe(32)
    return token, token_digest(token)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Caller:
    user_id: int
    user: str
    device_id: str
    token_hash: str
    seen_at: datetime | None  # the device's last_seen_at as read
    next_seq: int  # the account's highest seq as read (under the account's row lock with lock_account)


def bearer(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header, or 401 unauthorized."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 256:
        raise unauthorized("Sign in to sync: this request carries no valid session token.")
    return token


def unauthorized(message: str, code: str = protocol.E_UNAUTHORIZED) -> ApiError:
    return ApiError(401, code, message, hint="Sign in again on this device.", headers={"WWW-Authenticate": "Bearer"})


_TOKENS, _DEVICES, _USERS = (Base.metadata.tables[name] for name in ("tokens", "devices", "users"))
# Every request runs this: a Core statement (no ORM loading), compiled once and cached.
_WHO = (
    select(_TOKENS.c.user_id, _TOKENS.c.device_id, _TOKENS.c.expires_at, _TOKENS.c.revoked_at,
           _DEVICES.c.revoked_at, _DEVICES.c.last_seen_at, _USERS.c.name, _USERS.c.next_seq)
    .join(_DEVICES, _DEVICES.c.id == _TOKENS.c.device_id)
    .join(_USERS, _USERS.c.id == _TOKENS.c.user_id)
    .where(_TOKENS.c.token_hash == bindparam("digest"))
)
# The same, taking the account's row lock (`FOR UPDATE OF users`; SQLite has none, and needs none
# under BEGIN IMMEDIATE): a push authenticates and locks in one round trip (store.py).
_WHO_LOCKING = _WHO.with_for_update(of=_USERS)


def authenticate(session: Session, token: str, now: datetime, *, lock_account: bool = False) -> Caller:
    digest = token_digest(token)
    row = session.connection().execute(_WHO_LOCKING if lock_account else _WHO, {"digest": digest}).one_or_none()
    if row is None:
        raise unauthorized("This session token is not known to the sync server.")
    user_id, device_id, expires_at, token_revoked, device_revoked, seen_at, name, next_seq = row
    if token_revoked is not None or device_revoked is not None:
        raise unauthorized("This device was signed out or removed from the account.", protocol.E_TOKEN_REVOKED)
    if expires_at <= now:
        raise unauthorized("This device's session has expired.", protocol.E_TOKEN_EXPIRED)
    return Caller(user_id, name, device_id, digest, seen_at, next_seq)


def touch(session: Session, caller: Caller, now: datetime) -> None:
    """Refresh the device's last_seen_at, at most every LAST_SEEN_EVERY (a write per request is waste)."""
    if caller.seen_at is None or now - caller.seen_at >= LAST_SEEN_EVERY:
        session.execute(update(Device).where(Device.id == caller.device_id).values(last_seen_at=now))


def needs_touch(caller: Caller, now: datetime) -> bool:
    return caller.seen_at is None or now - caller.seen_at >= LAST_SEEN_EVERY
