"""Run `lantern eval routing` against a loopback "cloud": llama.cpp's own OpenAI-compatible server.

    python benchmarks/routing_eval.py --cloud-gguf PATH [--port 8091] [-- <lantern eval routing options>]

The server (`python -m llama_cpp.server`, llama-cpp-python's `server` extra; the test extras install
it) is started on 127.0.0.1 with the given GGUF, waited for, and stopped afterwards. Everything after
`--` goes to `lantern eval routing` (e.g. `--split held-out --json report.json`). The on-device model
is the chat model Lantern would use (`--model` to choose); the cloud's tokens are priced as
`--price-as` (gpt-4o-mini by default), so the cost lines say what that model would have charged.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def wait_until_ready(url: str, server: subprocess.Popen[bytes], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the cloud server exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"the cloud server did not answer at {url} within {timeout_s:.0f} s")


def main() -> int:
    argv = sys.argv[1:]
    rest = argv[argv.index("--") + 1:] if "--" in argv else []
    own = argv[:argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cloud-gguf", type=Path, required=True, help="GGUF the loopback cloud serves")
    parser.add_argument("--port", type=int, default=8091)
    parser.add_argument("--threads", type=int, default=1, help="server threads (the device model uses the rest)")
    args = parser.parse_args(own)
    name = args.cloud_gguf.stem
    url = f"http://127.0.0.1:{args.port}/v1"
    server = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(args.cloud_gguf), "--model_alias", name,
         "--host", "127.0.0.1", "--port", str(args.port), "--n_ctx", "4096", "--n_threads", str(args.threads)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_ready(url, server)
        command = [sys.executable, "-m", "app", "eval", "routing", "--cloud-url", url, "--cloud-model", name, *rest]
        return subprocess.call(command, cwd=ROOT)
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    raise SystemExit(main())
