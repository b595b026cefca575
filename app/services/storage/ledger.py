"""The savings ledger (table `answer_ledger`): one row per tutor answer, as app.core.ledger describes.

The router records each answer here (`AppServices.chat_router` passes `LedgerStore.record`); `lantern
stats`, the dashboard, the monthly cloud budget and `lantern router calibrate` read it back. Entries are
checked before anything is written: a wrong entry would skew every share and sum shown afterwards,
so it is refused (ValueError naming the field) rather than stored.

Rows from `lantern eval routing` carry `source="eval"`; readers ask for `source="app"` (the default) so
an evaluation never counts as the learner's own savings.
"""

from __future__ import annotations

import math
from dataclasses import fields, replace
from datetime import datetime
from typing import Any, get_args

from sqlalchemy import Boolean, Float, Integer, String, delete, func, select
from sqlalchemy.orm import Mapped, mapped_column

from app.core.ledger import EntrySource, LedgerEntry, Route
from app.services.storage.database import Base, DatabaseStore, UTCDateTime

WHERE_VALUES = ("on-device", "cloud")


class LedgerRow(Base):
    __tablename__ = "answer_ledger"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    course_id: Mapped[str] = mapped_column(String)
    question_kind: Mapped[str] = mapped_column(String)
    route: Mapped[str] = mapped_column(String)
    reason: Mapped[str] = mapped_column(String)
    reason_code: Mapped[str] = mapped_column(String)
    model: Mapped[str] = mapped_column(String)
    location: Mapped[str] = mapped_column(String)  # LedgerEntry.where ("where" is an SQL keyword)
    tokens_in: Mapped[int] = mapped_column(Integer)
    tokens_out: Mapped[int] = mapped_column(Integer)
    ttft_s: Mapped[float | None] = mapped_column(Float)
    total_s: Mapped[float] = mapped_column(Float)
    cost_usd: Mapped[float] = mapped_column(Float)
    cost_if_cloud_usd: Mapped[float | None] = mapped_column(Float)
    fell_back: Mapped[bool] = mapped_column(Boolean)
    fallback_reason: Mapped[str | None] = mapped_column(String)
    quality: Mapped[str | None] = mapped_column(String)
    cloud_probability: Mapped[float | None] = mapped_column(Float)
    local_attempt_s: Mapped[float | None] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String)


_COLUMNS = [f.name for f in fields(LedgerEntry) if f.name not in ("id", "where")]


def _to_row(entry: LedgerEntry) -> LedgerRow:
    return LedgerRow(location=entry.where, **{name: getattr(entry, name) for name in _COLUMNS})


def _to_entry(row: LedgerRow) -> LedgerEntry:
    return LedgerEntry(id=row.id, where=row.location, **{name: getattr(row, name) for name in _COLUMNS})  # type: ignore[arg-type]


def _check_number(name: str, value: Any, *, optional: bool = False, integer: bool = False,
                  at_most: float | None = None) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
        raise ValueError(f"ledger entry: {name} must be {'an integer' if integer else 'a number'}, not {value!r}")
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"ledger entry: {name} must be a finite number of at least 0, not {value!r}")
    if at_most is not None and number > at_most:
        raise ValueError(f"ledger entry: {name} must be at most {at_most}, not {value!r}")


def validate_entry(entry: LedgerEntry) -> None:
    """Raise ValueError (saying which field and why) for an entry that must not be stored."""
    if not isinstance(entry, LedgerEntry):
        raise ValueError(f"not a LedgerEntry: {entry!r}")
    if not isinstance(entry.at, datetime) or entry.at.tzinfo is None or entry.at.utcoffset() is None:
        raise ValueError(f"ledger entry: at must be a timezone-aware datetime, not {entry.at!r}")
    for name, value, allowed in (("route", entry.route, get_args(Route)), ("where", entry.where, WHERE_VALUES),
                                 ("source", entry.source, get_args(EntrySource))):
        if value not in allowed:
            raise ValueError(f"ledger entry: {name} must be one of {', '.join(allowed)}, not {value!r}")
    for name in ("course_id", "question_kind", "reason", "reason_code", "model"):
        if not isinstance(getattr(entry, name), str):
            raise ValueError(f"ledger entry: {name} must be text, not {getattr(entry, name)!r}")
    if not entry.question_kind or not entry.reason_code:
        raise ValueError("ledger entry: question_kind and reason_code must not be empty")
    _check_number("tokens_in", entry.tokens_in, integer=True)
    _check_number("tokens_out", entry.tokens_out, integer=True)
    _check_number("total_s", entry.total_s)
    _check_number("ttft_s", entry.ttft_s, optional=True)
    _check_number("local_attempt_s", entry.local_attempt_s, optional=True)
    _check_number("cost_usd", entry.cost_usd)
    _check_number("cost_if_cloud_usd", entry.cost_if_cloud_usd, optional=True)
    _check_number("cloud_probability", entry.cloud_probability, optional=True, at_most=1.0)
    if not isinstance(entry.fell_back, bool):
        raise ValueError(f"ledger entry: fell_back must be True or False, not {entry.fell_back!r}")


class LedgerStore(DatabaseStore):
    def record(self, entry: LedgerEntry) -> LedgerEntry:
        """Store one answer; returns it with its `id`. A wrong entry is a ValueError and nothing is stored."""
        validate_entry(entry)
        with self._session(write=True) as session:
            row = _to_row(entry)
            session.add(row)
            session.flush()
            return replace(entry, id=row.id)

    def entries(self, *, since: datetime | None = None, source: str | None = "app",
                limit: int | None = None) -> list[LedgerEntry]:
        """Answers at or after `since` from `source` (None: every source), oldest first; with `limit`,
        only the newest `limit` of them (still oldest first)."""
        if since is not None and (since.tzinfo is None or since.utcoffset() is None):
            raise ValueError(f"since must be a timezone-aware datetime, not {since!r}")
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be at least 0, not {limit}")
        query = select(LedgerRow)
        if since is not None:
            query = query.where(LedgerRow.at >= since)
        if source is not None:
            query = query.where(LedgerRow.source == source)
        if limit is not None:
            query = query.order_by(LedgerRow.at.desc(), LedgerRow.id.desc()).limit(limit)
        else:
            query = query.order_by(LedgerRow.at, LedgerRow.id)
        with self._session() as session:
            rows = list(session.scalars(query))
        if limit is not None:
            rows.reverse()
        return [_to_entry(row) for row in rows]

    def count(self, *, source: str | None = "app") -> int:
        query = select(func.count()).select_from(LedgerRow)
        if source is not None:
            query = query.where(LedgerRow.source == source)
        with self._session() as session:
            return int(session.scalar(query) or 0)

    def clear(self, *, source: str | None = "app") -> int:
        """Delete the answers from `source` (None: all); returns how many went."""
        statement = delete(LedgerRow)
        if source is not None:
            statement = statement.where(LedgerRow.source == source)
        with self._session(write=True) as session:
            return int(session.execute(statement).rowcount or 0)  # type: ignore[attr-defined]
