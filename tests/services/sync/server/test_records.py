"""Push and pull: seq numbering, idempotency, pagination, and accounts that cannot see each other."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.services.sync import protocol
from tests.services.sync.server.helpers import change, error_code, event


def test_push_then_pull_returns_the_records_in_order_with_seq_and_device(api):
    account = api.register()
    phone = api.login(account)
    sent = [event(), change(value={"rich": ["text", 1, None, True]}), event("tutor.turn", data={"q": "Xin chào"})]
    result = api.push_ok(account.token, sent)
    assert (result.accepted, result.duplicates, result.cursor) == (3, 0, 3)
    records = api.pull_all(phone.token)
    assert [r.seq for r in records] == [1, 2, 3]
    assert [protocol.record_dict(r) for r in records] == sent
    assert {r.device_id for r in records} == {account.device_id}  # from the token, not the body


def test_pushing_the_same_page_again_stores_nothing(api):
    account = api.register()
    page = [event() for _ in range(5)]
    first = api.push_ok(account.token, page)
    again = api.push_ok(account.token, page)
    assert (first.accepted, first.duplicates, first.cursor) == (5, 0, 5)
    assert (again.accepted, again.duplicates, again.cursor) == (0, 5, 5)
    # A page that overlaps: only the new records get seqs, the next ones in line.
    more = [*page[3:], event(), event()]
    overlap = api.push_ok(account.token, more)
    assert (overlap.accepted, overlap.duplicates, overlap.cursor) == (2, 2, 7)
    assert [r.seq for r in api.pull_all(account.token)] == list(range(1, 8))


def test_the_same_id_twice_in_one_push_is_stored_once(api):
    account = api.register()
    one = event()
    result = api.push_ok(account.token, [one, event(), one])
    assert (result.accepted, result.duplicates) == (2, 1)
    assert [r.id for r in api.pull_all(account.token)].count(one["id"]) == 1


def test_a_record_pushed_twice_with_another_body_keeps_the_first(api):
    account = api.register()
    first = event(data={"v": 1})
    api.push_ok(account.token, [first])
    api.push_ok(account.token, [{**first, "body": {**first["body"], "data": {"v": 2}}}])
    [stored] = api.pull_all(account.token)
    assert stored.body["data"] == {"v": 1}


def test_pull_pages_follow_the_cursor(api):
    account = api.register()
    for _ in range(3):
        api.push_ok(account.token, [event() for _ in range(10)])
    page = api.page(account.token, after=0, limit=12)
    assert [r.seq for r in page.records] == list(range(1, 13)) and page.cursor == 12 and page.more
    page = api.page(account.token, after=page.cursor, limit=12)
    assert [r.seq for r in page.records] == list(range(13, 25)) and page.more
    page = api.page(account.token, after=page.cursor, limit=12)
    assert [r.seq for r in page.records] == list(range(25, 31)) and page.cursor == 30 and not page.more
    # Caught up: an empty page keeps the cursor where it was.
    empty = api.page(account.token, after=30)
    assert (empty.records, empty.cursor, empty.more) == ([], 30, False)
    # A cursor past the account's end, or whose record is another one now: the server was restored from
    # an older backup, and the client must start over (409 cursor_ahead), not wait forever at 1000.
    beyond = api.pull(account.token, after=1000)
    assert beyond.status_code == 409 and beyond.json()["error"]["code"] == protocol.E_CURSOR_AHEAD
    at_12 = api.page(account.token, after=11, limit=1).records[0].id
    same = api.call("GET", "/v1/records", token=account.token, params={"after": 12, "after_id": at_12})
    assert same.status_code == 200
    moved = api.call("GET", "/v1/records", token=account.token, params={"after": 13, "after_id": at_12})
    assert moved.status_code == 409 and moved.json()["error"]["code"] == protocol.E_CURSOR_AHEAD
    # A page of exactly the rest says there is no more.
    exact = api.page(account.token, after=20, limit=10)
    assert len(exact.records) == 10 and not exact.more


def test_a_replayed_page_changes_nothing(api):
    account = api.register()
    phone = api.login(account)
    api.push_ok(account.token, [event() for _ in range(4)])
    pulled = api.pull_all(phone.token)
    # A device that pushes back what it pulled (a client bug, or a restore) adds nothing.
    replay = [protocol.record_dict(r) for r in pulled]
    result = api.push_ok(phone.token, replay)
    assert (result.accepted, result.duplicates, result.cursor) == (0, 4, 4)
    assert api.pull_all(phone.token) == pulled


def test_pull_answers_the_page_shape_exactly(api):
    account = api.register()
    api.push_ok(account.token, [event(data={"quote": 'a "b" \\ c', "emoji": "🦊", "nested": {"x": [1.5, None]}})])
    raw = api.pull(account.token).json()
    assert set(raw) == {"records", "cursor", "more"}
    assert set(raw["records"][0]) == {"id", "type", "kind", "hlc", "body", "seq", "device_id"}
    assert raw["records"][0]["body"]["data"] == {"quote": 'a "b" \\ c', "emoji": "🦊", "nested": {"x": [1.5, None]}}
    protocol.Page.model_validate(raw)


def test_accounts_cannot_see_or_touch_each_other(api):
    alice = api.register()
    bob = api.register()
    mine = [event(), event()]
    api.push_ok(alice.token, mine)
    # Bob's space is empty whatever cursor he asks from.
    assert api.pull_all(bob.token) == []
    assert api.page(bob.token, after=0).records == []
    assert api.pull(bob.token, after=1).json()["error"]["code"] == protocol.E_CURSOR_AHEAD  # Alice's seq 1: not his
    alice_first = api.page(alice.token, after=0).records[0].id
    probe = api.call("GET", "/v1/records", token=bob.token, params={"after": 1, "after_id": alice_first})
    assert probe.status_code == 409  # guessing Alice's record id at a cursor tells Bob nothing
    # Bob pushing Alice's record ids stores them in his own space, numbered from his own seq 1.
    copy = [{**mine[0], "body": {**mine[0]["body"], "data": {"bob": True}}}]
    result = api.push_ok(bob.token, copy)
    assert (result.accepted, result.duplicates, result.cursor) == (1, 0, 1)
    [bobs] = api.pull_all(bob.token)
    assert bobs.body["data"] == {"bob": True} and bobs.device_id == bob.device_id
    alices = api.pull_all(alice.token)
    assert [r.body["data"] for r in alices] == [{}, {}] and {r.device_id for r in alices} == {alice.device_id}
    # Alice's devices are not Bob's to list or revoke: 404, as for a made-up id.
    assert [d.device_id for d in api.devices(bob.token).devices] == [bob.device_id]
    r = api.call("DELETE", f"/v1/devices/{alice.device_id}", token=bob.token)
    assert r.status_code == 404 and error_code(r) == protocol.E_NOT_FOUND
    assert api.call("DELETE", "/v1/devices/00000000-0000-4000-8000-000000000000", token=bob.token).status_code == 404
    assert not api.devices(alice.token).devices[0].revoked
    assert api.pull(alice.token).status_code == 200


def test_pull_bodies_are_stored_as_compact_json(api, db_url):
    from sqlalchemy import create_engine, select

    from app.services.sync.server.models import StoredRecord

    account = api.register()
    sent = event(data={"a": [1, 2]})
    api.push_ok(account.token, [sent])
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            row = conn.execute(select(StoredRecord.type, StoredRecord.kind, StoredRecord.hlc, StoredRecord.body,
                                      StoredRecord.device_id)).one()
    finally:
        engine.dispose()
    assert row.type == "event" and row.kind == sent["kind"] and row.hlc == sent["hlc"]
    assert json.loads(row.body) == sent["body"] and row.device_id == account.device_id


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(st.integers(0, 30), min_size=1, max_size=12), min_size=1, max_size=6),
       st.integers(1, 7))
def test_any_pushes_give_every_id_once_in_gap_free_seq_order(api, pushes, limit):
    """Pushes drawn from a small pool of ids (so many repeat): the account holds each id once,
    numbered 1..n in first-pushed order, and paging at any limit returns exactly that."""
    account = api.register()
    pool = [event() for _ in range(31)]
    first_seen: list[str] = []
    for picks in pushes:
        page = [pool[i] for i in picks]
        new = [r["id"] for r in page if r["id"] not in first_seen]
        new = list(dict.fromkeys(new))
        result = api.push_ok(account.token, page)
        assert result.accepted == len(new) and result.duplicates == len(page) - len(new)
        first_seen += new
        assert result.cursor == len(first_seen)
    records = api.pull_all(account.token, limit=limit)
    assert [r.id for r in records] == first_seen
    assert [r.seq for r in records] == list(range(1, len(first_seen) + 1))
