"""Run a "what does this print?" snippet in a sandboxed subprocess and capture what it prints.

The quiz's expected output is what the code really printed, never what the model claimed, so the
snippet has to run; this module runs it so that a wrong or runaway snippet cannot hurt the learner's
machine. The snippet comes from our own model, not an attacker, but we assume it may be wrong, loop
forever, eat memory or try things a lesson shows (writing files, fetching a URL).

What the child gets (app/services/learning/sandbox_child.py does the child side):
- a fresh interpreter: `python -I -S sandbox_child.py JOB` from a checkout (isolated mode: no user
  site, no PYTHON* variables, no site-packages), or `<Lantern executable> --lantern-sandbox-child JOB`
  in the frozen app; third-party packages are "not found" either way, so both behave alike;
- a fresh temporary folder as its working directory (also HOME and TMPDIR), removed afterwards, a
  minimal environment, the given text as stdin, stdout and stderr captured up to `max_output` bytes
  each (more stops the run: reason "output_too_long");
- POSIX limits set by the child before anything runs: RLIMIT_AS (`memory_mb` beyond the interpreter's
  start-up mappings), RLIMIT_CPU, RLIMIT_FSIZE (1 MiB) and RLIMIT_CORE=0; and in the parent a wall
  clock that kills the whole process group (its own session) and a psutil watch of the process tree's
  resident memory. RLIMIT_NPROC is not set: Linux counts every thread of the user against it, so 0
  would break `threading`, and root ignores it anyway; process creation is refused below instead;
- an audit hook (sys.addaudithook, which cannot be removed) that refuses network access (every
  `socket.*` event except an AF_UNIX socket pair, which asyncio uses to wake its own loop, plus urllib,
  http.client, ftplib, smtplib, ...), writes, deletes, renames, mkdir/chmod/links outside the folder
  (os.devnull is allowed), process creation (subprocess, os.system, exec*, spawn*, posix_spawn, fork,
  and the raw `_posixsubprocess.fork_exec`), os.kill/killpg/pthread_kill, changing SIGXCPU/SIGXFSZ,
  resource.setrlimit, sqlite3 extensions and files outside the folder, and ctypes (import and every
  `ctypes.*` event). A refusal raises PermissionError in the snippet and is reported here as reason
  "refused" with the operation in `detail`, even if the snippet caught the error.

Honest limits: an audit hook is not a security boundary against native code or a determined
attacker (CPython's own documentation says so); that is why native escapes (ctypes, process
creation) are refused and the resource limits apply underneath. `os.open(..., dir_fd=...)` is
checked against its path only. On macOS RLIMIT_AS is not enforced, and Windows has no `resource`
module: there the memory limit is the psutil watch (polled every POLL_S seconds, so a very fast
allocation can overshoot briefly before the kill) and the time limit is the wall clock. On Windows
asyncio's self-pipe is a loopback TCP pair, which the network rule refuses.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import psutil

from app.core.i18n import _
from app.services.learning import sandbox_child

FILE_SIZE_LIMIT = 1024 * 1024  # RLIMIT_FSIZE: a lesson's notes.txt fits; a runaway writer stops at 1 MiB
POLL_S = 0.05  # how often the parent checks the wall clock, the output caps and the memory watch
_READ_CHUNK = 65536


@dataclass(frozen=True)
class SnippetResult:
    ok: bool  # ran to completion with exit code 0 and nothing refused
    stdout: str  # captured standard output, at most max_output bytes (reason "output_too_long" if cut)
    stderr: str
    exit_code: int | None  # negative: killed by that signal (POSIX); None: it never started
    reason: str  # "" when ok; else "timeout" | "memory" | "refused" | "error" | "output_too_long"
    detail: str  # short explanation, e.g. the refused operation "network: socket.connect"
    seconds: float


def run_snippet(code: str, *, stdin: str = "", timeout_s: float = 3.0, memory_mb: int = 256,
                max_output: int = 65536) -> SnippetResult:
    """Run `code` in a fresh sandboxed interpreter and return what it printed and how it ended."""
    if timeout_s <= 0 or memory_mb <= 0 or max_output <= 0:
        raise ValueError("timeout_s, memory_mb and max_output must be positive")
    root = Path(tempfile.mkdtemp(prefix="lantern-snippet-"))
    try:
        folder = root / "work"
        folder.mkdir()
        control = root / "control.jsonl"
        job = {"code": code, "folder": str(folder), "control": str(control),
               "cpu_seconds": math.ceil(timeout_s) + 1, "memory_bytes": memory_mb * 1024 * 1024,
               "file_size_bytes": FILE_SIZE_LIMIT}
        job_path = root / "job.json"
        job_path.write_text(json.dumps(job), encoding="utf-8")
        return _Run(child_command(job_path), folder, control, stdin=stdin, timeout_s=timeout_s,
                    memory_mb=memory_mb, max_output=max_output).wait()
    finally:
        _remove_tree(root)


def child_command(job_path: Path) -> list[str]:
    """The argv that starts the child: the frozen app runs itself with the hidden flag."""
    if getattr(sys, "frozen", False):
        return [sys.executable, sandbox_child.CHILD_FLAG, str(job_path)]
    return [sys.executable, "-I", "-S", str(Path(sandbox_child.__file__).resolve()), str(job_path)]


def child_environment(folder: Path) -> dict[str, str]:
    """A minimal environment: no tokens, no PYTHON* variables, temp files and HOME in the folder."""
    env = {"HOME": str(folder), "TMPDIR": str(folder), "TEMP": str(folder), "TMP": str(folder),
           "PATH": os.environ.get("PATH", os.defpath), "LC_ALL": "C.UTF-8",
           # glibc reserves 64 MiB of address space per thread arena, which RLIMIT_AS would count.
           "MALLOC_ARENA_MAX": "2"}
    if sys.platform == "win32":
        env.pop("LC_ALL")
        env["USERPROFILE"] = str(folder)
        for name in ("SYSTEMROOT", "SYSTEMDRIVE", "WINDIR"):  # Windows cannot start a process without them
            if name in os.environ:
                env[name] = os.environ[name]
    return env


class _Capped:
    """Reads a pipe to its end on a thread, keeping the first `limit` bytes."""

    def __init__(self, stream: IO[bytes], limit: int) -> None:
        self.data = bytearray()
        self.limit = limit
        self.overflow = False
        self.thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self.thread.start()

    def _pump(self, stream: IO[bytes]) -> None:
        fd = stream.fileno()
        try:
            while chunk := os.read(fd, _READ_CHUNK):
                room = self.limit - len(self.data)
                if len(chunk) > room:
                    self.overflow = True
                self.data += chunk[:max(room, 0)]
        except OSError:
            pass
        finally:
            stream.close()

    def text(self) -> str:
        return self.data.decode("utf-8", "replace")


def _feed(stream: IO[bytes], data: bytes) -> None:
    try:
        stream.write(data)
    except OSError:
        pass  # the snippet exited without reading all of stdin
    finally:
        with contextlib.suppress(OSError):
            stream.close()


class _Run:
    def __init__(self, argv: list[str], folder: Path, control: Path, *, stdin: str, timeout_s: float,
                 memory_mb: int, max_output: int) -> None:
        self.argv, self.folder, self.control = argv, folder, control
        self.stdin = stdin.encode("utf-8")
        self.timeout_s, self.memory_mb, self.max_output = timeout_s, memory_mb, max_output
        self.readers: tuple[_Capped, ...] = ()

    def wait(self) -> SnippetResult:
        started = time.monotonic()
        try:
            proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, cwd=self.folder, env=child_environment(self.folder),
                                    **_session_options())
        except OSError as exc:
            return SnippetResult(False, "", "", None, "error",
                                 _("Could not start Python for the code: {error}").format(error=exc), 0.0)
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        out, err = _Capped(proc.stdout, self.max_output), _Capped(proc.stderr, self.max_output)
        self.readers = (out, err)
        threading.Thread(target=_feed, args=(proc.stdin, self.stdin), daemon=True).start()
        cause = self._watch(proc, started)
        _kill_tree(proc)  # the leader is still unreaped here, so its group id cannot have been reused
        code = proc.wait()
        seconds = time.monotonic() - started
        for reader in (out, err):
            reader.thread.join(timeout=2.0)
        return self._result(cause, code, out, err, seconds)

    def _watch(self, proc: subprocess.Popen[bytes], started: float) -> str:
        """Wait for the child to exit; "" when it did, else why it must be stopped."""
        deadline = started + self.timeout_s
        try:
            watched: psutil.Process | None = psutil.Process(proc.pid)
        except psutil.Error:
            watched = None
        limit: int | None = None  # resident bytes allowed, known once the child says it has started
        while not _exited(proc):
            if self._overflowing():
                return "output"
            if time.monotonic() >= deadline:
                return "timeout"
            if limit is None and watched is not None:
                limit = self._memory_watch_limit(watched)
            if limit is not None and limit > 0 and _tree_rss(watched) > limit:  # type: ignore[arg-type]
                return "memory"
            stdout_reader = self.readers[0].thread
            if stdout_reader.is_alive():
                stdout_reader.join(POLL_S)  # returns as soon as the child closes stdout, usually at its exit
            else:
                time.sleep(POLL_S)
        return "output" if self._overflowing() else ""

    def _memory_watch_limit(self, watched: psutil.Process) -> int | None:
        """None until the child's start mark; then 0 (no watch) where RLIMIT_AS holds, else the RSS cap.

        The cap is the interpreter's own resident size at the mark plus memory_mb, so memory_mb means
        the same as on Linux: what the snippet itself may use.
        """
        start = next((m for m in _read_marks(self.control) if m.get("started")), None)
        if start is None:
            return None
        if start.get("address_limit"):
            return 0
        baseline = int(start.get("rss") or 0)
        if baseline <= 0:  # Windows: no resource module in the child, so measure it here
            baseline = _tree_rss(watched)
        return baseline + self.memory_mb * 1024 * 1024

    def _overflowing(self) -> bool:
        return any(reader.overflow for reader in self.readers)

    def _result(self, cause: str, code: int, out: _Capped, err: _Capped, seconds: float) -> SnippetResult:
        marks = _read_marks(self.control)
        refused = next((m for m in marks if "refused" in m), None)
        overflow = cause == "output" or out.overflow or err.overflow
        reason, detail = "", ""
        if overflow:
            reason = "output_too_long"
            detail = _("It printed more than {limit} bytes; the output was cut there.").format(limit=self.max_output)
        elif cause == "timeout" or (hasattr(signal, "SIGXCPU") and code == -signal.SIGXCPU):
            reason = "timeout"
            detail = _("It ran longer than {seconds} s and was stopped.").format(seconds=f"{self.timeout_s:g}")
        elif cause == "memory" or any(m.get("memory") for m in marks):
            reason = "memory"
            detail = _("It used more than {mb} MB of memory and was stopped.").format(mb=self.memory_mb)
        elif refused is not None:
            reason = "refused"
            detail = f"{refused['refused']}: {refused.get('operation', '')}"
        elif code != 0:
            reason = "error"
            detail = _last_line(err.text()) or _("It stopped with exit code {code}.").format(code=code)
        return SnippetResult(reason == "", out.text(), err.text(), code, reason, detail, round(seconds, 3))


def _session_options() -> dict[str, Any]:
    """Start the child in its own session (POSIX) or process group (Windows) so it can be killed whole."""
    if sys.platform == "win32":
        flags = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0) | getattr(subprocess, "CREATE_NO_WINDOW", 0)
        return {"creationflags": flags}
    return {"start_new_session": True}


def _exited(proc: subprocess.Popen[bytes]) -> bool:
    """Whether the child has exited, without reaping it where the platform allows (its pid stays reserved)."""
    waitid = getattr(os, "waitid", None)
    if waitid is None or proc.returncode is not None:
        return proc.poll() is not None
    try:
        return waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _tree_rss(process: psutil.Process) -> int:
    try:
        members = [process, *process.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for member in members:
        with contextlib.suppress(psutil.Error):
            total += member.memory_info().rss
    return total


def _kill_tree(proc: subprocess.Popen[bytes]) -> None:
    if sys.platform == "win32":
        try:
            children = psutil.Process(proc.pid).children(recursive=True)
        except psutil.Error:
            children = []
        for child in children:
            with contextlib.suppress(psutil.Error):
                child.kill()
        with contextlib.suppress(OSError):
            proc.kill()
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _read_marks(control: Path) -> list[dict[str, Any]]:
    try:
        lines = control.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    marks = []
    for line in lines:
        try:
            mark = json.loads(line)
        except ValueError:
            continue
        if isinstance(mark, dict):
            marks.append(mark)
    return marks


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


def _remove_tree(root: Path) -> None:
    """Remove the run's folder even where the snippet made files read-only."""
    def make_writable(func: Any, path: str, _exc: object) -> None:
        try:
            os.chmod(os.path.dirname(path), stat.S_IRWXU)
            if os.path.isdir(path) and not os.path.islink(path):
                os.chmod(path, stat.S_IRWXU)
            func(path)
        except OSError:
            pass
    if sys.version_info >= (3, 12):
        shutil.rmtree(root, onexc=make_writable)
    else:
        shutil.rmtree(root, onerror=make_writable)
