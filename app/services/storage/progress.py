"""Lesson progress (table `lesson_progress`): which lessons the learner opened and finished.

The sidebar's marks come from here. Each call is one short session, so the store can be shared
between threads; the GUI still calls it on its database worker (DESIGN.md, "Threading").
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal, get_args

from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, mapped_column

from app.services.storage.database import Base, DatabaseStore, UTCDateTime

LessonState = Literal["opened", "done"]
_RANK = {"opened": 1, "done": 2}


class LessonProgressRow(Base):
    __tablename__ = "lesson_progress"

    course_id: Mapped[str] = mapped_column(String, primary_key=True)
    lesson_id: Mapped[str] = mapped_column(String, primary_key=True)
    state: Mapped[str] = mapped_column(String)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ProgressStore(DatabaseStore):
    def states(self, course_id: str) -> dict[str, LessonState]:
        with self._session() as session:
            rows = session.scalars(select(LessonProgressRow).where(LessonProgressRow.course_id == course_id))
            return {row.lesson_id: row.state for row in rows}  # type: ignore[misc]

    def mark(self, course_id: str, lesson_id: str, state: LessonState, *, downgrade: bool = False) -> LessonState:
        """Record `state`; opening a finished lesson keeps it finished unless `downgrade` (an explicit
        "mark as not done"). Returns the state now stored."""
        if state not in get_args(LessonState):
            raise ValueError(f"unknown lesson state {state!r}")
        with self._session(write=True) as session:
            row = session.get(LessonProgressRow, (course_id, lesson_id))
            now = datetime.now(UTC)
            if row is None:
                session.add(LessonProgressRow(course_id=course_id, lesson_id=lesson_id, state=state, updated_at=now))
                return state
            if downgrade or _RANK[state] > _RANK.get(row.state, 0):
                row.state, row.updated_at = state, now
            return row.state  # type: ignore[return-value]
