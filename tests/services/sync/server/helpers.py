"""Helpers for the sync server's tests: wire records, a fake clock and a thin API client.

`Api` wraps any httpx-style client (the in-process TestClient or an httpx.Client on the real
server), so the same calls drive both.
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from app.core.sync.hlc import HybridClock, Timestamp
from app.core.sync.ids import uuid7
from app.services.sync import protocol

PASSWORD = "correct horse battery"
HEADERS = {protocol.PROTOCOL_HEADER: str(protocol.PROTOCOL_VERSION)}
_hlc = HybridClock("a1b2c3d4")
_names = itertools.count(1)


def new_user() -> str:
    return f"user{next(_names)}-{secrets.token_hex(3)}"


def hlc(*, ahead_ms: int = 0) -> str:
    stamp = _hlc.tick()
    return str(Timestamp(stamp.wall_ms + ahead_ms, stamp.counter, stamp.node)) if ahead_ms else str(stamp)


def event(kind: str = "lesson.done", *, course: str = "python-from-zero", lesson: str | None = "intro",
          data: dict[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
    record = {"id": uuid7(), "type": "event", "kind": kind, "hlc": hlc(),
              "body": {"course_id": course, "lesson_id": lesson, "data": data or {}}}
    return {**record, **overrides}


def change(entity: str = "note", *, key: str = "python-from-zero/intro", field: str = "text", value: Any = "hi",
           base: list[str] | None = None, **overrides: Any) -> dict[str, Any]:
    record = {"id": uuid7(), "type": "change", "kind": entity, "hlc": hlc(),
              "body": {"key": key, "field": field, "value": value, "base": base or []}}
    return {**record, **overrides}


class FakeClock:
    """The server's clock in tests: starts at the real time (so real HLCs are not "ahead")."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Account:
    user: str
    password: str
    token: str
    device_id: str


class Api:
    def __init__(self, client: Any) -> None:
        self.client = client

    def call(self, method: str, path: str, *, token: str | None = None, protocol_header: bool = True,
             **kwargs: Any) -> Any:
        headers = dict(HEADERS) if protocol_header else {}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        headers.update(kwargs.pop("headers", {}))
        return self.client.request(method, path, headers=headers, **kwargs)

    def register(self, user: str | None = None, password: str = PASSWORD, device: str = "laptop") -> Account:
        user = user or new_user()
        r = self.call("POST", "/v1/accounts", json={"user": user, "password": password, "device_name": device})
        assert r.status_code == 201, r.text
        session = protocol.Session.model_validate_json(r.content)
        return Account(user, password, session.token, session.device_id)

    def login_response(self, user: str, password: str = PASSWORD, device: str = "phone") -> Any:
        return self.call("POST", "/v1/sessions", json={"user": user, "password": password, "device_name": device})

    def login(self, account: Account, device: str = "phone") -> Account:
        r = self.login_response(account.user, account.password, device)
        assert r.status_code == 200, r.text
        session = protocol.Session.model_validate_json(r.content)
        return Account(account.user, account.password, session.token, session.device_id)

    def push(self, token: str, records: list[dict[str, Any]]) -> Any:
        return self.call("POST", "/v1/records", token=token, json={"records": records})

    def push_ok(self, token: str, records: list[dict[str, Any]]) -> protocol.PushResult:
        r = self.push(token, records)
        assert r.status_code == 200, r.text
        return protocol.PushResult.model_validate_json(r.content)

    def pull(self, token: str, after: int = 0, limit: int | None = None) -> Any:
        params: dict[str, int] = {"after": after}
        if limit is not None:
            params["limit"] = limit
        return self.call("GET", "/v1/records", token=token, params=params)

    def page(self, token: str, after: int = 0, limit: int | None = None) -> protocol.Page:
        r = self.pull(token, after, limit)
        assert r.status_code == 200, r.text
        return protocol.Page.model_validate_json(r.content)

    def pull_all(self, token: str, *, limit: int | None = None) -> list[protocol.PulledRecord]:
        out: list[protocol.PulledRecord] = []
        cursor = 0
        while True:
            page = self.page(token, cursor, limit)
            out += page.records
            cursor = page.cursor
            if not page.more:
                return out

    def devices(self, token: str) -> protocol.Devices:
        r = self.call("GET", "/v1/devices", token=token)
        assert r.status_code == 200, r.text
        return protocol.Devices.model_validate_json(r.content)


def error_code(response: Any) -> str:
    """The error code of an error response, checking the body has protocol.ErrorBody's shape."""
    body = protocol.ErrorBody.model_validate_json(response.content)
    assert body.error.message, response.text
    return body.error.code
