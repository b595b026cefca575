"""UUIDv7 ids and the hybrid logical clock."""

from __future__ import annotations

import uuid

import pytest

from app.core.sync.hlc import MAX_DRIFT_MS, ClockTooFarAhead, HybridClock, Timestamp
from app.core.sync.ids import is_uuid, uuid7


def test_uuid7_layout_and_time_order():
    ids = [uuid7(1_733_000_000_000 + i) for i in range(50)]
    for text in ids:
        parsed = uuid.UUID(text)
        assert parsed.version == 7 and parsed.variant == uuid.RFC_4122 and is_uuid(text)
        assert parsed.int >> 80 == int(text.replace("-", "")[:12], 16)
    assert ids == sorted(ids)  # later milliseconds sort later
    assert len(set(uuid7(5) for _ in range(1000))) == 1000
    with pytest.raises(ValueError):
        uuid7(-1)
    assert not is_uuid("not-a-uuid") and not is_uuid(str(uuid.uuid4()).upper())


def test_timestamps_round_trip_and_sort_as_strings():
    stamps = [Timestamp(1000, 0, "aa" * 4), Timestamp(1000, 1, "aa" * 4), Timestamp(999, 9, "ff" * 4),
              Timestamp(1000, 1, "bb" * 4)]
    assert sorted(stamps) == [Timestamp.parse(s) for s in sorted(str(t) for t in stamps)]
    assert Timestamp.parse(str(stamps[0])) == stamps[0]
    with pytest.raises(ValueError):
        Timestamp.parse("1000-0-aa")


def test_a_clock_behind_moves_past_what_it_observes():
    wall = {"now": 1_000}
    fast = HybridClock("a1" * 4, now_ms=lambda: wall["now"] + 60_000)  # a minute ahead
    slow = HybridClock("b2" * 4, now_ms=lambda: wall["now"])
    remote = fast.tick()
    slow.observe(remote)
    mine = slow.tick()
    assert mine > remote  # written after seeing it: sorts after it, whatever the wall clock says
    ticks = [slow.tick() for _ in range(100)]
    assert ticks == sorted(ticks) and len(set(ticks)) == 100


def test_counter_overflow_borrows_the_next_millisecond():
    clock = HybridClock("c3" * 4, now_ms=lambda: 5, last=Timestamp(5, 0xFFFE, "c3" * 4))
    a, b = clock.tick(), clock.tick()
    assert (a.wall_ms, a.counter) == (5, 0xFFFF) and (b.wall_ms, b.counter) == (6, 0) and b > a


def test_a_timestamp_far_in_the_future_is_refused_and_moves_nothing():
    clock = HybridClock("d4" * 4, now_ms=lambda: 10_000)
    before = clock.tick()
    with pytest.raises(ClockTooFarAhead):
        clock.observe(Timestamp(10_000 + MAX_DRIFT_MS + 1, 0, "e5" * 4))
    assert clock.last == before
    clock.observe(Timestamp(10_000 + MAX_DRIFT_MS, 0, "e5" * 4))  # a day ahead is still tolerated
    assert clock.tick().wall_ms == 10_000 + MAX_DRIFT_MS


def test_node_ids_are_checked():
    with pytest.raises(ValueError):
        HybridClock("NOT HEX")
