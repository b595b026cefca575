"""The learning record on this device: what the learner did and wrote, kept so it can sync.

Facts are append-only events (`sync_events`): lessons opened and finished, tutor answers, quiz
attempts, hint requests, reviews. Editable things are register changes (`sync_changes`): notes per
lesson section, bookmarks. Every record has a UUIDv7 id and a hybrid-clock timestamp made here
(app.core.sync); the views the app shows (lesson states, note text, conflicts) are derived from the
records with app.core.sync.merge, so any two devices holding the same records show the same thing.
`lesson_progress` is such a view, kept as a table because the sidebar reads it often.

Timestamps are made inside the write transaction, after reading the newest one stored: the GUI and
a CLI command share this file and this device's clock node, and the write lock orders them.

Sync (app.services.sync.client) reads `pending()`, marks what the server took with `mark_pushed`,
and applies each pulled page with `apply_remote` in one transaction; applying a page twice is a no-op.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, get_args

from sqlalchemy import Boolean, Index, String, func, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from app.core.errors import LanternError
from app.core.i18n import _
from app.core.sync.hlc import ClockTooFarAhead, HybridClock, Timestamp
from app.core.sync.ids import uuid7
from app.core.sync.merge import FieldState, lesson_state, register_states
from app.core.sync.records import (
    LESSON_KINDS,
    NOTE_TEXT_MAX,
    RECORD_BODY_MAX_BYTES,
    Change,
    Event,
    LessonRef,
    body_size,
)
from app.services.storage.database import Base, DatabaseStore, UTCDateTime

log = logging.getLogger(__name__)

LessonState = Literal["opened", "done"]
LEARNING_EVENT_KINDS = ("quiz.attempt", "hint.request", "review.log")


class NoteNotFound(KeyError, LanternError):
    """No note with that id (or it was deleted)."""

    def __str__(self) -> str:
        return LanternError.__str__(self)


class NoteInvalid(ValueError, LanternError):
    """A note that cannot be stored (empty or too long)."""


# --- tables -----------------------------------------------------------------------------------

class LessonProgressRow(Base):
    __tablename__ = "lesson_progress"

    course_id: Mapped[str] = mapped_column(String, primary_key=True)
    lesson_id: Mapped[str] = mapped_column(String, primary_key=True)
    state: Mapped[str] = mapped_column(String)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class EventRow(Base):
    __tablename__ = "sync_events"
    __table_args__ = (Index("ix_sync_events_lesson", "course_id", "lesson_id"),)

    id: Mapped[str] = mapped_column(String, primary_key=True)
    kind: Mapped[str] = mapped_column(String)
    hlc: Mapped[str] = mapped_column(String, index=True)
    course_id: Mapped[str] = mapped_column(String)
    lesson_id: Mapped[str | None] = mapped_column(String, nullable=True)
    data: Mapped[str] = mapped_column(String)
    pushed: Mapped[bool] = mapped_column(Boolean, index=True)

    def event(self) -> Event:
        return Event(self.id, self.kind, self.hlc, self.course_id, self.lesson_id, json.loads(self.data))


class ChangeRow(Base):
    __tablename__ = "sync_changes"
    __table_args__ = (Index("ix_sync_changes_key", "entity", "key"),)

    id: Mapped[str] = mapped_column(String, primary_key=True)
    entity: Mapped[str] = mapped_column(String)
    key: Mapped[str] = mapped_column(String)
    field: Mapped[str] = mapped_column(String)
    value: Mapped[str] = mapped_column(String)
    hlc: Mapped[str] = mapped_column(String, index=True)
    base: Mapped[str] = mapped_column(String)
    pushed: Mapped[bool] = mapped_column(Boolean, index=True)

    def change(self) -> Change:
        return Change(self.id, self.entity, self.key, self.field, json.loads(self.value), self.hlc,
                      tuple(json.loads(self.base)))


class MetaRow(Base):
    __tablename__ = "sync_meta"

    name: Mapped[str] = mapped_column(String, primary_key=True)
    value: Mapped[str] = mapped_column(String)


# --- what callers get -------------------------------------------------------------------------

@dataclass(frozen=True)
class NoteVersion:
    """One of a note's competing values: its text (None: deleted there) and when and where written."""

    text: str | None
    at: datetime
    node: str
    change_id: str


