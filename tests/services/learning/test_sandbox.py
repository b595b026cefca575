"""The snippet sandbox, through real child interpreters (Linux): what runs, what is refused, what is stopped."""

from __future__ import annotations

import socket
import sys
import textwrap
import uuid
from pathlib import Path

import psutil
import pytest

from app.core.learning.output_match import normalise_output, same_output
from app.services.learning import sandbox
from app.services.learning.sandbox import SnippetResult, run_snippet

REPO = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the limits are checked on Linux")


def run(code: str, **kwargs: object) -> SnippetResult:
    return run_snippet(textwrap.dedent(code), **kwargs)  # type: ignore[arg-type]


def assert_refused(result: SnippetResult, category: str) -> None:
    assert (result.ok, result.reason) == (False, "refused"), result
    assert result.detail.startswith(f"{category}: "), result.detail
    assert "PermissionError: Lantern's sandbox does not allow" in result.stderr


# -- what runs -----------------------------------------------------------------------------------------

def test_prints_and_reads_stdin():
    result = run("""
        name = input()
        print(f"Hello, {name}!")
        print(sum(int(x) for x in input().split()))
    """, stdin="Lan\n1 2 3\n")
    assert (result.ok, result.reason, result.exit_code) == (True, "", 0)
    assert result.stdout == "Hello, Lan!\n6\n"
    assert result.stderr == "" and result.detail == ""
    assert 0 < result.seconds < 3


def test_writes_in_its_own_folder_work_and_the_folder_is_removed_afterwards():
    result = run("""
        import os, sqlite3, tempfile
        with open("notes.txt", "w") as f:
            f.write("first line\\n")
        with open("notes.txt", "a") as f:
            f.write("second line\\n")
        os.makedirs("data/old")
        os.rename("notes.txt", "data/notes.txt")
        os.rmdir("data/old")
        db = sqlite3.connect("scores.db")
        db.execute("create table t (x)")
        db.commit()
        handle, temp_name = tempfile.mkstemp()
        os.close(handle)
        print(open("data/notes.txt").read(), end="")
        print(sorted(os.listdir(".")), os.path.dirname(temp_name) == os.getcwd())
        print(os.getcwd())
    """)
    assert result.ok, result
    lines = result.stdout.splitlines()
    assert lines[:2] == ["first line", "second line"]
    assert lines[2].startswith("['data', 'scores.db', 'tmp") and lines[2].endswith("True")
    assert Path(lines[3]).name == "work" and not Path(lines[3]).parent.exists()


def test_reading_files_outside_works(tmp_path: Path):
    (tmp_path / "lesson.txt").write_text("read me", encoding="utf-8")
    result = run(f"print(open({str(tmp_path / 'lesson.txt')!r}).read()); import json; print(json.dumps([1]))")
    assert result.ok, result
    assert result.stdout == "read me\n[1]\n"


def test_asyncio_pickle_dataclasses_and_threads_work():
    # asyncio wakes its loop through an AF_UNIX socket pair; pickle and dataclasses find classes in __main__.
    result = run("""
        import asyncio, dataclasses, pickle, threading

        @dataclasses.dataclass
        class Point:
            x: int

        async def double(n):
            await asyncio.sleep(0)
            return 2 * n

        t = threading.Thread(target=print, args=("from a thread",))
        t.start(); t.join()
        print(asyncio.run(double(21)), pickle.loads(pickle.dumps(Point(3))))
    """)
    assert result.ok, result
    assert result.stdout == "from a thread\n42 Point(x=3)\n"


def test_a_large_stdin_that_is_never_read_does_not_hang():
    result = run("print('done')", stdin="x" * 1_000_000)
    assert result.ok and result.stdout == "done\n", result


# -- what is refused ------------------------------------------------------------------------------------

def test_writing_outside_its_folder_is_refused(tmp_path: Path):
    home_probe = Path.home() / f"lantern-sandbox-probe-{uuid.uuid4().hex}.txt"
    try:
        for target in (tmp_path / "x.txt", home_probe):
            result = run(f"open({str(target)!r}, 'w').write('escaped')")
            assert_refused(result, "write")
            assert str(target) in result.detail
            assert not target.exists()
    finally:
        home_probe.unlink(missing_ok=True)  # only there if the test failed
    result = run(f"import pathlib; pathlib.Path({str(tmp_path / 'y.txt')!r}).write_text('escaped')")
    assert_refused(result, "write")
    assert not (tmp_path / "y.txt").exists()


