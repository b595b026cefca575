"""Push and pull: the account's append-only record log, numbered by a per-account `seq`.

A push is one transaction: authenticate and lock the account's row in one statement
(`SELECT ... FOR UPDATE OF users` on PostgreSQL, auth.py; on SQLite the transaction's BEGIN
IMMEDIATE already holds the only write lock), skip ids the account already has (duplicates: a
retried push stores nothing twice), number the new records next_seq+1, +2, ... in the order given,
insert them in one statement, move next_seq, commit.
Every push of an account holds that lock until it commits, so a push with higher seqs can never
commit before one with lower seqs: a reader who pulled "after N" and saw seq N+5 has already seen
N+1..N+4, and a cursor never skips a record that commits late.

A pull is one read: the caller's records with seq > after, in seq order, one more than asked for
to learn whether another page waits. What a client gets back is always selected by the caller's
user id: record ids, cursors and device ids of another account are invisible, not forbidden. (The
duplicate check looks the pushed ids up by id alone, for the index's sake, and keeps only the
caller's rows; nothing of another account's leaves this module.)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, text, update
from sqlalchemy.orm import Session

from app.core.sync.hlc import MAX_DRIFT_MS, Timestamp
from app.services.sync import protocol
from app.services.sync.server.auth import Caller
from app.services.sync.server.errors import ApiError
from app.services.sync.server.models import Base, User, UTCDateTime

_RECORDS = Base.metadata.tables["records"]


def check_clocks(records: Sequence[protocol.Record], now: datetime) -> None:
    """422 clock_ahead when a record's timestamp is more than MAX_DRIFT_MS past the server's clock."""
    limit_ms = int(now.timestamp() * 1000) + MAX_DRIFT_MS
    for index, record in enumerate(records):
        if Timestamp.parse(record.hlc).wall_ms > limit_ms:
            raise ApiError(422, protocol.E_CLOCK_AHEAD,
                           f"records[{index}] is dated more than a day ahead of the sync server's clock.",
                           hint="Check this device's date, time and time zone, then sync again. Nothing was stored.")


# A page's ids, and its rows, go to the database as ONE JSON text parameter, unpacked there
# (json_array_elements_text / json_to_recordset on PostgreSQL, json_each on SQLite): one short
# statement whose plan is cached, where `id IN (...)` expands 100 parameters in Python on every push
# and an executemany sends a statement per row (docs/benchmarks.md has the measurements).
# The duplicate check names only the id, as `= ANY(ARRAY(...))`, so PostgreSQL looks each id up in
# the primary key: with `AND user_id = ...` it may pick the (user_id, seq) index for an account its
# statistics do not know yet and read all that account's records, and `id IN (SELECT ...)` it plans
# as a hash join over the whole table (10-100 ms each). Rows of other accounts that share an id
# (rare: ids are UUIDv7s made on devices) are dropped in Python.
_KNOWN_IDS = {
    "postgresql": text("SELECT id, user_id FROM records "
                       "WHERE id = ANY(ARRAY(SELECT json_array_elements_text(CAST(:ids AS json))))"),
    "sqlite": text("SELECT id, user_id FROM records WHERE id IN (SELECT value FROM json_each(:ids))"),
}
_INSERT = {
    "postgresql": text(
        "INSERT INTO records (user_id, device_id, received_at, id, seq, type, kind, hlc, body) "
        "SELECT :user_id, :device_id, :received_at, t.id, t.seq, t.type, t.kind, t.hlc, t.body "
        "FROM json_to_recordset(CAST(:rows AS json)) AS t(id varchar, seq bigint, type varchar, kind varchar, "
        "hlc varchar, body text)"),
    "sqlite": text(
        "INSERT INTO records (user_id, device_id, received_at, id, seq, type, kind, hlc, body) "
        "SELECT :user_id, :device_id, :received_at, json_extract(value, '$.id'), json_extract(value, '$.seq'), "
        "json_extract(value, '$.type'), json_extract(value, '$.kind'), json_extract(value, '$.hlc'), "
        "json_extract(value, '$.body') FROM json_each(:rows)"),
}
_INSERT = {name: sql.bindparams(bindparam("received_at", type_=UTCDateTime())) for name, sql in _INSERT.items()}


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def push(session: Session, caller: Caller, records: Sequence[protocol.Record], now: datetime) -> protocol.PushResult:
    """Append `records` for `caller`, authenticated with `lock_account=True` in this transaction:
    the account's row is locked and `caller.next_seq` was read under that lock."""
    dialect = session.get_bind().dialect.name
    seq = caller.next_seq
    ids = list(dict.fromkeys(r.id for r in records))
    known = {rid for rid, owner in session.execute(_KNOWN_IDS[dialect], {"ids": _json(ids)}) if owner == caller.user_id}
    rows = []
    for record in records:
        if record.id in known:
            continue
        known.add(record.id)  # the same id twice in one push is stored once
        seq += 1
        rows.append({"id": record.id, "seq": seq, "type": record.type, "kind": record.kind, "hlc": record.hlc,
                     "body": _json(record.body)})
    if rows:
        session.execute(_INSERT[dialect], {
            "user_id": caller.user_id, "device_id": caller.device_id,
            "received_at": now,
            "rows": _json(rows),
        })
        session.execute(update(User).where(User.id == caller.user_id).values(next_seq=seq))
    return protocol.PushResult(accepted=len(rows), duplicates=len(records) - len(rows), cursor=seq)


def id_at(session: Session, caller: Caller, seq: int) -> str | None:
    """The id of the caller's record number `seq` (None if there is none): how a client's cursor is
    checked against a server restored from an older backup, where that seq went to another record."""
    c = _RECORDS.c
    found = session.connection().execute(select(c.id).where(c.user_id == caller.user_id, c.seq == seq)).scalar()
    return None if found is None else str(found)


def pull(session: Session, caller: Caller, *, after: int, limit: int) -> bytes:
    """The Page as JSON. Bodies are written out as stored (they were serialised from validated
    records on the way in), so a page of large records is not parsed and re-serialised."""
    c = _RECORDS.c
    rows = session.connection().execute(  # Core rows: no ORM loading for what is written out as text
        select(c.seq, c.id, c.type, c.kind, c.hlc, c.body, c.device_id)
        .where(c.user_id == caller.user_id, c.seq > after)
        .order_by(c.seq)
        .limit(limit + 1)
    ).all()
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = rows[-1][0] if rows else after
    # id, type, kind, hlc and device_id need no JSON escaping: each was checked against a pattern or
    # a fixed list on the way in (a UUID, "event"/"change", a known kind, HLC_PATTERN, a uuid4 we made).
    parts = [f'{{"id":"{rid}","type":"{rtype}","kind":"{kind}","hlc":"{hlc}","body":{body},"seq":{seq:d},'
             f'"device_id":"{device}"}}' for seq, rid, rtype, kind, hlc, body, device in rows]
    return f'{{"records":[{",".join(parts)}],"cursor":{cursor:d},"more":{"true" if more else "false"}}}'.encode()
