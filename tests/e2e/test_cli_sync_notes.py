"""`lantern sync …` and `lantern notes …` end to end: two LANTERN_HOMEs, the real sync server, the CLI's main()."""

from __future__ import annotations

import io
import json

import pytest

from app.cli import main
from tests.support.sync_devices import PASSWORD, new_user
from tests.support.sync_server import SyncServerProcess


@pytest.fixture(scope="module")
def server():
    with SyncServerProcess() as running:
        yield running


def run(monkeypatch, capsys, home, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    monkeypatch.setenv("LANTERN_HOME", str(home))
    monkeypatch.setenv("LANTERN_ALLOW_PLAINTEXT_SECRETS", "1")  # no OS keyring in tests: the private file
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_notes_and_sync_headless(server, tmp_path, monkeypatch, capsys):
    laptop, phone = tmp_path / "laptop", tmp_path / "phone"
    user = new_user("cli")
    code, out, err = run(monkeypatch, capsys, laptop, "sync", "register", "--server", server.url, "--user", user,
                         "--password-stdin", "--device-name", "laptop", stdin=PASSWORD + "\n")
    assert code == 0, err
    assert "Signed in" in out and PASSWORD not in out + err

    code, out, err = run(monkeypatch, capsys, laptop, "notes", "add", "python-basics/05-loops#while", "loops repeat")
    assert code == 0, err
    note_id = out.split()[2]
    code, out, _ = run(monkeypatch, capsys, laptop, "notes", "list", "--json")
    [note] = json.loads(out)
    assert note["id"] == note_id and note["section"] == "while" and note["text"] == "loops repeat"
    assert run(monkeypatch, capsys, laptop, "notes", "edit", note_id, "loops repeat code")[0] == 0

    code, out, _ = run(monkeypatch, capsys, laptop, "sync", "status", "--json")
    status = json.loads(out)
    assert status["signed_in"] and status["pending"] == 3 and status["user"] == user
    code, out, _ = run(monkeypatch, capsys, laptop, "sync", "now", "--json")
    assert code == 0 and json.loads(out)["pushed"] == 3

    code, out, err = run(monkeypatch, capsys, phone, "sync", "login", "--server", server.url, "--user", user,
                         "--password-stdin", "--device-name", "phone", stdin=PASSWORD)
    assert code == 0, err
    assert "received 3" in out
    code, out, _ = run(monkeypatch, capsys, phone, "notes", "list", "python-basics/05-loops", "--json")
    assert [n["text"] for n in json.loads(out)] == ["loops repeat code"]

    # Edited on both before syncing: a conflict, shown with both versions, resolved from the CLI.
    run(monkeypatch, capsys, phone, "notes", "edit", note_id, "phone version")
    run(monkeypatch, capsys, laptop, "notes", "edit", note_id, "laptop version")
    run(monkeypatch, capsys, phone, "sync", "now")
    code, out, _ = run(monkeypatch, capsys, laptop, "sync", "now")
    assert "conflicts to resolve" in out
    code, out, _ = run(monkeypatch, capsys, laptop, "notes", "list")
    assert "CONFLICT" in out and "[1]" in out and "[2]" in out
    code, out, _ = run(monkeypatch, capsys, laptop, "notes", "list", "--json")
    versions = [v["text"] for v in json.loads(out)[0]["versions"]]
    assert sorted(versions) == ["laptop version", "phone version"]
    assert run(monkeypatch, capsys, laptop, "notes", "resolve", note_id, "--keep",
               str(versions.index("phone version") + 1))[0] == 0
    code, out, _ = run(monkeypatch, capsys, laptop, "notes", "list", "--json")
    assert json.loads(out)[0]["text"] == "phone version" and not json.loads(out)[0]["conflict"]

    assert run(monkeypatch, capsys, laptop, "notes", "rm", note_id)[0] == 0
    assert json.loads(run(monkeypatch, capsys, laptop, "notes", "list", "--json")[1]) == []
    code, _out, err = run(monkeypatch, capsys, laptop, "notes", "rm", note_id)
    assert code == 1 and "no note" in err.lower() and "Hint:" in err

    code, out, _ = run(monkeypatch, capsys, laptop, "sync", "logout")
    assert code == 0 and "Signed out" in out
    code, out, _ = run(monkeypatch, capsys, laptop, "sync", "status", "--json")
    assert not json.loads(out)["signed_in"]
    code, _out, err = run(monkeypatch, capsys, laptop, "sync", "now")
    assert code == 1 and "not signed in" in err


def test_bad_input_gets_a_message_and_a_hint(server, tmp_path, monkeypatch, capsys):
    home = tmp_path / "h"
    with pytest.raises(SystemExit):
        run(monkeypatch, capsys, home, "notes", "add", "no-lesson-here", "text")
    assert "not a lesson reference" in capsys.readouterr().err
    code, _out, err = run(monkeypatch, capsys, home, "sync", "login", "--server", "http://sync.example.org",
                          "--user", "someone", "--password-stdin", stdin=PASSWORD)
    assert code == 1 and "plain http" in err and "https" in err
    code, _out, err = run(monkeypatch, capsys, home, "sync", "login", "--server", server.url, "--user", new_user(),
                          "--password-stdin", stdin=PASSWORD)
    assert code == 1 and "user name or password is wrong" in err
    code, _out, err = run(monkeypatch, capsys, home, "notes", "add", "c/l", "   ")
    assert code == 1 and "needs some text" in err
