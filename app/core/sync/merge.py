"""Merges: the views every device derives from the same set of records, identically.

A register field is a multi-value register: its *heads* are the changes no other change names in
its `base` (nobody overwrote them having seen them). One head is the plain case. Two or more heads
are concurrent edits (two devices edited offline): the one with the latest timestamp is shown, and
the others are kept as a conflict until the learner resolves it — by a change whose base names every
head. Nothing is thrown away, and no order of arrival changes the result (ties break on the id).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from app.core.sync.records import Change, Event


@dataclass(frozen=True)
class FieldState:
    value: Any
    winner: Change
    conflicts: tuple[Change, ...] = ()  # other heads with a different value, latest first
    heads: tuple[str, ...] = ()  # what a new write names as its base to replace every current value


def field_state(changes: Iterable[Change]) -> FieldState | None:
    changes = list(changes)
    if not changes:
        return None
    replaced = {hlc for c in changes for hlc in c.base}
    heads = sorted((c for c in changes if c.hlc not in replaced), key=lambda c: (c.hlc, c.id), reverse=True)
    if not heads:  # only with a cycle, which honest clocks cannot make: fall back to the latest
        heads = sorted(changes, key=lambda c: (c.hlc, c.id), reverse=True)
    winner = heads[0]
    seen: list[Any] = [winner.value]
    conflicts = []
    for head in heads[1:]:
        if head.value not in seen:  # two devices writing the same text is not a conflict
            seen.append(head.value)
            conflicts.append(head)
    # Same-valued heads are no conflict but are still heads: the next write names them too.
    return FieldState(winner.value, winner, tuple(conflicts), tuple(sorted({h.hlc for h in heads})))


def register_states(changes: Iterable[Change]) -> dict[tuple[str, str], dict[str, FieldState]]:
    """{(entity, key): {field: state}} for every register the changes touch."""
    grouped: dict[tuple[str, str], dict[str, list[Change]]] = defaultdict(lambda: defaultdict(list))
    for change in changes:
        grouped[(change.entity, change.key)][change.field].append(change)
    out: dict[tuple[str, str], dict[str, FieldState]] = {}
    for register, fields in grouped.items():
        out[register] = {name: state for name, items in fields.items() if (state := field_state(items)) is not None}
    return out


def lesson_state(events: Iterable[Event]) -> str | None:
    """A lesson's state from its lesson.* events: "done" when the latest done/undone says so, else
    "opened" once anything happened, else None. Opening a finished lesson keeps it finished."""
    latest_mark: Event | None = None
    touched = False
    for event in events:
        if event.kind not in ("lesson.opened", "lesson.done", "lesson.undone"):
            continue
        touched = True
        if event.kind == "lesson.opened":
            continue
        if latest_mark is None or (event.hlc, event.id) > (latest_mark.hlc, latest_mark.id):
            latest_mark = event
    if not touched:
        return None
    return "done" if latest_mark is not None and latest_mark.kind == "lesson.done" else "opened"
