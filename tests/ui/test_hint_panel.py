"""'Give me a hint' on the loops lesson's exercises (offscreen Qt, the real learning record).

The ladder logic is driven by a scripted backend loaded into the real model host (so every request runs on
the host's model worker, as a real model's would); one slow test asks SmolLM2 for a real first hint.
"""

from __future__ import annotations

import json
import threading

import pytest
from PySide6.QtCore import QUrl

from app.core.inference import Chunk, EngineCapabilities, GenerationStats
from app.core.learning.events import HINT_REQUEST
from app.services.settings_store import load_settings, paths_for
from app.ui import confirm
from app.ui.app_context import AppContext
from app.ui.hint_panel import HintPanel

COURSE, LESSON = "python-from-zero", "05-loops"
WAIT_MS = 20_000
ATTEMPT = "for i in range(10, 1):\n    print(i)"
SOLUTION = "for i in range(10, 0, -1):\n    print(i)"


class ScriptedBackend:
    """Answers each step of a hint by what the prompt asks for, and notes the thread it ran on."""

    def __init__(self) -> None:
        self.threads: list[str] = []

    @property
    def capabilities(self) -> EngineCapabilities:
        return EngineCapabilities(model_id="scripted", backend="scripted", where="on-device", context_length=4096,
                                  json_schema=True)

    def count_tokens(self, messages) -> int:
        return sum(len(m.content.split()) for m in messages)

    def stream(self, request, cancel=None):
        self.threads.append(threading.current_thread().name)
        prompt = request.messages[-1].content
        if "write the complete, correct solution" in prompt:
            text = json.dumps({"solution": SOLUTION})
        elif "decide how to help" in prompt:
            text = ('{"error": "range(10, 1) counts up, so it gives no numbers", "strategy": "point at the step",'
                    ' "intention": "the learner sees that counting down needs a negative step"}')
        elif "explain in two or three sentences why this solution works" in prompt:
            text = "A range counts down only with a negative step, so the step -1 is needed."
        else:
            level = next(n for n in (1, 2, 3) if f"write a level {n} hint" in prompt)
            text = {1: "Which way does your range count when you give it no step?",
                    2: "range() takes a third number, the step; a negative step counts down.",
                    3: "Look at your first line: it needs a step that makes the numbers go down."}[level]
        yield Chunk(text, 1, 0.0)
        yield Chunk("", 0, 0.0, finish_reason="stop",
                    stats=GenerationStats("scripted", "scripted", 1, 0, 1, 0.0, 0.0, 0.0, "stop"))

    def close(self) -> None:
        pass


@pytest.fixture
def ctx():
    settings = load_settings()
    context = AppContext(settings, paths_for(settings))
    yield context
    context.shutdown()


@pytest.fixture
def panel(qtbot, ctx):
    widget = HintPanel(ctx)
    qtbot.addWidget(widget)
    widget.show()
    course = ctx.db.submit(lambda: ctx.services.library.load(COURSE)).result()
    widget.show_lesson(course, course.lesson(LESSON))
    return widget


def hint_events(ctx):
    return ctx.db.submit(lambda: ctx.services.record.events(kind=HINT_REQUEST)).result()


def click_hint(panel, qtbot):
    with qtbot.waitSignal(panel.hint_shown, timeout=WAIT_MS) as got:
        panel.hint_button.click()
    return got.args[0]


def test_the_ladder_climbs_one_level_per_click_and_asks_before_the_solution(qtbot, ctx, panel, monkeypatch):
    backend = ScriptedBackend()
    ctx.host.load("chat", lambda: backend, label="scripted").result()
    assert [panel.picker.itemText(i) for i in range(panel.picker.count())] == [f"Exercise {n}" for n in range(1, 6)]
    assert panel.exercise_label.text().startswith("Print the numbers from 10 down to 1")
    assert panel.hint_button.text() == "Give me a hint"
    panel.attempt.setPlainText(ATTEMPT)

    first = click_hint(panel, qtbot)
    assert first.level == 1 and panel.level_label.text() == "Hint 1 of 4 — nudge"
    assert "Which way does your range count" in panel.hint_view.toPlainText()
    assert set(backend.threads) == {"lantern-chat_0"}  # every step on the model host's worker
    assert panel.hint_button.text() == "Give me a bigger hint"

    assert click_hint(panel, qtbot).level == 2
    assert panel.level_label.text() == "Hint 2 of 4 — concept"
    assert click_hint(panel, qtbot).level == 3
    assert panel.level_label.text() == "Hint 3 of 4 — worked step"
    shown = panel.hint_view.toPlainText()
    assert shown.index("Hint 3 of 4") < shown.index("Hint 2 of 4") < shown.index("Hint 1 of 4")  # newest first

    asked = []
    monkeypatch.setattr(confirm, "ask", lambda *args: asked.append(args[1]) or False)
    panel.hint_button.click()  # declined: no fourth hint
    assert asked == ["Show the solution?"] and panel.ladders[panel.exercise.id].level == 3
    monkeypatch.setattr(confirm, "ask", lambda *args: True)
    last = click_hint(panel, qtbot)
    assert last.level == 4 and panel.level_label.text() == "Hint 4 of 4 — solution"
    assert "range(10, 0, -1)" in panel.hint_view.toPlainText()
    assert not panel.hint_button.isEnabled() and panel.status.text() == "That was the last step: the solution."

    events = hint_events(ctx)
    assert [e.data["level"] for e in events] == [1, 2, 3, 4]
    assert {e.data["exercise_id"] for e in events} == {"05-loops/ex-1"} and events[0].lesson_id == LESSON
    assert events[0].data["attempt"] == ATTEMPT and events[0].data["leak_checked"] is True

    panel.picker.setCurrentIndex(1)  # another exercise has its own ladder
    assert panel.hint_button.isEnabled() and panel.level_label.text() == "" and panel.hint_view.toPlainText() == ""
    panel.picker.setCurrentIndex(0)
    assert panel.level_label.text() == "Hint 4 of 4 — solution"


def test_the_grounding_section_link(qtbot, ctx, panel):
    ctx.host.load("chat", lambda: ScriptedBackend(), label="scripted").result()
    click_hint(panel, qtbot)
    assert "From: Looping over a range" in panel.hint_view.toPlainText()
    with qtbot.waitSignal(panel.section_requested) as link:
        panel.hint_view.anchorClicked.emit(QUrl("#looping-over-a-range"))
    assert link.args == [LESSON, "looping-over-a-range"]


def test_without_a_model_it_says_what_to_do(panel, ctx):
    panel.hint_button.click()
    assert panel.op is None and hint_events(ctx) == []
    assert panel.status.text() == "Hints are written by the chat model: choose one in the toolbar first."


@pytest.mark.slow
def test_smollm2_writes_a_first_hint_that_is_recorded(qtbot, ctx, panel, smollm2_gguf, capsys):
    from app.cli import main

    assert main(["models", "import", str(smollm2_gguf)]) == 0
    capsys.readouterr()
    installed = ctx.db.submit(lambda: ctx.services.chat_model()).result()
    ctx.load_chat(installed).result(timeout=120)
    panel.attempt.setPlainText(ATTEMPT)
    with qtbot.waitSignal(panel.hint_shown, timeout=180_000) as got:
        panel.hint_button.click()
    hint = got.args[0]
    assert hint.level == 1 and hint.text.strip() and panel.level_label.text() == "Hint 1 of 4 — nudge"
    events = hint_events(ctx)
    assert len(events) == 1 and events[0].data["hint"] == hint.text
