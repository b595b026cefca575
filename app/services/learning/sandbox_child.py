"""The child side of the snippet sandbox (app/services/learning/sandbox.py): limits, audit hook, run.

It runs in a fresh interpreter, either as a script (`python -I -S sandbox_child.py JOB`: isolated mode
puts no app code on sys.path, so this file imports the standard library only) or, in the frozen app,
as `<Lantern executable> --lantern-sandbox-child JOB` (app/__main__.py and the bundle's entry call
`main`). JOB is a JSON file the parent wrote: the code, the folder it may write in, the control file
and the limits.

Order matters: resource limits first, then everything the guard needs is imported, then the audit
hook goes in (it cannot be removed), and only then is the snippet compiled and run. A refusal raises
PermissionError in the snippet and appends one JSON line to the control file through a descriptor
opened before the hook, so stderr stays the snippet's own.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

CHILD_FLAG = "--lantern-sandbox-child"
SNIPPET_FILENAME = "<snippet>"

# Audit events refused outright, by prefix: (prefix, category shown in the parent's detail).
_REFUSED_PREFIXES = (
    ("urllib.Request", "network"), ("http.client.", "network"), ("ftplib.", "network"), ("smtplib.", "network"),
    ("poplib.", "network"), ("imaplib.", "network"), ("nntplib.", "network"), ("telnetlib.", "network"),
    ("webbrowser.", "network"),
    ("ctypes.", "native"), ("winreg.", "system"), ("syslog.", "system"),
)
_REFUSED_EVENTS = {
    "subprocess.Popen": "process", "os.system": "process", "os.exec": "process", "os.posix_spawn": "process",
    "os.spawn": "process", "os.fork": "process", "os.forkpty": "process", "os.startfile": "process",
    "pty.spawn": "process", "_winapi.CreateProcess": "process",
    "os.kill": "signal", "os.killpg": "signal", "signal.pthread_kill": "signal",
    "resource.setrlimit": "limits", "resource.prlimit": "limits",
    "sqlite3.enable_load_extension": "native", "sqlite3.load_extension": "native",
}
_NATIVE_MODULES = ("ctypes", "_ctypes")
# Event -> the (path argument, its dir_fd argument or None) pairs that must lie inside the folder.
_PATH_EVENTS: dict[str, tuple[tuple[int, int | None], ...]] = {
    "os.remove": ((0, 1),), "os.rmdir": ((0, 1),), "os.mkdir": ((0, 2),), "os.chmod": ((0, 2),),
    "os.chown": ((0, 3),), "os.rename": ((0, 2), (1, 3)), "os.link": ((0, 2), (1, 3)), "os.symlink": ((1, 2),),
    "os.utime": ((0, 3),), "os.truncate": ((0, None),), "os.chflags": ((0, None),), "os.lchflags": ((0, None),),
    "os.lchmod": ((0, None),), "os.setxattr": ((0, None),), "os.removexattr": ((0, None),),
    "os.mkfifo": ((0, 2),), "os.mknod": ((0, 3),), "shutil.rmtree": ((0, 1),),
}
_MESSAGES = {
    "network": "network access",
    "write": "changing files outside the snippet's own folder",
    "process": "starting or forking processes",
    "signal": "sending signals or changing the limit signals",
    "limits": "changing the resource limits",
    "native": "native code (ctypes, extensions)",
    "system": "changing system settings",
}


class _Guard:
    """The audit hook: refuses what a snippet must not do, lets reading and in-folder writes through."""

    def __init__(self, folder: str, control_fd: int) -> None:
        self.folder = os.path.normcase(os.path.realpath(folder))
        self.control_fd = control_fd
        self.devnull = os.path.normcase(os.path.realpath(os.devnull))
        self.write_flags = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC

    def refuse(self, category: str, operation: str) -> None:
        line = json.dumps({"refused": category, "operation": operation}) + "\n"
        with contextlib.suppress(OSError):  # closed by the snippet: the PermissionError still stops it
            os.write(self.control_fd, line.encode("utf-8", "replace"))
        raise PermissionError(f"Lantern's sandbox does not allow {_MESSAGES[category]} ({operation})")

    def __call__(self, event: str, args: tuple[object, ...]) -> None:
        if event == "open":
            self._check_open(args)
        elif event in _PATH_EVENTS:
            for at, dir_fd_at in _PATH_EVENTS[event]:
                dir_fd = args[dir_fd_at] if dir_fd_at is not None and dir_fd_at < len(args) else None
                if not self._inside(args[at], dir_fd):
                    self.refuse("write", f"{event} {_shown(args[at])}")
        elif event == "import":
            self._check_import(str(args[0]))
        elif event.startswith("socket."):
            # An AF_UNIX socket pair is how asyncio wakes its own loop on POSIX; every other socket call is network.
            if not (event == "socket.__new__" and len(args) > 1 and args[1] == _af_unix()):
                self.refuse("network", event)
        elif event in _REFUSED_EVENTS:
            self.refuse(_REFUSED_EVENTS[event], event)
        elif event == "sqlite3.connect":
            self._check_sqlite(args[0])
        else:
            for prefix, category in _REFUSED_PREFIXES:
                if event.startswith(prefix):
                    self.refuse(category, event)

    def _check_open(self, args: tuple[object, ...]) -> None:
        path, mode, flags = (*args, None, None, None)[:3]
        writing = isinstance(mode, str) and any(c in mode for c in "wax+")
        writing = writing or (isinstance(flags, int) and bool(flags & self.write_flags))
        if writing and not isinstance(path, int) and not self._inside(path, None):
            self.refuse("write", f"open {_shown(path)}")

    def _check_import(self, name: str) -> None:
        if name.partition(".")[0] in _NATIVE_MODULES:
            self.refuse("native", f"import {name}")

    def _check_sqlite(self, database: object) -> None:
        text = os.fsdecode(database) if isinstance(database, (str, bytes, os.PathLike)) else ""
        if text in ("", ":memory:") or text.startswith("file::memory:"):
            return
        if text.startswith("file:"):
            text = text[len("file:"):].partition("?")[0]
        if not self._inside(text, None):
            self.refuse("write", f"sqlite3.connect {_shown(database)}")

    def _inside(self, path: object, dir_fd: object) -> bool:
        resolved = _resolve(path, dir_fd)
        if resolved is None:
            return False
        resolved = os.path.normcase(resolved)
        return resolved == self.devnull or resolved == self.folder or resolved.startswith(self.folder + os.sep)


class _StdlibOnly:
    """A meta-path finder that makes third-party packages "not found", as they are in `python -I -S`.

    The frozen app's archive holds the standard library and the app's own dependencies side by side;
    without this a snippet could import numpy there but not in a source checkout. Raising (rather
    than returning None) ends the search, as a missing module would.
    """

    @staticmethod
    def find_spec(name: str, path: object = None, target: object = None) -> None:
        if name.partition(".")[0] not in sys.stdlib_module_names:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


def _af_unix() -> int | None:
    sock = sys.modules.get("_socket")
    return getattr(sock, "AF_UNIX", None)


def _shown(path: object) -> str:
    return repr(path) if isinstance(path, int) else str(os.fsdecode(path) if isinstance(path, bytes) else path)


def _fd_path(fd: int) -> str | None:
    """The path an open descriptor points at (Linux /proc, macOS F_GETPATH), or None."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        pass
    fcntl = sys.modules.get("fcntl")
    getpath = getattr(fcntl, "F_GETPATH", None)
    if fcntl is not None and getpath is not None:
        try:
            return os.fsdecode(fcntl.fcntl(fd, getpath, bytes(1024)).rstrip(b"\0"))
        except OSError:
            return None
    return None


