"""The server's tables (SQLAlchemy 2 ORM). migrations/versions/ creates them as frozen steps;
tests/services/sync/server/test_migrations.py checks that the migrated schema and these classes agree.

Times are naive UTC (`UTCDateTime`): SQLite has no time zones, and one representation on both
databases keeps comparisons in SQL simple. Passwords are Argon2id hashes and tokens are sha256
digests: a copy of the database gives nobody a way to sign in.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, MetaData, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from app.services.storage.database import UTCDateTime  # one way to store UTC times, here and on the device

# SQLite gives an automatic key only to "INTEGER PRIMARY KEY"; PostgreSQL gets a 64-bit one.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    """Declarative base of the sync server's database (not the desktop app's). Named constraints, so
    the migrations can name them the same way on both databases."""

    metadata = MetaData(naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s",
    })


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    # The account's highest seq. A push takes this row FOR UPDATE, so pushes of one account commit
    # one after another, in seq order (store.py).
    next_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Device(Base):
    """One sign-in: each login makes a device with one token; revoking it ends that token."""

    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Token(Base):
    __tablename__ = "tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the bearer token
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class StoredRecord(Base):
    """A learning record as pushed: the body is the JSON text, the rest is kept for queries.

    The primary key leads with the record id, so "which of these ids does the account have" (every
    push asks it) is answered by that index alone, whatever the planner believes about the account
    (PostgreSQL's statistics know nothing of an account created since the last ANALYZE, and then
    preferred scanning all its records through the (user_id, seq) index: 100 ms for 6,000 records).
    No foreign keys: each would run a trigger per inserted row, and the only writer is the push,
    which takes user_id and device_id from the caller's verified token.
    """

    __tablename__ = "records"
    __table_args__ = (UniqueConstraint("user_id", "seq", name="uq_records_user_seq"),)  # the pull index

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(32))
    hlc: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    device_id: Mapped[str] = mapped_column(String(36))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuthAttempt(Base):
    """One counted attempt (a failed login, a registration) for a rate-limit key (ratelimit.py)."""

    __tablename__ = "auth_attempts"
    __table_args__ = (Index("ix_auth_attempts_scope_key_at", "scope", "key", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
