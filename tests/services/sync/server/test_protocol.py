"""The wire contract: the version header, error shapes, validation, size limits, hidden internals."""

from __future__ import annotations

import asyncio
import json

from app.services.sync import protocol
from app.services.sync.server import store
from app.services.sync.server.middleware import BodyLimit
from tests.services.sync.server.helpers import PASSWORD, change, error_code, event, new_user

V1_ROUTES = [("POST", "/v1/accounts"), ("POST", "/v1/sessions"), ("DELETE", "/v1/sessions/current"),
             ("GET", "/v1/devices"), ("DELETE", "/v1/devices/x"), ("POST", "/v1/records"), ("GET", "/v1/records"),
             ("GET", "/v1/no-such-thing")]


def test_every_v1_route_needs_a_protocol_version_it_speaks(api):
    for value in (None, "", "0", "2", "99", "one", "1.0", "1,2", "123456789"):
        headers = {} if value is None else {protocol.PROTOCOL_HEADER: value}
        for method, path in V1_ROUTES:
            r = api.call(method, path, protocol_header=False, headers=headers, content=b"{not json")
            assert r.status_code == 426, (value, method, path, r.status_code)
            assert error_code(r) == protocol.E_PROTOCOL
            assert "update Lantern" in r.json()["error"]["message"]
            assert r.headers[protocol.PROTOCOL_HEADER] == "1"


def test_the_version_header_is_echoed_and_healthz_needs_none(api):
    account = api.register()
    r = api.pull(account.token)
    assert r.status_code == 200 and r.headers[protocol.PROTOCOL_HEADER] == "1"
    assert r.headers["x-request-id"]
    health = api.call("GET", "/healthz", protocol_header=False)
    assert health.status_code == 200 and health.json() == {"status": "ok"}


def test_unknown_routes_and_methods_answer_in_the_error_shape(api):
    r = api.call("GET", "/v1/nothing")
    assert r.status_code == 404 and error_code(r) == protocol.E_NOT_FOUND
    r = api.call("PUT", "/v1/records")
    assert r.status_code == 405 and error_code(r) == protocol.E_INVALID


BAD_RECORDS = {
    "malformed JSON": b'{"records": [',
    "not an object": b"[1, 2]",
    "empty body": b"",
    "no records": {"records": []},
    "too many records": {"records": [event() for _ in range(protocol.MAX_PUSH_RECORDS + 1)]},
    "extra top-level field": {"records": [event()], "cursor": 3},
    "extra record field": {"records": [{**event(), "device_id": "someone-else"}]},
    "extra record field seq": {"records": [{**event(), "seq": 1}]},
    "id not a UUID": {"records": [event(id="not-a-uuid")]},
    "id in upper case": {"records": [event(id="0190A1B2-C3D4-7E5F-8A9B-0C1D2E3F4A5B")]},
    "id a number": {"records": [event(id=12)]},
    "hlc malformed": {"records": [event(hlc="yesterday")]},
    "hlc bad node": {"records": [event(hlc="0001733330000000-0000-XYZ")]},
    "unknown type": {"records": [event(type="fact")]},
    "unknown event kind": {"records": [event(kind="lesson.deleted")]},
    "unknown register": {"records": [change(kind="password")]},
    "event without course": {"records": [event(body={"lesson_id": "x", "data": {}})]},
    "event data not an object": {"records": [event(data=None, body={"course_id": "c", "data": [1]})]},
    "change without field": {"records": [change(body={"key": "k", "value": 1})]},
    "body not an object": {"records": [event(body="text")]},
    "body too large": {"records": [event(data={"text": "x" * (64 * 1024)})]},
    "wrong type for records": {"records": {"id": "x"}},
    "lone surrogate in a body": b'{"records": [{"id": "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "type": "event", '
                                b'"kind": "lesson.done", "hlc": "0001733330000000-0000-a1b2c3d4", '
                                b'"body": {"course_id": "c", "data": {"t": "\\ud800"}}}]}',
}


