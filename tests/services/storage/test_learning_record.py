"""The learning record on a real SQLite file: progress as events, notes as registers, conflicts, sync hooks."""

from __future__ import annotations

import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import create_engine

from app.core.sync.records import Change, Event, LessonRef
from app.services.storage.database import MIGRATIONS, SCHEMA_VERSION
from app.services.storage.learning_record import LearningRecord, NoteInvalid, NoteNotFound

REF = LessonRef("python-basics", "05-loops", "while")


@pytest.fixture
def record(tmp_path):
    rec = LearningRecord(tmp_path / "a" / "lantern.sqlite3")
    yield rec
    rec.close()


@pytest.fixture
def other(tmp_path):
    rec = LearningRecord(tmp_path / "b" / "lantern.sqlite3")
    yield rec
    rec.close()


def exchange(src: LearningRecord, dst: LearningRecord) -> None:
    """What a sync round does, without the server: everything src has, applied to dst as one page."""
    records: list[Event | Change] = [*src.events(), *src.changes()]
    dst.apply_remote(records, cursor_name="test.cursor", cursor=len(records))


def test_marks_are_events_and_the_view_follows(record):
    assert record.mark("c", "l1", "opened") == "opened"
    assert record.mark("c", "l1", "opened") == "opened"  # no new event for the same state
    assert record.mark("c", "l1", "done") == "done"
    assert record.mark("c", "l1", "opened") == "done"  # opening a finished lesson keeps it finished
    assert record.mark("c", "l1", "opened", downgrade=True) == "opened"
    assert [e.kind for e in record.events()] == ["lesson.opened", "lesson.done", "lesson.undone"]
    assert record.states("c") == {"l1": "opened"}
    with pytest.raises(ValueError):
        record.mark("c", "l1", "finished")  # type: ignore[arg-type]


def test_notes_add_edit_delete(record):
    note = record.add_note(REF, "while runs until its condition is false")
    assert note.ref == REF and note.text.startswith("while") and not note.in_conflict
    assert record.edit_note(note.id, "while repeats").text == "while repeats"
    assert [n.text for n in record.notes("python-basics", "05-loops")] == ["while repeats"]
    assert record.notes("another-course") == []
    record.delete_note(note.id)
    assert record.notes() == []
    with pytest.raises(NoteNotFound):
        record.edit_note(note.id, "again")
    with pytest.raises(NoteNotFound):
        record.delete_note("0190a7a0-0000-7000-8000-000000000000")
    with pytest.raises(NoteInvalid):
        record.add_note(REF, "   ")
    with pytest.raises(NoteInvalid):
        record.add_note(REF, "x" * 20_001)


def test_notes_edited_on_two_devices_become_a_conflict_on_both_and_resolve(record, other):
    note = record.add_note(REF, "original")
    exchange(record, other)
    record.edit_note(note.id, "laptop text")
    other.edit_note(note.id, "phone text")
    exchange(record, other)
    exchange(other, record)
    for rec in (record, other):
        [seen] = rec.conflicts()
        assert {v.text for v in seen.versions} == {"laptop text", "phone text"}
    assert record.note(note.id).text == other.note(note.id).text  # the same winner on both
    # An ordinary edit replaces the shown version only: the other stays until resolved.
    record.edit_note(note.id, "laptop text, revised")
    assert record.note(note.id).in_conflict
    record.resolve_note(note.id, "both, merged")
    exchange(record, other)
    for rec in (record, other):
        assert rec.conflicts() == [] and rec.note(note.id).text == "both, merged"


def test_delete_on_one_device_and_edit_on_another_keeps_the_edit_visible(record, other):
    note = record.add_note(REF, "keep me")
    exchange(record, other)
    record.delete_note(note.id)
    other.edit_note(note.id, "I was still using this")
    exchange(record, other)
    exchange(other, record)
    for rec in (record, other):
        [seen] = rec.notes()
        assert seen.in_conflict and {v.text for v in seen.versions} == {None, "I was still using this"}
    record.resolve_note(note.id, None)  # the learner confirms the deletion
    exchange(record, other)
    assert record.notes() == [] and other.notes() == []


def test_bookmarks_roam_and_a_concurrent_clear_keeps_the_bookmark(record, other):
    record.set_bookmark(REF, True)
    exchange(record, other)
    assert other.bookmarks("python-basics") == [REF]
    other.set_bookmark(REF, False)
    record.set_bookmark(LessonRef("c", "l"), True)
    exchange(other, record)
    assert record.bookmarks() == [LessonRef("c", "l")]


def test_applying_a_page_twice_changes_nothing_and_marks_own_records_pushed(record, other):
    record.mark("c", "l1", "done")
    record.add_note(REF, "n")
    record.add_tutor_turn("c", question="q?", answer="a.", citations=[{"n": 1, "lesson_id": "l1"}],
                          answered_by="smollm2")
    exchange(record, other)
    exchange(record, other)
    assert len(other.events()) == len(record.events()) == 2
    assert len(other.changes()) == len(record.changes()) == 2
    assert other.states("c") == {"l1": "done"} and other.pending_count() == 0
    assert other.conversation("c")[0].answer == "a." and other.meta("test.cursor") == "4"
    assert record.pending_count() == 4
    exchange(other, record)  # our own records coming back from the server: now known to be pushed
    assert record.pending_count() == 0


