"""llama-cpp-python's OpenAI-compatible server (`python -m llama_cpp.server`) on 127.0.0.1: the "cloud"
model for tests and the speed comparison.

It needs the API key on every request (like a real provider), answers one request at a time, and
streams one SSE event per token. It sends no usage chunk in streams (it ignores `stream_options`);
`tests.support.fault_proxy` can add the server's own counts when a test needs them.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from types import TracebackType


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LlamaCloudServer:
    def __init__(self, model: Path, *, api_key: str, alias: str = "smollm2", n_ctx: int = 2048, n_threads: int = 2,
                 startup_timeout_s: float = 180.0) -> None:
        self.model, self.api_key, self.alias = Path(model), api_key, alias
        self.n_ctx, self.n_threads, self.startup_timeout_s = n_ctx, n_threads, startup_timeout_s
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._log = tempfile.NamedTemporaryFile(prefix="llama-server-", suffix=".log", delete=False)  # noqa: SIM115

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def log_tail(self, n: int = 4000) -> str:
        return Path(self._log.name).read_bytes()[-n:].decode("utf-8", "replace")

    def start(self) -> LlamaCloudServer:
        if not self.model.is_file():
            raise FileNotFoundError(self.model)
        self.port = free_port()
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model), "--host", "127.0.0.1",
               "--port", str(self.port), "--api_key", self.api_key, "--n_ctx", str(self.n_ctx),
               "--n_threads", str(self.n_threads), "--n_threads_batch", str(self.n_threads),
               "--model_alias", self.alias, "--verbose", "False"]
        self._proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + self.startup_timeout_s
        while True:
            code = self._proc.poll()
            if code is not None:
                tail = self.log_tail()
                self.stop()
                raise RuntimeError(f"llama_cpp.server exited with {code}:\n{tail}")
            if self._models_answer():
                return self
            if time.monotonic() > deadline:
                tail = self.log_tail()
                self.stop()
                raise RuntimeError(f"llama_cpp.server did not answer /v1/models within {self.startup_timeout_s:g} s:"
                                   f"\n{tail}")
            time.sleep(0.2)

    def _models_answer(self) -> bool:
        request = urllib.request.Request(f"{self.base_url}/models", headers={"Authorization": f"Bearer {self.api_key}"})
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                return bool(json.load(response).get("data"))
        except (OSError, ValueError):
            return False

    def wait_idle(self, timeout_s: float = 120.0) -> None:
        """Return once the server has finished what it was doing: it answers one request at a time and
        keeps generating for a client that went away (a cancel, a cut), so a one-token request queues
        behind any such leftover. Tests call this first so one test's abandoned answer cannot slow the next."""
        body = json.dumps({"model": self.alias, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1})
        request = urllib.request.Request(f"{self.base_url}/chat/completions", data=body.encode(),
                                         headers={"Authorization": f"Bearer {self.api_key}",
                                                  "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            response.read()

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        self._log.close()
        with contextlib.suppress(OSError):
            Path(self._log.name).unlink()

    def __enter__(self) -> LlamaCloudServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def main() -> int:
    """`python -m tests.support.cloud_server MODEL.gguf [--key K]`: serve until Ctrl-C (benchmarks)."""
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("model", type=Path)
    parser.add_argument("--key", default="sk-lantern-local-test")
    args = parser.parse_args()
    with LlamaCloudServer(args.model, api_key=args.key) as server:
        print(server.base_url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
