"""The real sync server (`python -m app.services.sync.server`) as a subprocess on 127.0.0.1.

    with SyncServerProcess(db_url) as server:        # db_url None: a SQLite file in a temp folder
                                                     # (or data_dir=DIR: the server's own default there)
        httpx.get(f"{server.url}/healthz")
        server.restart()                             # same database, same port
        server.kill(); server.start()                # a crash (SIGKILL), then a fresh start
        server.log_lines()                           # its stderr, one parsed JSON object per line

Starts in about a second: it waits on /healthz, polling every 20 ms. Password hashing is cheap by
default (`--argon2-profile test`), and the per-address registration limit is lifted, so a test may
register many accounts from 127.0.0.1. The log (stdout and stderr of every run, appended) stays in a
file after the server stops; `log_text()` reads it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SyncServerProcess:
    def __init__(self, db_url: str | None = None, *, data_dir: Path | None = None, port: int | None = None,
                 workers: int = 1,
                 fast_hash: bool = True, register_limit: int | None = 1_000_000, extra_args: Sequence[str] = (),
                 env: Mapping[str, str] | None = None, startup_timeout_s: float = 30.0,
                 log_path: Path | None = None) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="lantern-sync-server-")
        folder = Path(self._tmp.name)
        # With data_dir (and no db_url) the server picks its database itself: sync.db in that folder.
        self.data_dir = Path(data_dir) if data_dir is not None and db_url is None else None
        self.db_url = db_url or f"sqlite:///{(self.data_dir or folder) / 'sync.db'}"
        self.port = port or 0
        self.workers, self.fast_hash, self.register_limit = workers, fast_hash, register_limit
        self.extra_args, self.env, self.startup_timeout_s = list(extra_args), dict(env or {}), startup_timeout_s
        self.log_path = Path(log_path) if log_path else folder / "server.log"
        self._proc: subprocess.Popen[bytes] | None = None

    # --- the process ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def command(self) -> list[str]:
        where = ["--data-dir", str(self.data_dir)] if self.data_dir else ["--db", self.db_url]
        cmd = [sys.executable, "-m", "app.services.sync.server", *where, "--host", "127.0.0.1",
               "--port", str(self.port), "--workers", str(self.workers)]
        if self.fast_hash:
            cmd += ["--argon2-profile", "test"]
        if self.register_limit is not None:
            cmd += ["--register-limit", str(self.register_limit)]
        return cmd + self.extra_args

    def start(self) -> SyncServerProcess:
        if self.running:
            raise RuntimeError("the sync server is already running")
        if not self.port:
            self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("LANTERN_SYNC_")}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
        env.update(self.env)
        with open(self.log_path, "ab") as log:
            log.write(f"--- start: {' '.join(self.command()[1:])}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, cwd=REPO, env=env)
        self._wait_healthy()
        return self

    def _wait_healthy(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self.startup_timeout_s
        while True:
            code = self._proc.poll()
            if code is not None:
                raise RuntimeError(f"the sync server exited with {code} at start:\n{self.log_tail()}")
            if self.healthy():
                return
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"the sync server did not answer /healthz within {self.startup_timeout_s:g} s:\n"
                                   f"{self.log_tail()}")
            time.sleep(0.02)

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:
                return response.status == 200
        except (OSError, ValueError):
            return False

    def stop(self, timeout_s: float = 10.0) -> int | None:
        """SIGTERM (uvicorn finishes the requests in flight), then SIGKILL after `timeout_s`. The exit code."""
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                return proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
        return proc.wait()

    def kill(self) -> int | None:
        """SIGKILL: a crash, with no chance to finish anything."""
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        return proc.wait()

    def restart(self, *, crash: bool = False) -> SyncServerProcess:
        """Stop (or SIGKILL with crash=True) and start again on the same database and port."""
        self.kill() if crash else self.stop()
        return self.start()

    def close(self) -> None:
        self.stop()
        self._tmp.cleanup()

    def __enter__(self) -> SyncServerProcess:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # --- the log ----------------------------------------------------------------------------

    def log_text(self) -> str:
        try:
            return self.log_path.read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n: int = 4000) -> str:
        return self.log_text()[-n:]

    def log_lines(self) -> list[dict[str, Any]]:
        """Every JSON line of the log (lines that are not JSON, like this helper's markers, left out)."""
        out = []
        for line in self.log_text().splitlines():
            with contextlib.suppress(ValueError):
                value = json.loads(line)
                if isinstance(value, dict):
                    out.append(value)
        return out