def _resolve(path: Any, dir_fd: object) -> str | None:
    if isinstance(path, int):
        return _fd_path(path)
    try:
        text = os.fsdecode(os.fspath(path))
    except TypeError:
        return None
    if isinstance(dir_fd, int) and dir_fd >= 0 and not os.path.isabs(text):
        base = _fd_path(dir_fd)
        if base is None:
            return None
        text = os.path.join(base, text)
    return os.path.realpath(text)


def _apply_limits(job: dict[str, object]) -> bool:
    """POSIX resource limits; whether the address-space limit is enforced (Linux only: macOS ignores it,
    Windows has no `resource`, and there the parent watches the resident size instead)."""
    try:
        import resource
    except ImportError:
        return False
    cpu = int(job["cpu_seconds"])  # type: ignore[call-overload]
    fsize = int(job["file_size_bytes"])  # type: ignore[call-overload]
    memory = int(job["memory_bytes"])  # type: ignore[call-overload]
    # The snippet gets `memory` bytes of address space beyond what the interpreter mapped to start.
    limits = [(resource.RLIMIT_CORE, 0), (resource.RLIMIT_CPU, cpu), (resource.RLIMIT_FSIZE, fsize),
              (resource.RLIMIT_AS, _statm()[0] + memory)]
    address_limit = False
    for which, value in limits:
        _soft, hard = resource.getrlimit(which)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        # CPU: SIGXCPU at the soft limit, SIGKILL one second later at the hard one.
        new_hard = value + 1 if which == resource.RLIMIT_CPU and (hard == resource.RLIM_INFINITY or hard > value) \
            else value
        try:
            resource.setrlimit(which, (value, new_hard))
        except (ValueError, OSError):
            continue  # macOS refuses some RLIMIT_AS values; the parent's memory watch applies there
        if which == resource.RLIMIT_AS:
            address_limit = sys.platform.startswith("linux")
    return address_limit


