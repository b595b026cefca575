"""Smoke test of the frozen app: run the bundled executable the way a learner's machine would.

    python installers/smoke_test.py dist/lantern/lantern [--runs 3]

Checks, each against the frozen binary in a fresh LANTERN_HOME (nothing of the developer's):
`--version`; `doctor --json` (a valid profile that finds the bundled llama.cpp); importing the SmolLM2
test model and the all-MiniLM embedder; indexing the built-in course (bundled resources) and a
grounded `ask`; the GUI started offscreen, timed to its first window, and closed cleanly. Prints
the bundle size (goal < 350 MB without models) and the time to first window. Models come from the
test fixture cache (tests/support), never from the hub. Run by `installers/build.py --smoke`, whose
environment has the app installed (the fixture helpers use its starter-model code).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SIZE_GOAL_MB = 350
QUESTION = "How do I stop a while loop early?"


class SmokeFailure(SystemExit):
    pass


def frozen(exe: Path, *args: str, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    started = time.monotonic()
    proc = subprocess.run([str(exe), *args], env=env, capture_output=True, text=True, timeout=timeout,
                          encoding="utf-8", errors="replace")
    took = time.monotonic() - started
    print(f"   lantern {' '.join(args)[:70]:<72} exit {proc.returncode}  {took:6.1f} s", flush=True)
    if proc.returncode != 0:
        raise SmokeFailure(f"`lantern {' '.join(args)}` failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n"
                           f"{proc.stderr[-3000:]}")
    return proc


def bundle_size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink()) / 1e6


def first_window_ms(exe: Path, env: dict[str, str]) -> float:
    """From just before the spawn to the app's report that its main window was painted; the app
    then quits itself, and must exit 0 with nothing on stderr that looks like a crash."""
    start = time.monotonic()
    proc = subprocess.Popen([str(exe), "gui", "--report-startup", "--quit-after-ms", "1500"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    _out, err = proc.communicate(timeout=120)
    if not line.startswith("window shown at monotonic"):
        raise SmokeFailure(f"the frozen GUI did not report its first window: {line!r}\n{err[-3000:]}")
    if proc.returncode != 0 or "Traceback" in err:
        raise SmokeFailure(f"the frozen GUI did not quit cleanly (exit {proc.returncode}):\n{err[-3000:]}")
    return (float(line.split()[-1]) - start) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("executable", type=Path)
    parser.add_argument("--runs", type=int, default=3, help="GUI starts to time (the first is the cold one)")
    args = parser.parse_args(argv)
    exe = args.executable.resolve()
    bundle = exe.parent
    from app import __version__
    from app.services.app_state import AppState
    from app.services.paths import resolve_paths
    from tests.support.fixture_models import fixture_model
    from tests.support.minilm_gguf import minilm_gguf

    print(f"frozen app: {exe}")
    with tempfile.TemporaryDirectory(prefix="lantern-smoke-") as home:
        env = {**os.environ, "LANTERN_HOME": home, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
        env.pop("PYTHONPATH", None)  # the bundle must not lean on the build environment

        version = frozen(exe, "--version", env=env).stdout.strip()
        if version != f"lantern {__version__}":
            raise SmokeFailure(f"--version printed {version!r}, expected 'lantern {__version__}'")

        profile = json.loads(frozen(exe, "doctor", "--json", env=env).stdout)
        llama = profile["runtimes"]["llama_cpp"]
        if profile.get("schema") != "lantern.device-profile" or not llama["installed"] or not llama["version"]:
            raise SmokeFailure(f"doctor --json does not see the bundled llama.cpp: {llama}")

        frozen(exe, "models", "import", str(minilm_gguf()), env=env)
        frozen(exe, "models", "import", str(fixture_model("smollm2")), env=env)
        frozen(exe, "courses", "index", "python-from-zero", env=env)
        answer = json.loads(frozen(exe, "ask", QUESTION, "--course", "python-from-zero", "--json",
                                   "--max-tokens", "64", env=env).stdout)
        if not (answer["covered"] and answer["answer"].strip() and answer["on_device"] and answer["passages"]):
            raise SmokeFailure(f"the frozen app's answer is not a grounded on-device one: {answer}")
        print(f"   answer ({answer['model']}): {answer['answer'].strip()[:100]!r}...")
        # The answer went through the router (no cloud model is usable here) and into the savings ledger.
        stats = json.loads(frozen(exe, "stats", "--json", env=env).stdout)
        if answer["route"] is None or answer["route"]["where"] != "on-device" or stats["answers"] != 1:
            raise SmokeFailure(f"the frozen app's answer was not routed and recorded: {answer['route']}, {stats}")

        # The learning record in the bundle: the tutor turn above was kept, a note goes in and comes out.
        frozen(exe, "notes", "add", "python-from-zero/05-loops#while", "smoke-test note", env=env)
        notes = json.loads(frozen(exe, "notes", "list", "--json", env=env).stdout)
        sync = json.loads(frozen(exe, "sync", "status", "--json", env=env).stdout)
        if [n["text"] for n in notes] != ["smoke-test note"] or sync["signed_in"] or sync["pending"] != 3:
            raise SmokeFailure(f"the frozen app's learning record is not what was written: {notes}, {sync}")

        # The quiz in the bundle: the course's own "what does this print?" question is run in the snippet
        # sandbox, whose child is the frozen executable itself (`--lantern-sandbox-child`), and its review
        # queue and FSRS schedule (py-fsrs) read back.
        quiz = json.loads(frozen(exe, "quiz", "--course", "python-from-zero", "--lesson", "05-loops", "--count", "3",
                                 "--json", env=env).stdout)
        printed = [q["reference"] for q in quiz["questions"] if q["kind"] == "output"]
        review = json.loads(frozen(exe, "review", "--json", env=env).stdout)
        if printed != ["10\n7\n4\n1"] or "due" not in review:
            raise SmokeFailure(f"the frozen app's quiz did not run its code in the sandbox: {quiz}, {review}")

        AppState(setup_done=True).save(resolve_paths(environ=env).config_file.parent)  # time the window, not the wizard
        shown = [first_window_ms(exe, env) for _ in range(args.runs)]

    size = bundle_size_mb(bundle)
    print(f"bundle size: {size:.0f} MB ({bundle}; goal < {SIZE_GOAL_MB} MB without models)")
    print(f"time to first window: first {shown[0]:.0f} ms, median {statistics.median(shown):.0f} ms "
          f"of {len(shown)} ({', '.join(f'{s:.0f}' for s in shown)})")
    if size >= SIZE_GOAL_MB:
        raise SmokeFailure(f"the bundle is {size:.0f} MB, over the {SIZE_GOAL_MB} MB goal")
    print("frozen-app smoke test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