def test_deleting_renaming_and_linking_outside_are_refused(tmp_path: Path):
    keep = tmp_path / "keep.txt"
    keep.write_text("still here", encoding="utf-8")
    for code in (f"import os; os.remove({str(keep)!r})",
                 f"import os; os.rename({str(keep)!r}, 'stolen.txt')",
                 f"import shutil; shutil.rmtree({str(tmp_path)!r})",
                 f"import os; os.chmod({str(keep)!r}, 0o777)",
                 f"import os; os.mkdir({str(tmp_path / 'new')!r})",
                 f"import os; os.link({str(keep)!r}, 'hard.txt')",
                 f"import os; os.chdir({str(tmp_path)!r}); open('relative.txt', 'w')"):
        assert_refused(run(code), "write")
    # A symlink inside the folder does not lead a write out of it.
    result = run(f"""
        import os
        os.symlink({str(tmp_path)!r}, "link")
        open("link/through.txt", "w").write("escaped")
    """)
    assert_refused(result, "write")
    assert keep.read_text(encoding="utf-8") == "still here"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_sqlite_files_outside_are_refused(tmp_path: Path):
    result = run(f"import sqlite3; sqlite3.connect({str(tmp_path / 'a.db')!r}).execute('create table t (x)')")
    assert_refused(result, "write")
    assert not (tmp_path / "a.db").exists()


def test_a_connection_to_a_real_listener_is_refused():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.setblocking(False)
        port = listener.getsockname()[1]
        via_helper = run(f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=1)")
        raw = run(f"import socket; s = socket.socket(); s.connect(('127.0.0.1', {port}))")
        web = run(f"import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:{port}/').read())")
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody ever connected
    assert_refused(via_helper, "network")
    assert_refused(raw, "network")
    assert raw.detail == "network: socket.__new__"
    assert_refused(web, "network")
    assert web.detail == "network: urllib.Request"


def test_processes_cannot_be_started():
    for code, operation in (("import subprocess; subprocess.run(['echo', 'hi'])", "subprocess.Popen"),
                            ("import os; os.system('echo hi')", "os.system"),
                            ("import os; os.execv('/bin/echo', ['echo', 'hi'])", "os.exec"),
                            ("import os; os.fork()", "os.fork"),
                            ("import os; os.posix_spawn('/bin/echo', ['echo', 'hi'], {})", "os.posix_spawn"),
                            ("import _posixsubprocess; _posixsubprocess.fork_exec()", "_posixsubprocess.fork_exec")):
        result = run(code)
        assert_refused(result, "process")
        assert result.detail == f"process: {operation}"
        assert "hi" not in result.stdout


def test_multiprocessing_cannot_fork():
    result = run("""
        import multiprocessing
        if __name__ == "__main__":
            p = multiprocessing.Process(target=print, args=("child",))
            p.start()
            p.join()
    """)
    assert_refused(result, "process")
    assert "child" not in result.stdout


def test_ctypes_signals_and_limits_cannot_be_touched():
    assert_refused(run("import ctypes"), "native")
    assert_refused(run("import _ctypes"), "native")
    assert_refused(run("import os, signal; os.kill(os.getpid(), signal.SIGTERM)"), "signal")
    assert_refused(run("import signal; signal.signal(signal.SIGXCPU, signal.SIG_IGN)"), "signal")
    assert_refused(run("import resource; resource.setrlimit(resource.RLIMIT_CPU, (100, 100))"), "limits")
    assert run("import signal; signal.signal(signal.SIGINT, signal.SIG_IGN); print('ok')").ok  # others are fine


def test_a_caught_refusal_is_still_reported():
    result = run("""
        import os
        try:
            os.system("echo hi")
        except PermissionError as exc:
            print("caught:", exc)
    """)
    assert result.exit_code == 0 and result.stdout.startswith("caught: Lantern's sandbox does not allow")
    assert (result.ok, result.reason, result.detail) == (False, "refused", "process: os.system")


def test_third_party_packages_are_not_found():
    result = run("import psutil")
    assert (result.ok, result.reason) == (False, "error")
    assert result.detail == "ModuleNotFoundError: No module named 'psutil'"


# -- what is stopped ------------------------------------------------------------------------------------

