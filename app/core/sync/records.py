"""The two record shapes of the learning record, and the references they use.

- `Event`: a fact, never edited (a lesson opened or finished, a tutor answer, a quiz attempt, a hint
  request, a review). Sets of events merge by union on their id.
- `Change`: one write to one field of a register (a note's text, a bookmark being on). `base` names
  the changes (by timestamp) the writer had seen as the field's current value, so a reader can tell
  an overwrite (it names what it replaced) from a concurrent edit (it does not): see merge.py.
  Deleting is writing the tombstone value None.

Both travel as the same wire record (protocol.py): id, type, kind, hlc, body.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

# Facts. "lesson.undone" is the explicit "mark as not done" (an opened lesson that was done).
LESSON_KINDS = ("lesson.opened", "lesson.done", "lesson.undone")
EVENT_KINDS = (*LESSON_KINDS, "tutor.turn", "quiz.attempt", "hint.request", "review.log")
# Registers: a note (fields "ref" and "text"), a bookmark (field "on"), a roaming setting (field "value").
ENTITIES = ("note", "bookmark", "setting")
NOTE_TEXT_MAX = 20_000
RECORD_BODY_MAX_BYTES = 64 * 1024  # one tutor answer with its citations fits many times over

RecordType = Literal["event", "change"]
_ID_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


@dataclass(frozen=True)
class Event:
    id: str
    kind: str
    hlc: str
    course_id: str
    lesson_id: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        return {"course_id": self.course_id, "lesson_id": self.lesson_id, "data": dict(self.data)}


@dataclass(frozen=True)
class Change:
    id: str
    entity: str
    key: str
    field: str
    value: Any
    hlc: str
    base: tuple[str, ...] = ()

    def body(self) -> dict[str, Any]:
        return {"key": self.key, "field": self.field, "value": self.value, "base": list(self.base)}


def event_from_body(record_id: str, kind: str, hlc: str, body: Mapping[str, Any]) -> Event:
    """The event a wire record carries; ValueError if the body is not one."""
    course, lesson, data = body.get("course_id"), body.get("lesson_id"), body.get("data", {})
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown event kind {kind!r}")
    if not isinstance(course, str) or not _ID_PART.fullmatch(course):
        raise ValueError("an event needs a course_id")
    if lesson is not None and not isinstance(lesson, str):
        raise ValueError("lesson_id must be a string")
    if not isinstance(data, dict):
        raise ValueError("event data must be an object")
    return Event(record_id, kind, hlc, course, lesson, data)


def change_from_body(record_id: str, entity: str, hlc: str, body: Mapping[str, Any]) -> Change:
    """The register change a wire record carries; ValueError if the body is not one."""
    key, name, base = body.get("key"), body.get("field"), body.get("base", [])
    if entity not in ENTITIES:
        raise ValueError(f"unknown register {entity!r}")
    if not isinstance(key, str) or not key or len(key) > 300:
        raise ValueError("a change needs a key")
    if not isinstance(name, str) or not name or len(name) > 40:
        raise ValueError("a change needs a field")
    if not isinstance(base, list) or not all(isinstance(b, str) for b in base) or len(base) > 64:
        raise ValueError("base must be a list of timestamps")
    return Change(record_id, entity, key, name, body.get("value"), hlc, tuple(base))


def body_size(body: Mapping[str, Any]) -> int:
    return len(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode())


@dataclass(frozen=True)
class LessonRef:
    """`course/lesson[#section]`, how the CLI and notes name a place in a course."""

    course_id: str
    lesson_id: str
    section: str | None = None

    @classmethod
    def parse(cls, text: str) -> LessonRef:
        place, _, section = text.partition("#")
        course, slash, lesson = place.partition("/")
        if not slash or not _ID_PART.fullmatch(course) or not lesson or len(lesson) > 200:
            raise ValueError(f"{text!r} is not a lesson reference: write course/lesson or course/lesson#section")
        return cls(course, lesson, section.strip() or None)

    def __str__(self) -> str:
        return f"{self.course_id}/{self.lesson_id}" + (f"#{self.section}" if self.section else "")