@dataclass(frozen=True)
class Note:
    id: str
    ref: LessonRef
    text: str | None  # None: deleted (shown only while a conflict keeps it alive)
    updated_at: datetime
    versions: tuple[NoteVersion, ...] = ()  # two or more while edits on two devices compete

    @property
    def in_conflict(self) -> bool:
        return len(self.versions) > 1


@dataclass(frozen=True)
class TutorTurn:
    id: str
    at: datetime
    question: str
    answer: str
    citations: list[dict[str, Any]]
    answered_by: str


@dataclass(frozen=True)
class Applied:
    """What applying a pulled page changed here."""

    events: int
    changes: int


def _at(hlc: str) -> datetime:
    return datetime.fromtimestamp(Timestamp.parse(hlc).wall_ms / 1000, UTC)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


class LearningRecord(DatabaseStore):
    """Progress, notes, bookmarks, the tutor conversation and learning events of this device."""

    def __init__(self, database_file: Path, *, now_ms: Callable[[], int] | None = None) -> None:
        super().__init__(database_file)
        with self._session() as session:
            self.node = session.get_one(MetaRow, "node").value
        self._clock = HybridClock(self.node) if now_ms is None else HybridClock(self.node, now_ms=now_ms)
        self._listeners: list[Callable[[], None]] = []
        self._listeners_lock = threading.Lock()

    # -- change listeners (the sync scheduler debounces on these) ----------------------------------

    def add_listener(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener` after every local write; returns a function that removes it."""
        with self._listeners_lock:
            self._listeners.append(listener)

        def remove() -> None:
            with self._listeners_lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)
        return remove

    def _changed(self) -> None:
        with self._listeners_lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener()
            except Exception:
                log.exception("a learning-record listener failed")

    # -- writing -------------------------------------------------------------------------------------

    def _tick(self, session: Session) -> str:
        for newest in (session.scalar(select(func.max(EventRow.hlc))), session.scalar(select(func.max(ChangeRow.hlc)))):
            if newest:
                try:
                    self._clock.observe(Timestamp.parse(newest))
                except ClockTooFarAhead:
                    log.warning("ignoring a stored timestamp far in the future: %s", newest)
        return str(self._clock.tick())

    def _add_event(self, session: Session, kind: str, course_id: str, lesson_id: str | None,
                   data: dict[str, Any]) -> Event:
        hlc = self._tick(session)
        event = Event(uuid7(Timestamp.parse(hlc).wall_ms), kind, hlc, course_id, lesson_id, data)
        session.add(EventRow(id=event.id, kind=kind, hlc=hlc, course_id=course_id, lesson_id=lesson_id,
                             data=_dumps(data), pushed=False))
        return event

    def _add_change(self, session: Session, entity: str, key: str, field: str, value: Any,
                    base: Iterable[str]) -> Change:
        hlc = self._tick(session)
        change = Change(uuid7(Timestamp.parse(hlc).wall_ms), entity, key, field, value, hlc, tuple(sorted(base)))
        session.add(ChangeRow(id=change.id, entity=entity, key=key, field=field, value=_dumps(value), hlc=hlc,
                              base=_dumps(list(change.base)), pushed=False))
        return change

    # -- lesson progress -----------------------------------------------------------------------------

    def states(self, course_id: str) -> dict[str, LessonState]:
        with self._session() as session:
            rows = session.scalars(select(LessonProgressRow).where(LessonProgressRow.course_id == course_id))
            return {row.lesson_id: row.state for row in rows}  # type: ignore[misc]

    def mark(self, course_id: str, lesson_id: str, state: LessonState, *, downgrade: bool = False) -> LessonState:
        """Record `state`; opening a finished lesson keeps it finished unless `downgrade` (an explicit
        "mark as not done"). Returns the state now. Only a change of state becomes an event."""
        if state not in get_args(LessonState):
            raise ValueError(f"unknown lesson state {state!r}")
        with self._session(write=True) as session:
            row = session.get(LessonProgressRow, (course_id, lesson_id))
            current = row.state if row is not None else None
            kind = None
            if state == "done" and current != "done":
                kind = "lesson.done"
            elif state == "opened" and current is None:
                kind = "lesson.opened"
            elif state == "opened" and current == "done" and downgrade:
                kind = "lesson.undone"
            if kind is None:
                return current  # type: ignore[return-value]
            self._add_event(session, kind, course_id, lesson_id, {})
            session.flush()
            now = self._refresh_lesson(session, course_id, lesson_id)
        self._changed()
        return now  # type: ignore[return-value]

    def _refresh_lesson(self, session: Session, course_id: str, lesson_id: str) -> str | None:
        rows = session.scalars(select(EventRow).where(EventRow.course_id == course_id, EventRow.lesson_id == lesson_id,
                                                      EventRow.kind.in_(LESSON_KINDS)))
        state = lesson_state(row.event() for row in rows)
        row = session.get(LessonProgressRow, (course_id, lesson_id))
        if state is None:
            if row is not None:
                session.delete(row)
        elif row is None:
            session.add(LessonProgressRow(course_id=course_id, lesson_id=lesson_id, state=state,
                                          updated_at=datetime.now(UTC)))
        elif row.state != state:
            row.state, row.updated_at = state, datetime.now(UTC)
        return state

    # -- notes ---------------------------------------------------------------------------------------

    def add_note(self, ref: LessonRef, text: str) -> Note:
        text = _check_note_text(text)
        note_id = uuid7()
        with self._session(write=True) as session:
            self._add_change(session, "note", note_id, "ref", str(ref), ())
            self._add_change(session, "note", note_id, "text", text, ())
        self._changed()
        return self.note(note_id)

    def edit_note(self, note_id: str, text: str) -> Note:
        """Replace the text shown now; a competing version of a conflict stays until it is resolved."""
        return self._write_note(note_id, _check_note_text(text), replace_all=False)

    def delete_note(self, note_id: str) -> None:
        self._write_note(note_id, None, replace_all=False)

    def resolve_note(self, note_id: str, text: str | None) -> Note:
        """End a conflict: `text` replaces every competing version (None keeps the note deleted)."""
        return self._write_note(note_id, None if text is None else _check_note_text(text), replace_all=True)

    def _write_note(self, note_id: str, text: str | None, *, replace_all: bool) -> Note:
        with self._session(write=True) as session:
            fields = self._register(session, "note", note_id)
            current = fields.get("text")
            if current is None or "ref" not in fields or (current.value is None and not current.conflicts
                                                          and not replace_all):
                raise _note_not_found(note_id)
            if replace_all:
                base: tuple[str, ...] = current.heads
            else:
                competing = {c.hlc for c in current.conflicts}
                base = tuple(h for h in current.heads if h not in competing)
            self._add_change(session, "note", note_id, "text", text, base)
        self._changed()
        return self.note(note_id, include_deleted=True)

    def _register(self, session: Session, entity: str, key: str) -> dict[str, FieldState]:
        rows = session.scalars(select(ChangeRow).where(ChangeRow.entity == entity, ChangeRow.key == key))
        return register_states(row.change() for row in rows).get((entity, key), {})

    def note(self, note_id: str, *, include_deleted: bool = False) -> Note:
        with self._session() as session:
            fields = self._register(session, "note", note_id)
        note = _note_view(note_id, fields)
        if note is None or (note.text is None and not note.in_conflict and not include_deleted):
            raise _note_not_found(note_id)
        return note

    def notes(self, course_id: str | None = None, lesson_id: str | None = None) -> list[Note]:
        """Notes (those deleted everywhere left out), oldest first; a deleted note with a competing
        edit stays listed as a conflict."""
        with self._session() as session:
            rows = session.scalars(select(ChangeRow).where(ChangeRow.entity == "note"))
            registers = register_states(row.change() for row in rows)
        out = []
        for (_entity, key), fields in registers.items():
            note = _note_view(key, fields)
            if note is None or (note.text is None and not note.in_conflict):
                continue
            if course_id is not None and note.ref.course_id != course_id:
                continue
            if lesson_id is not None and note.ref.lesson_id != lesson_id:
                continue
            out.append(note)
        return sorted(out, key=lambda n: n.id)

    def conflicts(self) -> list[Note]:
        return [note for note in self.notes() if note.in_conflict]

    # -- bookmarks -----------------------------------------------------------------------------------

    def set_bookmark(self, ref: LessonRef, on: bool) -> None:
        with self._session(write=True) as session:
            state = self._register(session, "bookmark", str(ref)).get("on")
            if state is not None and state.value is on and not state.conflicts:
                return
            self._add_change(session, "bookmark", str(ref), "on", bool(on), state.heads if state else ())
        self._changed()

    def bookmarks(self, course_id: str | None = None) -> list[LessonRef]:
        """Bookmarked places; a bookmark set on one device and cleared on another stays set."""
        with self._session() as session:
            rows = session.scalars(select(ChangeRow).where(ChangeRow.entity == "bookmark"))
            registers = register_states(row.change() for row in rows)
        out = []
        for (_entity, key), fields in registers.items():
            state = fields.get("on")
            if state is None or not (state.value is True or any(c.value is True for c in state.conflicts)):
                continue
            ref = LessonRef.parse(key)
            if course_id is None or ref.course_id == course_id:
                out.append(ref)
        return sorted(out, key=str)

    # -- the tutor conversation and learning events ------------------------------------------------

    def add_tutor_turn(self, course_id: str, *, question: str, answer: str, citations: Sequence[dict[str, Any]],
                       answered_by: str) -> Event:
        """One question and its answer, with the passages cited and who answered (a model id, "cloud:…").
        A turn too big for one sync record keeps the start of its answer (marked `truncated`)."""
        data: dict[str, Any] = {"question": question[:4000], "answer": answer, "citations": list(citations)[:50],
                                "answered_by": answered_by}
        while body_size({"course_id": course_id, "lesson_id": None, "data": data}) > RECORD_BODY_MAX_BYTES - 512:
            data = {**data, "answer": data["answer"][: len(data["answer"]) * 3 // 4], "truncated": True}
        return self.record_event("tutor.turn", course_id, data=data)

    def conversation(self, course_id: str) -> list[TutorTurn]:
        turns = []
        for event in self.events(course_id=course_id, kind="tutor.turn"):
            d = event.data
            turns.append(TutorTurn(event.id, _at(event.hlc), str(d.get("question", "")), str(d.get("answer", "")),
                                   list(d.get("citations", [])), str(d.get("answered_by", ""))))
        return turns

    def record_event(self, kind: str, course_id: str, lesson_id: str | None = None,
                     data: dict[str, Any] | None = None) -> Event:
        """Append a fact: "tutor.turn", or one of LEARNING_EVENT_KINDS (quiz attempts, hints, reviews)."""
        return self.record_events([(kind, course_id, lesson_id, data)])[0]

    def record_events(self, items: Sequence[tuple[str, str, str | None, dict[str, Any] | None]]) -> list[Event]:
        """Append several facts in one transaction: an attempt and the review it makes are kept together
        or not at all, even if the app is killed between them."""
        for kind, course_id, lesson_id, data in items:
            if kind not in ("tutor.turn", *LEARNING_EVENT_KINDS):
                raise ValueError(f"unknown event kind {kind!r}")
            body = {"course_id": course_id, "lesson_id": lesson_id, "data": data or {}}
            if body_size(body) > RECORD_BODY_MAX_BYTES - 512:
                # The sync server refuses a bigger record, and one refused record would hold up every later one.
                raise ValueError(f"a {kind} event is at most {RECORD_BODY_MAX_BYTES // 1024} KiB")
        with self._session(write=True) as session:
            events = [self._add_event(session, kind, course_id, lesson_id, dict(data or {}))
                      for kind, course_id, lesson_id, data in items]
        self._changed()
        return events

    def events(self, *, course_id: str | None = None, kind: str | None = None) -> list[Event]:
        """Events in timestamp order (the same on every device)."""
        query = select(EventRow).order_by(EventRow.hlc, EventRow.id)
        if course_id is not None:
            query = query.where(EventRow.course_id == course_id)
        if kind is not None:
            query = query.where(EventRow.kind == kind)
        with self._session() as session:
            return [row.event() for row in session.scalars(query)]

    def changes(self) -> list[Change]:
        with self._session() as session:
            return [row.change() for row in session.scalars(select(ChangeRow).order_by(ChangeRow.hlc, ChangeRow.id))]

    # -- sync ----------------------------------------------------------------------------------------

    def pending(self, limit: int) -> list[Event | Change]:
        """Records the server does not have yet, oldest first (at most `limit`)."""
        with self._session() as session:
            events = session.scalars(select(EventRow).where(EventRow.pushed.is_(False)).order_by(EventRow.hlc)
                                     .limit(limit))
            changes = session.scalars(select(ChangeRow).where(ChangeRow.pushed.is_(False)).order_by(ChangeRow.hlc)
                                      .limit(limit))
            records: list[Event | Change] = [row.event() for row in events] + [row.change() for row in changes]
        return sorted(records, key=lambda r: r.hlc)[:limit]

    def pending_count(self) -> int:
        with self._session() as session:
            return int(session.scalar(select(func.count()).select_from(EventRow).where(EventRow.pushed.is_(False))) or 0
                       ) + int(session.scalar(select(func.count()).select_from(ChangeRow)
                                              .where(ChangeRow.pushed.is_(False))) or 0)

    def mark_pushed(self, ids: Sequence[str]) -> None:
        with self._session(write=True) as session:
            for start in range(0, len(ids), 500):
                chunk = list(ids[start:start + 500])
                session.execute(update(EventRow).where(EventRow.id.in_(chunk)).values(pushed=True))
                session.execute(update(ChangeRow).where(ChangeRow.id.in_(chunk)).values(pushed=True))

    def restamp_future(self, limit_ms: int) -> int:
        """Give this device's unpushed records dated after `limit_ms` new timestamps from a sane clock.

        A device whose clock was set days ahead stamped them so; the server refuses such records
        (clock_ahead), and fixing the clock alone would not help, since they keep their dates. Nobody
        else has seen them (they were never accepted), so they may be re-dated: in their order, after
        everything else held here, and every base that names an old timestamp is rewritten to match.
        Returns how many were re-dated."""
        threshold = f"{limit_ms + 1:016d}"
        with self._session(write=True) as session:
            events = list(session.scalars(select(EventRow).where(EventRow.pushed.is_(False),
                                                                 EventRow.hlc >= threshold)))
            changes = list(session.scalars(select(ChangeRow).where(ChangeRow.pushed.is_(False),
                                                                   ChangeRow.hlc >= threshold)))
            if not events and not changes:
                return 0
            sane = [session.scalar(select(func.max(EventRow.hlc)).where(EventRow.hlc < threshold)),
                    session.scalar(select(func.max(ChangeRow.hlc)).where(ChangeRow.hlc < threshold))]
            newest = max((Timestamp.parse(h) for h in sane if h), default=None)
            clock = HybridClock(self.node, last=newest and Timestamp(newest.wall_ms, newest.counter, self.node))
            renamed: dict[str, str] = {}
            rows: list[EventRow | ChangeRow] = [*events, *changes]
            for row in sorted(rows, key=lambda r: r.hlc):
                renamed[row.hlc] = row.hlc = str(clock.tick())
            for crow in session.scalars(select(ChangeRow).where(ChangeRow.pushed.is_(False))):
                base = json.loads(crow.base)
                if any(b in renamed for b in base):
                    crow.base = _dumps(sorted(renamed.get(b, b) for b in base))
            self._clock = clock  # the old one had moved past the bad dates and cannot go back
            touched = {(e.course_id, e.lesson_id) for e in events if e.kind in LESSON_KINDS and e.lesson_id}
            session.flush()
            for course_id, lesson_id in touched:
                self._refresh_lesson(session, course_id, lesson_id)
        log.warning("re-dated %d records stamped by a clock that was ahead", len(renamed))
        return len(renamed)

    def mark_all_unpushed(self) -> None:
        """Every record counts as not on the server (signing in to another account sends them all)."""
        with self._session(write=True) as session:
            session.execute(update(EventRow).values(pushed=False))
            session.execute(update(ChangeRow).values(pushed=False))

    def apply_remote(self, records: Sequence[Event | Change], *, cursor_name: str, cursor: int,
                     also: dict[str, str] | None = None) -> Applied:
        """Store a pulled page and move the cursor, in one transaction: a record already here is
        skipped (and counts as pushed), so a page applied twice changes nothing."""
        new_events = new_changes = 0
        touched: set[tuple[str, str]] = set()
        with self._session(write=True) as session:
            for record in records:
                if isinstance(record, Event):
                    row = session.get(EventRow, record.id)
                    if row is not None:
                        row.pushed = True
                        continue
                    session.add(EventRow(id=record.id, kind=record.kind, hlc=record.hlc, course_id=record.course_id,
                                         lesson_id=record.lesson_id, data=_dumps(dict(record.data)), pushed=True))
                    new_events += 1
                    if record.kind in LESSON_KINDS and record.lesson_id is not None:
                        touched.add((record.course_id, record.lesson_id))
                else:
                    crow = session.get(ChangeRow, record.id)
                    if crow is not None:
                        crow.pushed = True
                        continue
                    session.add(ChangeRow(id=record.id, entity=record.entity, key=record.key, field=record.field,
                                          value=_dumps(record.value), hlc=record.hlc, base=_dumps(list(record.base)),
                                          pushed=True))
                    new_changes += 1
            session.flush()
            for course_id, lesson_id in touched:
                self._refresh_lesson(session, course_id, lesson_id)
            _set_meta(session, cursor_name, str(cursor))
            for name, value in (also or {}).items():  # e.g. the id of the record at the cursor
                _set_meta(session, name, value)
        return Applied(new_events, new_changes)

    def meta(self, name: str) -> str | None:
        with self._session() as session:
            row = session.get(MetaRow, name)
            return None if row is None else row.value

    def set_meta(self, name: str, value: str | None) -> None:
        with self._session(write=True) as session:
            _set_meta(session, name, value)


def _set_meta(session: Session, name: str, value: str | None) -> None:
    row = session.get(MetaRow, name)
    if value is None:
        if row is not None:
            session.delete(row)
    elif row is None:
        session.add(MetaRow(name=name, value=value))
    else:
        row.value = value


def _check_note_text(text: str) -> str:
    if not text.strip():
        raise NoteInvalid(_("A note needs some text."), hint=_("To remove a note, delete it instead."))
    if len(text) > NOTE_TEXT_MAX or len(text.encode()) > RECORD_BODY_MAX_BYTES - 1024:  # one sync record
        raise NoteInvalid(_("This note is {n} characters long; a note holds at most {max}.").format(
            n=len(text), max=NOTE_TEXT_MAX), hint=_("Split it into several notes."))
    return text


def _note_not_found(note_id: str) -> NoteNotFound:
    return NoteNotFound(_("There is no note {id}.").format(id=note_id),
                        hint=_("`lantern notes list` shows the notes and their ids."))


def _note_view(note_id: str, fields: dict[str, FieldState]) -> Note | None:
    ref_state, text_state = fields.get("ref"), fields.get("text")
    if ref_state is None or text_state is None:
        return None  # a note's other half has not arrived yet
    try:
        ref = LessonRef.parse(str(ref_state.value))
    except ValueError:
        return None
    versions: tuple[NoteVersion, ...] = ()
    if text_state.conflicts:
        versions = tuple(NoteVersion(c.value, _at(c.hlc), Timestamp.parse(c.hlc).node, c.id)
                         for c in (text_state.winner, *text_state.conflicts))
    return Note(note_id, ref, text_state.value, _at(text_state.winner.hlc), versions)