def test_bad_pushes_are_422_and_store_nothing(api):
    account = api.register()
    wrong = []
    for case, bad in BAD_RECORDS.items():
        if isinstance(bad, dict) and isinstance(bad.get("records"), list) and 0 < len(bad["records"]) <= 2:
            bad = {**bad, "records": [event(), change(), *bad["records"]]}  # one bad record among good ones
        content = bad if isinstance(bad, bytes) else json.dumps(bad).encode()
        r = api.call("POST", "/v1/records", token=account.token, content=content,
                     headers={"Content-Type": "application/json"})
        if r.status_code != 422 or error_code(r) != protocol.E_INVALID:
            wrong.append(f"{case}: {r.status_code} {r.text[:200]}")
    assert not wrong, "\n".join(wrong)
    assert api.pull_all(account.token) == []


def test_validation_messages_say_where(api):
    account = api.register()
    r = api.push(account.token, [event(), event(id="nope")])
    message = r.json()["error"]["message"]
    assert "records[1].id" in message and "UUID" in message
    r = api.push(account.token, [{**event(), "surprise": 1}])
    assert "records[0].surprise: unknown field" in r.json()["error"]["message"]
    r = api.call("POST", "/v1/records", token=account.token, content=b"{oops")
    assert "not valid JSON" in r.json()["error"]["message"]


def test_a_record_dated_more_than_a_day_ahead_is_refused(api):
    account = api.register()
    ahead = event(hlc=event()["hlc"])
    from app.core.sync.hlc import MAX_DRIFT_MS, Timestamp

    stamp = Timestamp.parse(ahead["hlc"])
    ahead["hlc"] = str(Timestamp(stamp.wall_ms + MAX_DRIFT_MS + 60_000, 0, stamp.node))
    r = api.push(account.token, [event(), ahead])
    assert r.status_code == 422 and error_code(r) == protocol.E_CLOCK_AHEAD
    assert "records[1]" in r.json()["error"]["message"]
    assert api.pull_all(account.token) == []
    # Just under the limit is fine (a device whose clock runs hours fast).
    ahead["hlc"] = str(Timestamp(stamp.wall_ms + MAX_DRIFT_MS - 60_000, 0, stamp.node))
    assert api.push_ok(account.token, [ahead]).accepted == 1


def test_bad_pull_parameters_are_422(api):
    account = api.register()
    for query, fragment in (("after=-1", "after"), ("after=x", "after"), ("limit=0", "limit"),
                            ("limit=-5", "limit"), ("after=1.5", "after"), ("after=&limit=2", "after"),
                            (f"after={2**63}", "after")):
        r = api.call("GET", f"/v1/records?{query}", token=account.token)
        assert r.status_code == 422 and error_code(r) == protocol.E_INVALID, query
        assert fragment in r.json()["error"]["message"], (query, r.text)


def test_pull_limit_is_capped(api):
    account = api.register()
    for _ in range(3):
        api.push_ok(account.token, [event() for _ in range(protocol.MAX_PUSH_RECORDS)])
    page = api.page(account.token, limit=protocol.MAX_PULL_LIMIT * 10)
    assert len(page.records) == protocol.MAX_PULL_LIMIT and page.more
    assert page.cursor == protocol.MAX_PULL_LIMIT
    default = api.page(account.token)
    assert len(default.records) == protocol.DEFAULT_PULL_LIMIT


def test_a_body_over_the_limit_is_413(api):
    account = api.register()
    big = b'{"records": [' + b" " * protocol.MAX_REQUEST_BYTES + b"]}"
    r = api.call("POST", "/v1/records", token=account.token, content=big)
    assert r.status_code == 413 and error_code(r) == protocol.E_TOO_LARGE
    r = api.call("POST", "/v1/accounts", content=big)
    assert r.status_code == 413
    assert api.pull_all(account.token) == []