def test_pending_and_mark_pushed(record):
    record.mark("c", "l1", "opened")
    note = record.add_note(REF, "n")
    pending = record.pending(10)
    assert [r.hlc for r in pending] == sorted(r.hlc for r in pending) and len(pending) == 3
    record.mark_pushed([r.id for r in pending[:2]])
    assert record.pending_count() == 1 and record.pending(10)[0].id == pending[2].id
    record.mark_all_unpushed()
    assert record.pending_count() == 3
    assert note.id in {r.key for r in pending if isinstance(r, Change)}


def test_learning_events_are_validated(record):
    record.record_event("quiz.attempt", "c", "l1", {"question": "q1", "correct": True})
    assert record.events(kind="quiz.attempt")[0].data == {"question": "q1", "correct": True}
    with pytest.raises(ValueError):
        record.record_event("lesson.done", "c", "l1")  # progress goes through mark()


def test_two_stores_on_one_file_never_make_the_same_timestamp(tmp_path):
    path = tmp_path / "shared" / "lantern.sqlite3"
    stores = [LearningRecord(path, now_ms=lambda: 1_800_000_000_000) for _ in range(2)]  # a frozen wall clock
    try:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda i: stores[i % 2].record_event("review.log", "c", data={"i": i}), range(40)))
        stamps = [e.hlc for e in stores[0].events()]
        assert len(stamps) == 40 and len(set(stamps)) == 40
    finally:
        for store in stores:
            store.close()


def test_listeners_hear_local_writes_only(record, other):
    heard: list[int] = []
    remove = record.add_listener(lambda: heard.append(1))
    record.add_note(REF, "n")
    other.mark("c", "l", "done")
    exchange(other, record)  # a pulled page is not a local change: no new sync round for it
    assert heard == [1]
    remove()
    record.mark("c", "l2", "done")
    assert heard == [1]


def test_upgrade_turns_kept_progress_into_events(tmp_path):
    db_file = tmp_path / "old" / "lantern.sqlite3"
    db_file.parent.mkdir(parents=True)
    engine = create_engine(f"sqlite:///{db_file}")
    with engine.begin() as conn:  # a database as the release before the learning record left it
        for step in MIGRATIONS[:4]:
            step(conn)
        conn.exec_driver_sql("PRAGMA user_version = 4")
        conn.exec_driver_sql("INSERT INTO lesson_progress VALUES ('loops', '05-loops', 'done', '2025-03-01 10:00:00')")
        conn.exec_driver_sql("INSERT INTO lesson_progress VALUES ('loops', '06-funcs', 'opened', "
                             "'2025-03-02 11:00:00.250000')")
    engine.dispose()
    record = LearningRecord(db_file)
    try:
        assert record.states("loops") == {"05-loops": "done", "06-funcs": "opened"}
        kinds = sorted((e.lesson_id, e.kind) for e in record.events())
        assert kinds == [("05-loops", "lesson.done"), ("05-loops", "lesson.opened"), ("06-funcs", "lesson.opened")]
        assert record.pending_count() == 3  # they sync on the first round
        assert record.mark("loops", "06-funcs", "done") == "done"
        assert len({e.hlc for e in record.events()}) == 4
    finally:
        record.close()
    with sqlite3.connect(db_file) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()


@pytest.mark.parametrize("row", ["EventRow", "ChangeRow", "MetaRow", "LessonProgressRow"])
def test_migrated_schema_matches_the_orm_tables(tmp_path, row):
    from sqlalchemy import inspect

    import app.services.storage.learning_record as lr
    from app.services.storage.database import open_database

    engine = open_database(tmp_path / "schema" / "lantern.sqlite3")
    try:
        table = getattr(lr, row).__table__
        insp = inspect(engine)
        columns = {c["name"]: c for c in insp.get_columns(table.name)}
        assert set(columns) == {c.name for c in table.columns}
        for column in table.columns:
            assert columns[column.name]["nullable"] == column.nullable, column.name
            assert columns[column.name]["type"]._type_affinity is column.type._type_affinity, column.name
        indexes = {i["name"]: tuple(i["column_names"]) for i in insp.get_indexes(table.name)}
        assert indexes == {i.name: tuple(c.name for c in i.columns) for i in table.indexes}
    finally:
        engine.dispose()


def test_nothing_too_big_for_one_sync_record_is_stored(record):
    from app.core.sync.records import RECORD_BODY_MAX_BYTES

    with pytest.raises(NoteInvalid):
        record.add_note(REF, "😀" * 19_000)  # under the character limit, over a sync record's bytes
    turn = record.add_tutor_turn("c", question="q?", answer="long answer " * 20_000, citations=[],
                                 answered_by="local:m")
    assert turn.data["truncated"] and turn.data["answer"].startswith("long answer")
    assert len(json.dumps(turn.body()).encode()) <= RECORD_BODY_MAX_BYTES
    with pytest.raises(ValueError):
        record.record_event("quiz.attempt", "c", data={"blob": "x" * RECORD_BODY_MAX_BYTES})
