"""Measure the desktop app's responsiveness: cold start to window shown, and the longest event-loop
stall while an answer streams. Goals on the 2-core reference box: < 1.5 s and < 50 ms.

    python benchmarks/gui.py [--runs 5] [--model smollm2|qwen-coder-0.5b] [--question "..."] [--json]

Cold start: `python -m app gui --report-startup --quit-after-ms 800` is run --runs times in a fresh
LANTERN_HOME (setup marked done so the wizard does not open). The app prints `time.monotonic()` (one
system-wide clock) once the main window has been painted; the figure is that minus the reading taken
just before spawning the process, so interpreter start-up and every import are included.

Event-loop stall: in this process, the real main window with the real services (the chosen GGUF
answers, all-MiniLM-L6-v2 searches the starter course's loops lesson). A 1 ms QTimer records the
gap between its ticks from the moment the question is asked to the end of the answer; the longest
gap is the worst time the window could not react. Tokens are flushed to the view every 40 ms.
Models come from the test fixture cache (tests/support/fixture_models.py), nothing from the hub.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def cold_start(runs: int) -> dict:
    shown = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as home:
            env = {**os.environ, "LANTERN_HOME": home}
            env.setdefault("QT_QPA_PLATFORM", "offscreen")
            # Mark setup as done, so the window (not the wizard) is what is timed.
            from app.services.app_state import AppState
            from app.services.paths import resolve_paths

            state = resolve_paths(environ=env).config_file.parent
            AppState(setup_done=True).save(state)
            start = time.monotonic()
            proc = subprocess.Popen([sys.executable, "-m", "app", "gui", "--report-startup", "--quit-after-ms", "800"],
                                    cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            assert proc.stdout is not None
            line = proc.stdout.readline()
            _out, err = proc.communicate(timeout=60)
            if not line.startswith("window shown at monotonic"):
                raise SystemExit(f"the app did not report its start-up: {line!r} {err[-2000:]}")
            shown.append((float(line.split()[-1]) - start) * 1000)
    return {"runs": runs, "shown_ms": [round(x, 1) for x in shown], "median_ms": statistics.median(shown),
            "min_ms": min(shown), "max_ms": max(shown)}


def stream_stall(model: str, question: str) -> dict:
    with tempfile.TemporaryDirectory() as home:
        os.environ["LANTERN_HOME"] = home
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        from PySide6.QtCore import QElapsedTimer, QEventLoop, QTimer
        from PySide6.QtWidgets import QApplication

        from app.cli import main
        from app.services.settings_store import load_settings, paths_for
        from app.ui.app_context import AppContext
        from app.ui.main_window import MainWindow
        from tests.support.courses import loops_pack
        from tests.support.fixture_models import fixture_model
        from tests.support.minilm_gguf import minilm_gguf

        for args in (["models", "import", str(minilm_gguf())], ["models", "import", str(fixture_model(model))],
                     ["courses", "import", str(loops_pack(Path(home)))]):
            if main(args) != 0:
                raise SystemExit(f"setting up failed: lantern {' '.join(args)}")
        app = QApplication.instance() or QApplication(sys.argv)
        settings = load_settings()
        ctx = AppContext(settings, paths_for(settings))
        ctx.state.setup_done, ctx.state.course_id, ctx.state.lesson_id = True, "loops", "05-loops"
        window = MainWindow(ctx)
        window.show()

        def wait_for(signal, timeout_ms: int) -> None:
            loop = QEventLoop()
            signal.connect(loop.quit)
            QTimer.singleShot(timeout_ms, loop.quit)
            loop.exec()

        window.start()  # only schedules work: the signal cannot fire before wait_for listens
        wait_for(window.model_ready, 120_000)
        if ctx.host.loaded("chat") is None:
            raise SystemExit("the model did not load")
        # Warm-up turn: the first question also opens the index and the embedder.
        window.chat.input.setPlainText("What is a for loop?")
        window.chat.ask_button.click()
        wait_for(window.tutor.stream_ended, 300_000)

        gaps: list[float] = []
        clock = QElapsedTimer()
        ticker = QTimer()
        ticker.setInterval(1)

        def tick() -> None:
            gaps.append(clock.nsecsElapsed() / 1e6)
            clock.restart()

        ticker.timeout.connect(tick)
        answers = []
        window.tutor.answer_finished.connect(answers.append)
        clock.start()
        ticker.start()
        window.chat.input.setPlainText(question)
        window.chat.ask_button.click()
        wait_for(window.tutor.stream_ended, 300_000)
        ticker.stop()
        window.close()
        app.processEvents()
        if not answers:
            raise SystemExit("no answer arrived")
        stats = answers[0].stats
        ordered = sorted(gaps)
        return {"model": answers[0].model_id, "question": question, "ticks": len(gaps),
                "longest_stall_ms": max(gaps), "p99_gap_ms": ordered[int(len(ordered) * 0.99) - 1],
                "median_gap_ms": statistics.median(gaps),
                "completion_tokens": stats.completion_tokens if stats else None,
                "tokens_per_second": stats.generation_tokens_per_second if stats else None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--model", default="smollm2", choices=["smollm2", "qwen-coder-0.5b"])
    parser.add_argument("--question", default="How do I stop a while loop early? Explain with an example.")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    start = cold_start(args.runs)
    stall = stream_stall(args.model, args.question)
    result = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
                         f"{platform.system()} {platform.release()}, Python {platform.python_version()}, "
                         f"QT_QPA_PLATFORM={os.environ.get('QT_QPA_PLATFORM')}",
              "cold_start": start, "streaming": stall}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(result["machine"])
    print(f"Cold start to window shown: median {start['median_ms']:.0f} ms, worst {start['max_ms']:.0f} ms over "
          f"{start['runs']} runs (goal < 1500 ms), best {start['min_ms']:.0f} ms")
    tps = stall["tokens_per_second"]
    print(f"Streaming with {stall['model']}: {stall['completion_tokens']} tokens"
          + (f" at {tps:.1f} tok/s" if tps else "")
          + f"; longest event-loop stall {stall['longest_stall_ms']:.1f} ms (goal < 50 ms), "
            f"p99 gap {stall['p99_gap_ms']:.1f} ms over {stall['ticks']} ticks")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