def _statm() -> tuple[int, int]:
    """(mapped bytes, resident bytes) of this process from /proc (Linux), else from getrusage, else zeros."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            pages = f.read().split()
        size = os.sysconf("SC_PAGE_SIZE")
        return int(pages[0]) * size, int(pages[1]) * size
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource
    except ImportError:
        return 0, 0
    return 0, int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # bytes on macOS (Linux has /proc)


def _neutralise(guard: _Guard) -> None:
    """Close the doors the audit events do not cover: the raw fork_exec, limit signals, a loaded ctypes."""
    for name in [m for m in sys.modules if m.partition(".")[0] in _NATIVE_MODULES]:
        del sys.modules[name]  # a frozen app may have loaded ctypes; importing it again now raises the event
    try:
        import _posixsubprocess
    except ImportError:
        pass
    else:
        def fork_exec(*_args: object, **_kwargs: object) -> None:
            guard.refuse("process", "_posixsubprocess.fork_exec")
        _posixsubprocess.fork_exec = fork_exec  # type: ignore[assignment]
    import signal

    _signal: Any = importlib.import_module("_signal")  # the C module the signal.signal wrapper calls
    if hasattr(signal, "SIGXFSZ"):
        # A write past the file-size limit then fails with "File too large" instead of killing the snippet.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    guarded = {int(getattr(signal, n)) for n in ("SIGXCPU", "SIGXFSZ") if hasattr(signal, n)}
    original = _signal.signal

    def guarded_signal(signalnum: int, handler: object) -> object:
        if int(signalnum) in guarded:
            guard.refuse("signal", f"signal.signal({int(signalnum)})")
        return original(signalnum, handler)
    _signal.signal = guarded_signal


def _prepare_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(encoding="utf-8", errors="backslashreplace", newline="\n")
    if isinstance(sys.stdin, io.TextIOWrapper):
        sys.stdin.reconfigure(encoding="utf-8", errors="replace")


def _record(control_fd: int, data: dict[str, object]) -> None:
    with contextlib.suppress(OSError):
        os.write(control_fd, (json.dumps(data) + "\n").encode("utf-8"))


def _run(code: str, control_fd: int) -> int:
    import linecache  # already imported by main(), before the guard
    import types

    linecache.cache[SNIPPET_FILENAME] = (len(code), None, code.splitlines(True), SNIPPET_FILENAME)
    module = types.ModuleType("__main__")
    runner = sys.modules.get("__main__")  # noqa: F841  (keeps this runner's module alive while the snippet runs)
    sys.modules["__main__"] = module  # pickle and dataclasses look the snippet's classes up there
    sys.argv = [SNIPPET_FILENAME]
    try:
        exec(compile(code, SNIPPET_FILENAME, "exec"), module.__dict__)
    except MemoryError:
        module.__dict__.clear()  # free what the snippet holds before reporting
        _record(control_fd, {"memory": True})
        print("MemoryError: the snippet ran out of memory", file=sys.stderr)
        return 1
    except SystemExit:
        raise
    except BaseException as exc:
        _print_traceback(exc)
        return 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                if stream is not None:
                    stream.flush()
            except (OSError, ValueError):
                pass
    return 0


def _print_traceback(exc: BaseException) -> None:
    """The traceback as a plain run would show it: this runner's own frames (exec, the guard) left out."""
    import traceback

    # By name, not full path: in the frozen app the frames' file names are relative to the bundle.
    here = {"sandbox_child.py", "sandbox_child.pyc"}
    report = traceback.TracebackException(type(exc), exc, exc.__traceback__)
    seen: set[int] = set()
    todo = [report]
    while todo:
        part = todo.pop()
        if id(part) in seen:
            continue
        seen.add(id(part))
        part.stack = traceback.StackSummary.from_list(
            [frame for frame in part.stack if os.path.basename(frame.filename) not in here])
        todo += [p for p in (part.__cause__, part.__context__) if p is not None]
    print("".join(report.format()), end="", file=sys.stderr)


def main(argv: list[str]) -> int:
    """Run the job in argv[0] under the limits and the guard; the exit code is the snippet's."""
    with open(argv[0], encoding="utf-8") as f:
        job = json.load(f)
    address_limit = _apply_limits(job)
    control_fd = os.open(job["control"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.chdir(job["folder"])
    _prepare_streams()
    import linecache  # noqa: F401  (what the run and its traceback need, imported before the guard)
    import traceback  # noqa: F401
    import types  # noqa: F401
    with contextlib.suppress(ImportError):  # POSIX only; the guard names a descriptor's file with it on macOS
        import fcntl  # noqa: F401
    guard = _Guard(job["folder"], control_fd)
    _neutralise(guard)
    sys.meta_path.insert(0, _StdlibOnly())
    # The parent's memory watch starts from here: this resident size is the interpreter's, not the snippet's.
    _record(control_fd, {"started": True, "rss": _statm()[1], "address_limit": address_limit})
    sys.addaudithook(guard)
    return _run(job["code"], control_fd)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
