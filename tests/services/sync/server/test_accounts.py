"""Accounts, sessions, devices and tokens (in-process, on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import create_engine, select

from app.services.sync import protocol
from app.services.sync.server.auth import Passwords, cheap_test_hasher, token_digest
from app.services.sync.server.models import Token, User
from tests.services.sync.server.helpers import PASSWORD, error_code, event, new_user


def test_register_then_login_makes_a_device_each_time(api):
    account = api.register(device="laptop")
    phone = api.login(account, device="phone")
    assert phone.token != account.token and phone.device_id != account.device_id
    devices = api.devices(phone.token).devices
    assert {d.device_id: (d.name, d.current, d.revoked) for d in devices} == {
        account.device_id: ("laptop", False, False), phone.device_id: ("phone", True, False)}
    assert all(d.created_at.tzinfo is not None for d in devices)
    # Both sessions work and see the same account.
    api.push_ok(account.token, [event()])
    assert len(api.pull_all(phone.token)) == 1


def test_register_answers_201_with_a_session_that_expires_after_token_days(make_api, clock):
    api = make_api(token_days=30)
    r = api.call("POST", "/v1/accounts", json={"user": new_user(), "password": PASSWORD, "device_name": " Mac "})
    assert r.status_code == 201, r.text
    session = protocol.Session.model_validate_json(r.content)
    assert abs(session.expires_at - (clock.now + timedelta(days=30))) < timedelta(seconds=1)
    assert api.devices(session.token).devices[0].name == "Mac"  # the name is stripped


def test_a_taken_user_name_is_409_user_exists(api):
    account = api.register()
    r = api.call("POST", "/v1/accounts", json={"user": account.user, "password": "another password",
                                               "device_name": "x"})
    assert r.status_code == 409 and error_code(r) == protocol.E_USER_EXISTS
    # The first account's password still works: nothing was overwritten.
    api.login(account)


def test_a_wrong_password_and_an_unknown_user_get_the_same_answer(api):
    account = api.register()
    wrong = api.login_response(account.user, "not the password")
    nobody = api.login_response(new_user(), "not the password")
    assert wrong.status_code == nobody.status_code == 401
    assert error_code(wrong) == error_code(nobody) == protocol.E_BAD_CREDENTIALS
    assert wrong.json() == nobody.json()


def test_bad_credentials_bodies_are_422(api):
    for body in ({"user": "Bad Name", "password": PASSWORD, "device_name": "x"},
                 {"user": "ab", "password": PASSWORD, "device_name": "x"},
                 {"user": new_user(), "password": "short", "device_name": "x"},
                 {"user": new_user(), "password": PASSWORD, "device_name": "   "},
                 {"user": new_user(), "password": PASSWORD},
                 {"user": new_user(), "password": PASSWORD, "device_name": "x", "admin": True}):
        for path in ("/v1/accounts", "/v1/sessions"):
            r = api.call("POST", path, json=body)
            assert r.status_code == 422 and error_code(r) == protocol.E_INVALID, (path, body, r.text)
    r = api.call("POST", "/v1/accounts", json={"user": "Bad Name", "password": PASSWORD, "device_name": "x"})
    assert "lowercase letters" in r.json()["error"]["message"]


def test_logout_ends_only_that_token(api):
    account = api.register()
    phone = api.login(account)
    r = api.call("DELETE", "/v1/sessions/current", token=phone.token)
    assert r.status_code == 204
    for method, path in (("GET", "/v1/records"), ("GET", "/v1/devices"), ("DELETE", "/v1/sessions/current")):
        r = api.call(method, path, token=phone.token)
        assert r.status_code == 401 and error_code(r) == protocol.E_TOKEN_REVOKED, (method, path)
    devices = {d.device_id: d for d in api.devices(account.token).devices}
    assert devices[phone.device_id].revoked and not devices[account.device_id].revoked


def test_revoking_a_device_stops_its_tokens(api):
    account = api.register()
    phone = api.login(account)
    r = api.call("DELETE", f"/v1/devices/{phone.device_id}", token=account.token)
    assert r.status_code == 204
    r = api.push(phone.token, [event()])
    assert r.status_code == 401 and error_code(r) == protocol.E_TOKEN_REVOKED
    assert r.headers["www-authenticate"] == "Bearer"
    assert api.pull_all(account.token) == []  # the refused push stored nothing
    # Revoking again is fine; the device stays listed as revoked.
    assert api.call("DELETE", f"/v1/devices/{phone.device_id}", token=account.token).status_code == 204
    assert {d.device_id: d.revoked for d in api.devices(account.token).devices} == {
        account.device_id: False, phone.device_id: True}


def test_a_device_can_revoke_itself(api):
    account = api.register()
    assert api.call("DELETE", f"/v1/devices/{account.device_id}", token=account.token).status_code == 204
    assert error_code(api.call("GET", "/v1/devices", token=account.token)) == protocol.E_TOKEN_REVOKED


def test_tokens_expire(make_api, clock):
    api = make_api(token_days=2)
    account = api.register()
    clock.advance(days=2, seconds=-1)
    assert api.pull(account.token).status_code == 200
    clock.advance(seconds=2)
    r = api.pull(account.token)
    assert r.status_code == 401 and error_code(r) == protocol.E_TOKEN_EXPIRED
    # Signing in again gives a fresh token.
    assert api.pull(api.login(account).token).status_code == 200


def test_missing_and_unknown_tokens_are_401_unauthorized(api):
    api.register()
    for headers in ({}, {"Authorization": "Bearer"}, {"Authorization": "Basic dXNlcjpwYXNz"},
                    {"Authorization": "Bearer " + "x" * 300}, {"Authorization": "Bearer not-a-token"}):
        for method, path in (("GET", "/v1/records"), ("POST", "/v1/records"), ("GET", "/v1/devices"),
                             ("DELETE", "/v1/devices/abc"), ("DELETE", "/v1/sessions/current")):
            r = api.call(method, path, headers=headers, json={"records": [event()]} if method == "POST" else None)
            assert r.status_code == 401 and error_code(r) == protocol.E_UNAUTHORIZED, (headers, method, path, r.text)


def test_the_database_holds_no_password_or_token(api, db_url):
    account = api.register(password="a very particular password")
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            stored = conn.execute(select(User.password_hash).where(User.name == account.user)).scalar_one()
            digests = set(conn.execute(select(Token.token_hash)).scalars())
    finally:
        engine.dispose()
    assert stored.startswith("$argon2id$") and "a very particular password" not in stored
    assert account.token not in digests and token_digest(account.token) in digests


def test_a_hash_made_with_other_parameters_is_redone_at_login(make_api, db_url):
    from argon2 import PasswordHasher

    api = make_api()
    account = api.register()
    old = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1).hash(account.password)
    engine = create_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(User.__table__.update().where(User.name == account.user).values(password_hash=old))
        api.login(account)
        with engine.connect() as conn:
            new = conn.execute(select(User.password_hash).where(User.name == account.user)).scalar_one()
    finally:
        engine.dispose()
    assert new != old and not Passwords(cheap_test_hasher()).needs_rehash(new)
