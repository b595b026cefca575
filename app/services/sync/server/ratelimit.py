"""Login and registration limits, counted in the database so every API process sees the same counts.

A failed login counts against the account name asked for (whether or not it exists, so the limit
says nothing about which accounts exist) and against the client's address; while either is over
its limit, every login for it is refused with 429 and Retry-After, even one with the right
password. A successful login clears the account's count (not the address's). Registrations count
against the address. IPv6 clients are counted by their /64, the block one subscriber usually holds.

Counts are a sliding window over `auth_attempts` rows; rows older than a day are deleted as new
ones arrive. The check and the count are separate transactions, so a burst of parallel attempts
can overshoot a limit by the burst's size: a brake on guessing, not an exact quota.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.services.sync import protocol
from app.services.sync.server.errors import ApiError
from app.services.sync.server.models import AuthAttempt

LOGIN_ACCOUNT, LOGIN_ADDRESS, REGISTER_ADDRESS = "login-user", "login-addr", "register-addr"
KEEP = timedelta(days=1)


@dataclass(frozen=True)
class RateLimits:
    login_window_s: int = 600
    login_per_account: int = 5    # failed logins per account name per window
    login_per_address: int = 20   # failed logins per client address per window
    register_window_s: int = 3600
    register_per_address: int = 10  # registrations per client address per window


def address_key(host: str | None) -> str:
    if not host:
        return "unknown"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host[:128]
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is None:
        return str(ipaddress.IPv6Network(f"{ip}/64", strict=False))
    return str(ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped else ip)


def retry_after_s(session: Session, scope: str, key: str, *, limit: int, window_s: int, now: datetime) -> int | None:
    """Seconds until `key` is under `limit` again, or None when it is under it now."""
    if limit <= 0:
        return None
    window = timedelta(seconds=window_s)
    # The limit-th newest attempt in the window: once it ages out, fewer than `limit` remain.
    at = session.execute(
        select(AuthAttempt.at)
        .where(AuthAttempt.scope == scope, AuthAttempt.key == key, AuthAttempt.at > now - window)
        .order_by(AuthAttempt.at.desc()).limit(1).offset(limit - 1)
    ).scalar_one_or_none()
    if at is None:
        return None
    return max(1, math.ceil((at + window - now).total_seconds()))


def check(session: Session, scope: str, key: str, *, limit: int, window_s: int, now: datetime, what: str) -> None:
    wait = retry_after_s(session, scope, key, limit=limit, window_s=window_s, now=now)
    if wait is not None:
        minutes = max(1, math.ceil(wait / 60))
        raise ApiError(429, protocol.E_RATE_LIMITED,
                       f"Too many {what}. Try again in {minutes} minute{'s' if minutes != 1 else ''}.",
                       hint="Wait before trying again; the server counts attempts to stop password guessing.",
                       headers={"Retry-After": str(wait)})


def count(session: Session, scope: str, key: str, now: datetime) -> None:
    session.execute(delete(AuthAttempt).where(AuthAttempt.at < now - KEEP))
    session.add(AuthAttempt(scope=scope, key=key, at=now))


def clear(session: Session, scope: str, key: str) -> None:
    session.execute(delete(AuthAttempt).where(AuthAttempt.scope == scope, AuthAttempt.key == key))
