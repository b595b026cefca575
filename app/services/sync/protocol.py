"""The sync protocol's wire schemas, shared by the client (client.py) and the server (server/).

Version 1, under `/v1/`. Every request carries `Lantern-Sync-Protocol: 1`; a server that does not
speak the version answers 426 with code "protocol_version", so an old client says "update Lantern"
instead of misreading a changed format (the failure every unversioned Anki sync server hit).

    GET    /healthz                   liveness and database check (no auth)
    POST   /v1/accounts               Credentials -> Session (201; 409 "user_exists")
    POST   /v1/sessions               Credentials -> Session (401 "bad_credentials", 429 "rate_limited")
    DELETE /v1/sessions/current       sign this device out: its token stops working (204)
    GET    /v1/devices                -> Devices: the account's devices
    DELETE /v1/devices/{device_id}    revoke a device: every token of it stops working (204)
    POST   /v1/records                Push -> PushResult: append records; a known id is a duplicate, not an error
    GET    /v1/records?after=N&after_id=ID&limit=M -> Page: the account's records with seq > N, in
                                      seq order (ID: the record the client holds at N, optional)

A pull whose `after` is past the account's last seq, or whose record N is not `after_id` (the server
was restored from an older backup, and seq N went to another record since), answers 409
"cursor_ahead": the client then pulls from 0 and pushes its whole record again, which the ids make
safe — nothing the device holds is lost, and nothing is stored twice.

`seq` is a per-account counter the server takes under a row lock of the account, so records become
visible in seq order and a client that pulls "after N" never skips one that commits late. A page
is applied by the client in one transaction, and applying a page twice changes nothing (ids).
Errors are JSON `{"error": {"code", "message", "hint"}}` with a 4xx/5xx status.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StringConstraints, field_validator, model_validator

from app.core.sync.hlc import HLC_PATTERN
from app.core.sync.records import (
    ENTITIES,
    EVENT_KINDS,
    RECORD_BODY_MAX_BYTES,
    body_size,
    change_from_body,
    event_from_body,
)

PROTOCOL_VERSION = 1
SUPPORTED_VERSIONS = (1,)
PROTOCOL_HEADER = "Lantern-Sync-Protocol"
MAX_PUSH_RECORDS = 500
MAX_PULL_LIMIT = 1000
DEFAULT_PULL_LIMIT = 500
MAX_REQUEST_BYTES = 4 * 1024 * 1024  # a full push of large records fits; anything bigger is refused unread

UserName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{2,63}$")]
Password = Annotated[str, StringConstraints(min_length=8, max_length=1024)]
DeviceName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
Hlc = Annotated[str, StringConstraints(pattern=f"^{HLC_PATTERN}$")]

# Error codes: clients branch on these, never on message text.
E_PROTOCOL = "protocol_version"
E_UNAUTHORIZED = "unauthorized"
E_TOKEN_EXPIRED = "token_expired"
E_TOKEN_REVOKED = "token_revoked"
E_BAD_CREDENTIALS = "bad_credentials"
E_USER_EXISTS = "user_exists"
E_RATE_LIMITED = "rate_limited"
E_INVALID = "invalid"
E_TOO_LARGE = "too_large"
E_NOT_FOUND = "not_found"
E_CLOCK_AHEAD = "clock_ahead"
E_CURSOR_AHEAD = "cursor_ahead"
E_SERVER = "server_error"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Credentials(_Strict):
    user: UserName
    password: Password
    device_name: DeviceName


class Session(_Strict):
    token: str
    user: str
    device_id: str
    expires_at: datetime


class Device(_Strict):
    device_id: str
    name: str
    created_at: datetime
    last_seen_at: datetime | None
    revoked: bool
    current: bool


class Devices(_Strict):
    devices: list[Device]


class Record(_Strict):
    """One learning-record entry on the wire: an event or a register change (app.core.sync.records)."""

    id: str
    type: Literal["event", "change"]
    kind: str
    hlc: Hlc
    body: dict[str, JsonValue]

    @field_validator("id")
    @classmethod
    def _uuid(cls, value: str) -> str:
        try:
            parsed = uuid.UUID(value)
        except ValueError as err:
            raise ValueError("id must be a UUID") from err
        if str(parsed) != value:
            raise ValueError("id must be a UUID in its canonical lowercase form")
        return value

    @model_validator(mode="after")
    def _shape(self) -> Record:
        if body_size(self.body) > RECORD_BODY_MAX_BYTES:
            raise ValueError(f"a record body is at most {RECORD_BODY_MAX_BYTES // 1024} KiB")
        if self.type == "event":
            if self.kind not in EVENT_KINDS:
                raise ValueError(f"unknown event kind {self.kind!r}")
            event_from_body(self.id, self.kind, self.hlc, self.body)
        else:
            if self.kind not in ENTITIES:
                raise ValueError(f"unknown register {self.kind!r}")
            change_from_body(self.id, self.kind, self.hlc, self.body)
        return self


class Push(_Strict):
    records: list[Record] = Field(min_length=1, max_length=MAX_PUSH_RECORDS)


class PushResult(_Strict):
    accepted: int   # records stored now
    duplicates: int  # records the server already had (a retried push): not stored again
    cursor: int      # the account's highest seq after this push


class PulledRecord(Record):
    seq: int
    device_id: str  # the server's id of the device that pushed it


class Page(_Strict):
    records: list[PulledRecord]
    cursor: int  # pull again after this
    more: bool   # another page is waiting


class ErrorDetail(_Strict):
    code: str
    message: str
    hint: str | None = None


class ErrorBody(_Strict):
    error: ErrorDetail


def record_dict(record: Record) -> dict[str, Any]:
    return {"id": record.id, "type": record.type, "kind": record.kind, "hlc": record.hlc, "body": record.body}
