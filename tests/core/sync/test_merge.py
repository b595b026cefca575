"""Register merges and lesson states: the same set of records gives the same view in any order."""

from __future__ import annotations

import itertools

from app.core.sync.merge import field_state, lesson_state, register_states
from app.core.sync.records import Change, Event, LessonRef


def change(hlc: str, value, base=(), cid=None, key="n1", field="text") -> Change:
    return Change(cid or f"id-{hlc}", "note", key, field, value, hlc, tuple(base))


def ts(ms: int, node: str = "aaaaaaaa", counter: int = 0) -> str:
    return f"{ms:016d}-{counter:04x}-{node}"


def test_a_chain_of_edits_has_one_head_and_no_conflict():
    a = change(ts(1), "first")
    b = change(ts(2), "second", base=[a.hlc])
    c = change(ts(3), "third", base=[b.hlc])
    for order in itertools.permutations([a, b, c]):
        state = field_state(order)
        assert state is not None and state.value == "third" and state.conflicts == () and state.heads == (c.hlc,)


def test_concurrent_edits_keep_the_loser_as_a_conflict_whatever_the_order():
    base = change(ts(1), "original")
    mine = change(ts(5, "aaaaaaaa"), "edited on the laptop", base=[base.hlc])
    theirs = change(ts(4, "bbbbbbbb"), "edited on the phone", base=[base.hlc])
    results = {(s.value, tuple(c.value for c in s.conflicts))
               for order in itertools.permutations([base, mine, theirs]) if (s := field_state(order))}
    assert results == {("edited on the laptop", ("edited on the phone",))}
    state = field_state([base, mine, theirs])
    assert state is not None and set(state.heads) == {mine.hlc, theirs.hlc}
    # A resolution names every head: afterwards one value, no conflict.
    resolved = change(ts(6), "merged", base=state.heads)
    after = field_state([base, mine, theirs, resolved])
    assert after is not None and after.value == "merged" and after.conflicts == ()


def test_an_edit_that_names_only_the_winner_leaves_the_conflict_open():
    base = change(ts(1), "original")
    a = change(ts(3, "aaaaaaaa"), "A", base=[base.hlc])
    b = change(ts(2, "bbbbbbbb"), "B", base=[base.hlc])
    edit = change(ts(4), "A, revised", base=[a.hlc])
    state = field_state([base, a, b, edit])
    assert state is not None and state.value == "A, revised" and [c.value for c in state.conflicts] == ["B"]


def test_delete_against_a_concurrent_edit_is_a_conflict_not_a_silent_loss():
    base = change(ts(1), "text")
    deleted = change(ts(3, "aaaaaaaa"), None, base=[base.hlc])
    edited = change(ts(2, "bbbbbbbb"), "text, improved", base=[base.hlc])
    state = field_state([base, deleted, edited])
    assert state is not None and state.value is None and [c.value for c in state.conflicts] == ["text, improved"]


def test_the_same_text_written_on_two_devices_is_no_conflict_but_both_are_heads():
    base = change(ts(1), "x")
    a = change(ts(2, "aaaaaaaa"), "same", base=[base.hlc])
    b = change(ts(2, "bbbbbbbb"), "same", base=[base.hlc])
    state = field_state([base, a, b])
    assert state is not None and state.conflicts == () and set(state.heads) == {a.hlc, b.hlc}


def test_register_states_group_by_register_and_field():
    ref = change(ts(1), "c/l#s", key="n2", field="ref")
    text = change(ts(2), "hello", key="n2")
    other = change(ts(3), "bye", key="n3")
    states = register_states([ref, text, other])
    assert set(states) == {("note", "n2"), ("note", "n3")}
    assert states[("note", "n2")]["ref"].value == "c/l#s" and states[("note", "n2")]["text"].value == "hello"


def event(kind: str, ms: int, node: str = "aaaaaaaa") -> Event:
    return Event(f"e-{kind}-{ms}-{node}", kind, ts(ms, node), "course", "lesson")


def test_lesson_state_from_events_in_any_order():
    opened, done, undone = event("lesson.opened", 1), event("lesson.done", 2), event("lesson.undone", 3)
    for order in itertools.permutations([opened, done, undone]):
        assert lesson_state(order) == "opened"
    assert lesson_state([opened, done]) == "done"
    assert lesson_state([event("lesson.opened", 9), done]) == "done"  # opening a finished lesson keeps it done
    assert lesson_state([]) is None
    assert lesson_state([opened, done, undone, event("lesson.done", 4, "bbbbbbbb")]) == "done"


def test_lesson_refs_parse_and_print():
    ref = LessonRef.parse("python-basics/05-loops#while loops")
    assert (ref.course_id, ref.lesson_id, ref.section) == ("python-basics", "05-loops", "while loops")
    assert str(ref) == "python-basics/05-loops#while loops"
    assert LessonRef.parse("c/l").section is None
    for bad in ("nolesson", "/l", "c/", "bad course/l"):
        try:
            LessonRef.parse(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} parsed")