def _drive(middleware, scope, messages):
    """Run an ASGI app with a receive that counts the body messages it handed out."""
    handed: list[dict] = []
    sent: list[dict] = []

    async def receive():
        if messages:
            handed.append(messages.pop(0))
            return handed[-1]
        await asyncio.sleep(3600)  # never: the middleware must not wait for more

    async def send(message):
        sent.append(message)

    asyncio.run(asyncio.wait_for(middleware(scope, receive, send), 5))
    return handed, sent


def _inner_app_must_not_run(scope, receive, send):
    raise AssertionError("the app was called with an oversized body")


def test_body_limit_refuses_by_content_length_without_reading():
    scope = {"type": "http", "method": "POST", "path": "/v1/records",
             "headers": [(b"content-length", str(protocol.MAX_REQUEST_BYTES + 1).encode())]}
    chunks = [{"type": "http.request", "body": b"x" * 1024, "more_body": True} for _ in range(10)]
    handed, sent = _drive(BodyLimit(_inner_app_must_not_run), scope, chunks)
    assert handed == [] and sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["error"]["code"] == protocol.E_TOO_LARGE


def test_body_limit_stops_reading_a_chunked_body_once_it_passes_the_limit():
    scope = {"type": "http", "method": "POST", "path": "/v1/records", "headers": [(b"transfer-encoding", b"chunked")]}
    chunk = 256 * 1024
    total_chunks = 2 * protocol.MAX_REQUEST_BYTES // chunk
    chunks = [{"type": "http.request", "body": b"x" * chunk, "more_body": True} for _ in range(total_chunks)]
    handed, sent = _drive(BodyLimit(_inner_app_must_not_run), scope, chunks)
    assert len(handed) == protocol.MAX_REQUEST_BYTES // chunk + 1  # read up to one chunk past the limit, no more
    assert sent[0]["status"] == 413


def test_body_limit_hands_a_small_chunked_body_on_whole():
    seen = []

    async def app(scope, receive, send):
        message = await receive()
        seen.append((message["body"], message["more_body"]))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    scope = {"type": "http", "method": "POST", "path": "/x", "headers": []}
    chunks = [{"type": "http.request", "body": b"ab", "more_body": True},
              {"type": "http.request", "body": b"cd", "more_body": False}]
    _handed, sent = _drive(BodyLimit(app), scope, chunks)
    assert seen == [(b"abcd", False)] and sent[0]["status"] == 204


def test_an_unexpected_error_is_500_server_error_without_internals(api, monkeypatch, caplog):
    account = api.register()

    def broken(*args, **kwargs):
        raise RuntimeError("SECRET internal detail /var/lib/db")

    monkeypatch.setattr(store, "pull", broken)
    with caplog.at_level("ERROR", logger="lantern.sync"):
        r = api.pull(account.token)
    assert r.status_code == 500 and error_code(r) == protocol.E_SERVER
    assert "SECRET" not in r.text and "RuntimeError" not in r.text
    request_id = r.headers["x-request-id"]
    assert request_id in r.json()["error"]["hint"]
    logged = [rec for rec in caplog.records if rec.getMessage() == "unhandled_error"]
    assert logged and logged[0].fields["request_id"] == request_id and logged[0].exc_info


def test_credentials_with_a_long_password_are_accepted(api):
    password = "p" * 1024
    account = api.register(password=password)
    assert api.login_response(account.user, password).status_code == 200
    r = api.call("POST", "/v1/accounts", json={"user": new_user(), "password": "p" * 1025, "device_name": "x"})
    assert r.status_code == 422
    assert api.login_response(account.user, PASSWORD).status_code == 401


def test_healthz_is_503_when_the_database_cannot_be_reached():
    from fastapi.testclient import TestClient

    from app.services.sync.server.app import create_app
    from app.services.sync.server.auth import cheap_test_hasher

    app = create_app("postgresql+psycopg://lantern@127.0.0.1:1/nowhere", password_hasher=cheap_test_hasher())
    with TestClient(app) as client:
        r = client.get("/healthz")
    assert r.status_code == 503 and error_code(r) == protocol.E_SERVER
    assert "127.0.0.1" not in r.text and "psycopg" not in r.text
