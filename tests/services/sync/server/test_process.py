"""The real server: `python -m app.services.sync.server` under uvicorn on 127.0.0.1 (tests/support/sync_server.py)."""

from __future__ import annotations

import random
import signal
import threading
import time

import httpx
import pytest

from app.services.sync.server.cli import main
from tests.services.sync.server.helpers import Api, event
from tests.support.sync_server import SyncServerProcess

SECRET_PASSWORD = "a-password-nobody-logs-7Qx"


def test_a_whole_sync_over_http_logs_json_lines_and_no_secrets(db_url):
    with SyncServerProcess(db_url) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        api = Api(http)
        account = api.register(password=SECRET_PASSWORD)
        phone = api.login(account)
        api.login_response(account.user, SECRET_PASSWORD + "?")
        sent = [event() for _ in range(30)]
        assert api.push_ok(account.token, sent).accepted == 30
        assert [r.id for r in api.pull_all(phone.token, limit=7)] == [r["id"] for r in sent]
        assert len(api.devices(phone.token).devices) == 2
        assert api.call("DELETE", "/v1/sessions/current", token=phone.token).status_code == 204
        assert api.pull(phone.token).status_code == 401
        # SIGTERM: uvicorn finishes and then exits by the signal it got (what systemd counts as clean).
        assert server.stop() in (0, -signal.SIGTERM)
        text, lines = server.log_text(), server.log_lines()
        assert any(line.get("event") == "Application shutdown complete." for line in lines)
    for secret in (SECRET_PASSWORD, account.token, phone.token, "Bearer"):
        assert secret not in text
    requests = [line for line in lines if line.get("event") == "request"]
    assert len(requests) >= 10
    assert all({"time", "level", "method", "path", "status", "duration_ms", "request_id"} <= set(line)
               for line in requests)
    assert {(line["method"], line["path"], line["status"]) for line in requests} >= {
        ("POST", "/v1/accounts", 201), ("POST", "/v1/sessions", 401), ("POST", "/v1/records", 200),
        ("GET", "/v1/records", 200), ("GET", "/v1/records", 401)}
    # Every line on stderr is JSON (the helper's own "--- start" markers aside).
    assert all(line.startswith("{") for line in text.splitlines() if not line.startswith("--- "))


def test_records_and_sessions_survive_a_restart_and_a_crash(db_url):
    with SyncServerProcess(db_url) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        api = Api(http)
        account = api.register()
        first = [event() for _ in range(5)]
        api.push_ok(account.token, first)
        started = time.monotonic()
        server.restart()
        assert time.monotonic() - started < 10
        second = [event() for _ in range(5)]
        assert api.push_ok(account.token, second).cursor == 10
        server.kill()  # SIGKILL: committed pushes must still be there
        assert not server.healthy()
        server.start()
        assert [r.id for r in api.pull_all(account.token)] == [r["id"] for r in first + second]
        assert api.push_ok(account.token, second).duplicates == 5


def test_concurrent_pushes_of_one_account_are_gap_free_and_a_poller_misses_nothing(db_url):
    """Four devices push at once (several API processes on PostgreSQL, where transactions really
    overlap) while a fifth polls: every page it gets continues its cursor with no gap, so no record
    can commit behind it; at the end every record is there once, numbered 1..n."""
    workers = 2 if db_url.startswith("postgresql") else 1
    writers, pages, page_size = 4, 8, 20
    with SyncServerProcess(db_url, workers=workers) as server:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            api = Api(http)
            account = api.register()
            devices = [api.login(account, f"device-{i}") for i in range(writers)]
        shared = [event() for _ in range(10)]  # every device pushes this page first, at the same time
        plans = [[shared] + [[event() for _ in range(page_size)] for _ in range(pages)] for _ in range(writers)]
        failures: list[BaseException] = []
        gaps: list[str] = []
        seen: list = []
        writers_done = threading.Event()
        shared_results: list = []

        def write(i: int) -> None:
            try:
                with httpx.Client(base_url=server.url, timeout=30) as c:
                    mine = Api(c)
                    for n, page in enumerate(plans[i]):
                        result = mine.push_ok(devices[i].token, page)
                        if n == 0:
                            shared_results.append(result)
                        if random.random() < 0.3:  # a retried push, as after a lost answer
                            assert mine.push_ok(devices[i].token, page).accepted == 0
            except BaseException as err:
                failures.append(err)

        def read() -> None:
            try:
                cursor = 0
                with httpx.Client(base_url=server.url, timeout=30) as c:
                    mine = Api(c)
                    while True:
                        finished = writers_done.is_set()
                        page = mine.page(account.token, cursor, limit=37)
                        seqs = [r.seq for r in page.records]
                        if seqs != list(range(cursor + 1, cursor + 1 + len(seqs))):
                            gaps.append(f"after {cursor}: {seqs}")
                        seen.extend(page.records)
                        cursor = page.cursor
                        if finished and not page.more:
                            return
            except BaseException as err:
                failures.append(err)

        threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
        reader = threading.Thread(target=read)
        reader.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        writers_done.set()
        reader.join(120)
        assert not failures, failures
        assert not gaps, gaps[:5]
    expected = {r["id"] for plan in plans for page in plan for r in page}
    assert len(expected) == 10 + writers * pages * page_size
    assert [r.seq for r in seen] == list(range(1, len(expected) + 1))
    assert sorted(r.id for r in seen) == sorted(expected)
    assert sum(r.accepted for r in shared_results) == 10
    assert sum(r.duplicates for r in shared_results) == 10 * (writers - 1)


def test_serving_with_no_migrate_refuses_an_old_schema(tmp_path, restore_logging, capsys):
    assert main(["--db", f"sqlite:///{tmp_path / 'empty.db'}", "--no-migrate", "--port", "1"]) == 1
    err = capsys.readouterr().err
    assert "schema_not_current" in err and "lantern-sync-server migrate" in err


def test_the_default_database_lives_in_the_data_folder(tmp_path):
    with SyncServerProcess(data_dir=tmp_path / "data") as server, httpx.Client(base_url=server.url) as http:
        Api(http).register()
        assert "--db" not in server.command()
    assert (tmp_path / "data" / "sync.db").is_file()


@pytest.mark.parametrize("argv", [["--workers", "0"], ["--token-days", "0"], ["--pool-size", "0"]])
def test_bad_options_exit_2(argv, capsys):
    assert main(argv) == 2
    assert "at least 1" in capsys.readouterr().err
