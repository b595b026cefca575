"""Login and registration limits (the defaults: 5 failures per account and 20 per address in 10 minutes)."""

from __future__ import annotations

from app.services.sync import protocol
from app.services.sync.server.ratelimit import RateLimits, address_key
from tests.services.sync.server.helpers import PASSWORD, error_code, new_user


def _fail(api, user, times):
    for _ in range(times):
        r = api.login_response(user, "wrong password!")
        assert r.status_code == 401 and error_code(r) == protocol.E_BAD_CREDENTIALS, r.text


def test_five_failures_lock_the_account_even_for_the_right_password(make_api, clock):
    api = make_api()
    account = api.register()
    _fail(api, account.user, 5)
    r = api.login_response(account.user, PASSWORD)
    assert r.status_code == 429 and error_code(r) == protocol.E_RATE_LIMITED
    retry = int(r.headers["Retry-After"])
    assert 590 <= retry <= 600
    assert "minutes" in r.json()["error"]["message"]
    # From another address too: the account itself is limited.
    other = make_api(client=("198.51.100.7", 4000))
    assert other.login_response(account.user, PASSWORD).status_code == 429
    # Sessions made before keep working; the limit is on signing in.
    assert api.pull(account.token).status_code == 200
    # Once the first failures age out of the window, the right password works again.
    clock.advance(seconds=retry)
    assert api.login_response(account.user, PASSWORD).status_code == 200


def test_retry_after_counts_down_with_the_window(make_api, clock):
    api = make_api()
    account = api.register()
    _fail(api, account.user, 2)
    clock.advance(minutes=4)
    _fail(api, account.user, 3)
    r = api.login_response(account.user, PASSWORD)
    assert r.status_code == 429
    # The oldest failure leaves the window in 6 minutes, and then four remain: allowed again.
    assert 355 <= int(r.headers["Retry-After"]) <= 360
    clock.advance(minutes=6, seconds=1)
    assert api.login_response(account.user, PASSWORD).status_code == 200


def test_a_success_clears_the_account_count(api):
    account = api.register()
    _fail(api, account.user, 4)
    assert api.login_response(account.user, PASSWORD).status_code == 200
    _fail(api, account.user, 4)
    assert api.login_response(account.user, PASSWORD).status_code == 200


def test_unknown_accounts_are_limited_the_same_way(api):
    ghost = new_user()
    _fail(api, ghost, 5)
    r = api.login_response(ghost, "wrong password!")
    assert r.status_code == 429 and error_code(r) == protocol.E_RATE_LIMITED


def test_twenty_failures_from_one_address_lock_that_address(make_api):
    api = make_api(client=("203.0.113.9", 1234))
    victims = [api.register() for _ in range(6)]
    for victim in victims[:5]:
        _fail(api, victim.user, 4)  # 20 failures, none of the accounts over its own limit
    r = api.login_response(victims[5].user, PASSWORD)
    assert r.status_code == 429 and error_code(r) == protocol.E_RATE_LIMITED and int(r.headers["Retry-After"]) > 0
    # Another address signs into the same accounts fine.
    elsewhere = make_api(client=("203.0.113.10", 1234))
    assert elsewhere.login_response(victims[5].user, PASSWORD).status_code == 200
    assert elsewhere.login_response(victims[0].user, PASSWORD).status_code == 200


def test_registrations_are_limited_per_address(make_api, clock):
    api = make_api(rate_limits=RateLimits(register_per_address=3), client=("192.0.2.50", 1))
    for _ in range(3):
        api.register()
    r = api.call("POST", "/v1/accounts", json={"user": new_user(), "password": PASSWORD, "device_name": "x"})
    assert r.status_code == 429 and error_code(r) == protocol.E_RATE_LIMITED
    assert 3590 <= int(r.headers["Retry-After"]) <= 3600
    assert make_api(rate_limits=RateLimits(register_per_address=3), client=("192.0.2.51", 1)).register()
    clock.advance(hours=1, seconds=1)
    api.register()


def test_ipv6_clients_count_by_their_64_block():
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("::ffff:192.0.2.1") == address_key("192.0.2.1") == "192.0.2.1"
    assert address_key(None) == "unknown" and address_key("testclient") == "testclient"