def test_an_infinite_loop_is_stopped_and_leaves_no_process():
    result = run("""
        import os
        print(os.getpid(), flush=True)
        while True:
            pass
    """, timeout_s=1.0)
    assert (result.ok, result.reason) == (False, "timeout"), result
    assert "1 s" in result.detail
    assert 1.0 <= result.seconds < 2.0
    pid = int(result.stdout.split()[0])
    assert not psutil.pid_exists(pid)


def test_sleeping_past_the_wall_clock_is_stopped():
    result = run("import time; time.sleep(30)", timeout_s=0.5)
    assert result.reason == "timeout" and result.seconds < 1.5, result


@pytest.mark.parametrize("code", ["x = bytearray(10**10)",
                                  "x = []\nwhile True:\n    x.append(' ' * 10**6)"], ids=["one-block", "growing-list"])
def test_a_memory_bomb_is_stopped(code: str):
    result = run(code, memory_mb=128, timeout_s=5.0)
    assert (result.ok, result.reason) == (False, "memory"), result
    assert "128 MB" in result.detail
    assert psutil.Process().memory_info().rss < 1024**3  # the bomb went off in the child, not here


def test_huge_output_is_capped():
    result = run("while True:\n    print('x' * 1000)", max_output=10_000)
    assert (result.ok, result.reason) == (False, "output_too_long"), result
    assert len(result.stdout) == 10_000 and set(result.stdout) <= {"x", "\n"}
    assert "10000 bytes" in result.detail


def test_files_are_limited_to_one_mebibyte():
    result = run("open('big.bin', 'wb').write(b'x' * (2 * 1024 * 1024))")
    assert (result.ok, result.reason) == (False, "error"), result
    assert "File too large" in result.detail


# -- errors ---------------------------------------------------------------------------------------------

def test_a_syntax_error_is_an_error_with_its_line():
    result = run("print('unclosed'\n")
    assert (result.ok, result.reason, result.exit_code) == (False, "error", 1)
    assert 'File "<snippet>", line 1' in result.stderr and "SyntaxError" in result.detail


def test_an_exception_is_an_error_with_a_plain_traceback():
    result = run("""
        def ratio(a, b):
            return a / b
        print("before")
        ratio(1, 0)
    """)
    assert (result.ok, result.reason, result.exit_code) == (False, "error", 1)
    assert result.stdout == "before\n"
    assert result.detail == "ZeroDivisionError: division by zero"
    assert 'File "<snippet>", line 3, in ratio' in result.stderr and "return a / b" in result.stderr
    assert "sandbox_child" not in result.stderr  # the runner's own frames are left out


def test_sys_exit_codes_pass_through():
    assert run("import sys; print('bye'); sys.exit(0)").ok
    result = run("import sys; sys.exit(3)")
    assert (result.ok, result.reason, result.exit_code) == (False, "error", 3)


def test_bad_limits_are_rejected():
    with pytest.raises(ValueError):
        run_snippet("print(1)", timeout_s=0)


# -- the frozen app's hidden entry -------------------------------------------------------------------------

def test_the_frozen_entry_runs_the_child(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # Stand-in for the bundle: an "executable" that runs `python -m app` with its own arguments.
    exe = tmp_path / "lantern"
    exe.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        exec {sys.executable} -c "import runpy, sys; sys.path.insert(0, {str(REPO)!r}); \\
        runpy.run_module('app', run_name='__main__', alter_sys=True)" "$@"
        """), encoding="utf-8")
    exe.chmod(0o755)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(exe))
    assert sandbox.child_command(Path("job.json"))[1] == "--lantern-sandbox-child"
    result = run("""
        import sys
        print("app.cli" in sys.modules, "PySide6" in sys.modules)
        import psutil
    """)
    assert result.stdout == "False False\n", result  # the hook runs before anything heavy is imported
    assert result.detail == "ModuleNotFoundError: No module named 'psutil'"  # only the standard library
    assert_refused(run("import os; os.system('echo hi')"), "process")


# -- grading compares outputs without the invisible differences -------------------------------------------------

def test_outputs_compare_without_line_ends_trailing_spaces_or_blank_lines():
    printed = run("print('a  '); print('b'); print(); print()").stdout
    assert printed == "a  \nb\n\n\n"
    assert normalise_output(printed) == "a\nb"
    assert same_output(printed, "a\r\nb\r\n") and same_output("a\rb", "a\nb   \n\n")
    assert not same_output(printed, "A\nb") and not same_output(printed, "a b")
    assert not same_output("\na", "a")  # a leading blank line is printed output too
    assert normalise_output("") == "" and normalise_output("\n\n  \n") == ""
