"""Structured logs: one JSON object per request with the fields operators need, and never a secret."""

from __future__ import annotations

import json
import logging

from app.services.sync.server.logs import JsonFormatter
from tests.services.sync.server.helpers import event, new_user

SECRET_PASSWORD = "hunter2-but-longer-Zq9"


def _exercise(api):
    """Every endpoint, with the secrets on the wire; returns the secrets that must not be logged."""
    account = api.register(password=SECRET_PASSWORD)
    phone = api.login(account)
    api.login_response(account.user, SECRET_PASSWORD + "-wrong")
    api.login_response(new_user(), SECRET_PASSWORD)  # no such user, a password typed anyway
    api.call("POST", "/v1/accounts", json={"user": SECRET_PASSWORD, "password": SECRET_PASSWORD, "device_name": "x"})
    api.push_ok(account.token, [event(data={"secret": SECRET_PASSWORD})])
    api.call("POST", "/v1/records", token=account.token, content=b'{"records": "' + SECRET_PASSWORD.encode() + b'"')
    api.pull_all(phone.token)
    api.devices(phone.token)
    api.call("GET", "/v1/devices", headers={"Authorization": f"Bearer {account.token}x"})
    api.call("DELETE", f"/v1/devices/{phone.device_id}", token=account.token)
    api.call("DELETE", "/v1/sessions/current", token=account.token)
    return [SECRET_PASSWORD, account.token, phone.token, "Bearer", "Authorization", "authorization"]


def test_no_password_or_token_in_any_log_line(api, caplog):
    with caplog.at_level(logging.DEBUG):
        secrets = _exercise(api)
    formatter = JsonFormatter()
    lines = [formatter.format(record) for record in caplog.records]
    assert len(lines) >= 12
    leaks = [(s, line) for line in lines for s in secrets if s in line]
    # The raw records too (their args and extras), in case another handler formats them differently.
    leaks += [(s, repr(vars(r))) for r in caplog.records for s in secrets if s in repr(vars(r))]
    assert not leaks, leaks[:3]


def test_each_request_logs_one_json_line_with_its_fields(api, caplog):
    account = api.register()
    with caplog.at_level(logging.INFO, logger="lantern.sync"):
        r = api.pull(account.token)
    lines = [json.loads(JsonFormatter().format(rec)) for rec in caplog.records if rec.getMessage() == "request"]
    lines = [line for line in lines if line["method"] == "GET"]  # the register's own line may be caught too
    assert len(lines) == 1
    line = lines[0]
    assert {"time", "level", "event", "method", "path", "status", "duration_ms", "user_id", "request_id"} <= set(line)
    assert (line["method"], line["path"], line["status"]) == ("GET", "/v1/records", 200)
    assert line["request_id"] == r.headers["x-request-id"] and isinstance(line["user_id"], int)
    assert line["time"].endswith("Z") and line["duration_ms"] >= 0


def test_a_proxy_request_id_is_kept_and_a_strange_one_replaced(api):
    r = api.call("GET", "/healthz", headers={"X-Request-ID": "edge-42.abc"})
    assert r.headers["x-request-id"] == "edge-42.abc"
    r = api.call("GET", "/healthz", headers={"X-Request-ID": "a b\tc" + "x" * 100})
    assert r.headers["x-request-id"] != "a b\tc" + "x" * 100 and len(r.headers["x-request-id"]) == 32
