"""Hybrid answers in the GUI: the badge says where and why, a set-aside attempt stays readable (collapsed),
"What was sent" lists exactly what left the device, the consent prompt answers the router once, and the
Settings › Answers page round-trips consent, tier and role overrides.

The UI-logic tests stream scripted event sequences (built from the router's real dataclasses) through the
controller's real EventStream; the last test asks a real question through `AppContext.tutor()` — the real
`TutorSession` and `ChatRouter` with SmolLM2 on llama.cpp, tier "local".
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import shiboken6
from PySide6.QtWidgets import QApplication, QDialog, QDialogButtonBox

from app.core.inference import ChatMessage, GenerationStats
from app.core.settings import LanternSettings
from app.services.inference.route_events import Attempt, AttemptAbandoned, ConsentNeeded, Routed, RouteInfo
from app.services.knowledge.tutor_session import Answer, AnswerText, Retrieved
from app.services.settings_store import load_settings, paths_for
from app.ui.app_context import AppContext
from app.ui.chat_panel import ChatPanel
from app.ui.route_views import ConsentDialog, SentDialog
from app.ui.settings_dialog import SettingsDialog
from app.ui.tutor_controller import TutorController

pytestmark = pytest.mark.gui

QUESTION = "Compare for and while loops in detail."
CLOUD = "cloud:openai/gpt-4o-mini"
SENT = (ChatMessage("system", "You are a patient tutor. Answer from the passages; cite them as [n]."),
        ChatMessage("user", "[1] A while loop repeats while its condition is true.\n\nCompare for and while loops."))
LOCAL_TEXT = "[1]"
CLOUD_TEXT = "A `for` loop walks over a sequence; a `while` loop repeats while its condition holds [1]."
FELL_BACK = "fell back: the on-device answer only pointed at the passages"
SET_ASIDE = "the on-device answer only pointed at the passages"


def stats(rate_tokens: int = 20) -> GenerationStats:
    return GenerationStats(backend="openai", model="gpt-4o-mini", prompt_tokens=120, cached_prompt_tokens=0,
                           completion_tokens=rate_tokens, time_to_first_token_s=0.3, prompt_seconds=0.3,
                           generation_seconds=1.0, finish_reason="stop")


def cloud_route(**changes) -> RouteInfo:
    fields = dict(route="cloud", model=CLOUD, where="cloud", reason="asks for a detailed comparison",
                  reason_code="rule:compare", sent_to_cloud=SENT, cloud_model=CLOUD, cost_usd=0.00004,
                  cost_if_cloud_usd=0.00004, ttft_s=0.3, total_s=1.3)
    fields.update(changes)
    return RouteInfo(**fields)  # type: ignore[arg-type]


def answer(text: str, route: RouteInfo | None) -> Answer:
    return Answer(text, covered=True, citations=[], passages=[], stats=stats(), model_id="gpt-4o-mini",
                  where="cloud", backend="openai", route=route)


class ScriptedSession:
    """Stands in for TutorSession.ask: yields a fixed event list; a ConsentNeeded waits for its reply on the
    stream's worker thread (as the router does) and the reply is recorded."""

    def __init__(self, events: list[object], after_consent: dict[bool, list[object]] | None = None) -> None:
        self.events, self.after_consent = events, after_consent or {}
        self.replies: list[bool] = []
        self.wait_threads: list[str] = []

    def ask(self, question: str, cancel=None) -> Iterator[object]:
        for event in self.events:
            yield event
            if isinstance(event, ConsentNeeded):
                granted = event.wait(cancel)
                self.wait_threads.append(threading.current_thread().name)
                self.replies.append(granted)
                yield from self.after_consent.get(granted, [])

    def close(self) -> None:
        pass


@pytest.fixture
def ctx():
    settings = load_settings()
    context = AppContext(settings, paths_for(settings))
    yield context
    context.shutdown()


@pytest.fixture
def chat(qtbot, ctx):
    panel = ChatPanel()
    qtbot.addWidget(panel)
    controller = TutorController(ctx, panel)
    yield panel, controller
    controller.shutdown()


def run_script(qtbot, chat, session: ScriptedSession, *, wait: bool = True):
    panel, controller = chat
    controller.card = panel.add_card(QUESTION)
    panel.set_busy(True)
    if not wait:
        controller._start(QUESTION, session)
        return controller.card
    with qtbot.waitSignal(controller.stream_ended, timeout=10_000):
        controller._start(QUESTION, session)
    return controller.card


def test_a_cloud_routed_answer_says_cloud_the_model_and_why(qtbot, chat):
    route = cloud_route()
    session = ScriptedSession([Retrieved([], True, 0.8), Routed("cloud", CLOUD, route.reason),
                               AnswerText(CLOUD_TEXT), answer(CLOUD_TEXT, route)])
    card = run_script(qtbot, chat, session)
    badge = card.badge.text()
    assert badge.startswith("cloud · openai/gpt-4o-mini"), badge
    assert "asks for a detailed comparison" in badge and "on-device" not in badge
    assert "$0.0000" in card.badge.toolTip()
    assert card.attempts_view.isHidden() and not card.sent_button.isHidden()


def test_routed_updates_the_status_while_it_streams(qtbot):
    from app.ui.chat_panel import AnswerCard

    card = AnswerCard(QUESTION)
    qtbot.addWidget(card)
    card.set_routing("on-device", "local:smollm2", "the on-device model can answer this")
    assert card.badge.text() == "Answering on-device…"
    card.set_routing("cloud", CLOUD, "asks for a detailed comparison")
    assert card.badge.text() == "Asking openai/gpt-4o-mini: asks for a detailed comparison…"


def test_a_fallen_back_answer_keeps_the_local_attempt_collapsed(qtbot, chat):
    attempt = Attempt(model="local:smollm2", where="on-device", text=LOCAL_TEXT, reason=SET_ASIDE,
                      reason_code="marker_only")
    route = cloud_route(reason=FELL_BACK, reason_code="fallback:marker_only", fell_back=True,
                        fallback_reason="marker_only", attempts=(attempt,))
    _panel, controller = chat
    streamed: list[str] = []
    session = ScriptedSession([Retrieved([], True, 0.8), Routed("on-device", "local:smollm2", "most questions"),
                               AnswerText(LOCAL_TEXT), AttemptAbandoned(attempt), Routed("cloud", CLOUD, FELL_BACK),
                               AnswerText("A `for` loop "), AnswerText(CLOUD_TEXT[len("A `for` loop "):]),
                               answer(CLOUD_TEXT, route)])
    controller.answer_finished.connect(lambda a: streamed.append(a.text))
    card = run_script(qtbot, chat, session)
    assert streamed == [CLOUD_TEXT]
    sections = card.attempts_view.sections
    assert len(sections) == 1 and not card.attempts_view.isHidden()
    section = sections[0]
    assert section.toggle.text() == f"On-device attempt (set aside: {SET_ASIDE})"
    assert not section.expanded, "the set-aside attempt starts collapsed"
    section.toggle.click()
    assert section.expanded and section.body.toPlainText().strip() == LOCAL_TEXT and section.body.isReadOnly()
    assert card.text == CLOUD_TEXT and "[1]" not in card.body.toPlainText().split("loop")[0]
    assert card.body.toPlainText().startswith("A for loop walks over a sequence")
    assert "cloud" in card.badge.text() and FELL_BACK in card.badge.text()


def test_the_final_route_is_authoritative_for_the_attempts(qtbot, chat):
    """The cloud failed after the local answer was set aside: the router keeps the local answer and lists no
    attempt, so the card shows none (the text is the answer again, not lost)."""
    local = Attempt(model="local:smollm2", where="on-device", text=LOCAL_TEXT, reason=SET_ASIDE,
                    reason_code="marker_only")
    route = RouteInfo(route="local", model="local:smollm2", where="on-device",
                      reason="on-device: the cloud fallback failed (the cloud model did not answer in time)",
                      reason_code="failover:timeout", failed_over=True)
    session = ScriptedSession([Routed("on-device", "local:smollm2", "most questions"), AnswerText(LOCAL_TEXT),
                               AttemptAbandoned(local), Routed("on-device", "local:smollm2", route.reason),
                               AnswerText(LOCAL_TEXT),
                               Answer(LOCAL_TEXT, covered=True, citations=[], passages=[], model_id="smollm2",
                                      where="on-device", backend="llama.cpp", route=route)])
    card = run_script(qtbot, chat, session)
    assert card.attempts_view.sections == [] and card.attempts_view.isHidden()
    assert card.text == LOCAL_TEXT and card.sent_button.isHidden()
    badge = card.badge.text()
    assert badge.startswith("on-device · smollm2 · the cloud fallback failed"), badge


def test_what_was_sent_lists_exactly_the_messages(qtbot):
    from app.ui.chat_panel import AnswerCard

    card = AnswerCard(QUESTION)
    qtbot.addWidget(card)
    card.finish(answer(CLOUD_TEXT, cloud_route()))
    assert card.sent_button.text() == "What was sent" and not card.sent_button.isHidden()
    card.sent_button.click()
    dialog = card.sent_dialog
    assert isinstance(dialog, SentDialog) and dialog.isVisible()
    shown = dialog.view.toPlainText()
    for message in SENT:
        assert f"── {message.role} ──\n{message.content}" in shown
    assert dialog.view.isReadOnly() and "openai/gpt-4o-mini" in dialog.heading.text()
    assert "no notes, no progress" in dialog.note.text()
    dialog.copy_button.click()
    assert QApplication.clipboard().text() == shown
    dialog.close()
    # Nothing sent (an on-device answer): no button.
    local = AnswerCard(QUESTION)
    qtbot.addWidget(local)
    local.finish(answer("x", RouteInfo(route="local", model="local:smollm2", where="on-device", reason="r",
                                       reason_code="default")))
    assert local.sent_button.isHidden()


def consent_script() -> tuple[ScriptedSession, ConsentNeeded]:
    ask = ConsentNeeded(model="openai/gpt-4o-mini", reason="asks for a detailed comparison", messages=SENT)
    route = cloud_route()
    session = ScriptedSession([Retrieved([], True, 0.8), ask], after_consent={
        True: [Routed("cloud", CLOUD, route.reason), AnswerText(CLOUD_TEXT), answer(CLOUD_TEXT, route)]})
    return session, ask


def open_consent(qtbot, chat, session) -> ConsentDialog:
    panel, controller = chat
    with qtbot.waitSignal(controller.consent_asked, timeout=10_000) as shown:
        run_script(qtbot, chat, session, wait=False)
    dialog = shown.args[0]
    assert isinstance(dialog, ConsentDialog) and dialog.isVisible() and dialog.parent() is panel
    return dialog


def test_consent_send_replies_true_to_the_waiting_router(qtbot, chat, ctx):
    panel, controller = chat
    session, ask = consent_script()
    dialog = open_consent(qtbot, chat, session)
    assert dialog.question.text() == "Send this question to openai/gpt-4o-mini?"
    assert "asks for a detailed comparison" in dialog.reason.text()
    assert dialog.details.isHidden()
    dialog.details_toggle.click()
    assert not dialog.details.isHidden() and SENT[1].content in dialog.details.toPlainText()
    with qtbot.waitSignal(controller.stream_ended, timeout=10_000):
        dialog.send_button.click()
    assert session.replies == [True] and session.wait_threads[0] != threading.current_thread().name
    assert ask.wait(None) is True
    assert panel.cards[-1].text == CLOUD_TEXT
    assert ctx.settings.cloud_consent == "ask", "without 'Don't ask again' the setting stays"


def test_consent_closed_is_no_and_dont_ask_again_switches_the_setting(qtbot, chat, ctx):
    _panel, controller = chat
    session, _ask = consent_script()
    dialog = open_consent(qtbot, chat, session)
    with qtbot.waitSignal(controller.stream_ended, timeout=10_000):
        dialog.close()
    assert session.replies == [False]
    assert ctx.settings.cloud_consent == "ask"

    session, _ask = consent_script()
    dialog = open_consent(qtbot, chat, session)
    dialog.dont_ask.setChecked(True)
    with qtbot.waitSignal(controller.stream_ended, timeout=10_000):
        dialog.send_button.click()
    assert session.replies == [True]
    assert ctx.settings.cloud_consent == "when_needed"
    assert load_settings().cloud_consent == "when_needed", "saved like the Settings dialog saves"


def test_keep_on_device_and_stop_while_open_both_reply_no_once(qtbot, chat):
    panel, controller = chat
    session, _ask = consent_script()
    dialog = open_consent(qtbot, chat, session)
    with qtbot.waitSignal(controller.stream_ended, timeout=10_000):
        dialog.keep_button.click()
    assert session.replies == [False]

    session, _ask = consent_script()
    dialog = open_consent(qtbot, chat, session)
    replies: list[bool] = []
    dialog.decided.connect(lambda granted, _always: replies.append(granted))
    with qtbot.waitSignal(controller.stream_ended, timeout=10_000):
        panel.stop_button.click()
    assert replies == [False] and session.replies == [False]
    assert not shiboken6.isValid(dialog) or not dialog.isVisible()
    assert controller.consent_dialog is None and panel.cards[-1].badge.text() == "Stopped"


# -- Settings › Answers --------------------------------------------------------------------------------

def make_dialog(qtbot, settings: LanternSettings) -> SettingsDialog:
    dialog = SettingsDialog(settings, chat_models=["smollm2"], embedding_models=["minilm"])
    qtbot.addWidget(dialog)
    return dialog


@pytest.fixture
def no_settings_env(monkeypatch):
    for name in LanternSettings.model_fields:
        monkeypatch.delenv(f"LANTERN_{name.upper()}", raising=False)


def test_settings_answers_round_trip(qtbot, no_settings_env):
    dialog = make_dialog(qtbot, LanternSettings(roles={"simple": "local:auto"}))
    e = dialog.editors
    consent = e["cloud_consent"].box
    assert [consent.itemText(i) for i in range(consent.count())] == ["Never", "Ask me each time", "When needed"]
    tier = e["tier"].box
    assert {tier.itemData(i) for i in range(tier.count())} == {"free", "pro", "local"}
    assert tier.currentText().startswith("Free")
    roles = e["roles"]
    assert roles.lines["simple"].text() == "local:auto" and roles.lines["code"].text() == ""
    assert roles.lines["fallback"].placeholderText() == "From the tier: cloud:openai/gpt-4o-mini"
    e["tier"].set_value("local")
    assert roles.lines["fallback"].placeholderText() == "From the tier: none"
    e["cloud_consent"].set_value("never")
    roles.lines["code"].setText("  cloud:openai/gpt-4.1-mini ")
    roles.lines["simple"].setText("")
    e["local_first_token_s"].spin.setValue(5.5)
    e["cloud_monthly_budget_usd"].spin.setValue(10)
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    assert dialog.result() == QDialog.DialogCode.Accepted
    result = dialog.result_settings()
    assert (result.cloud_consent, result.tier) == ("never", "local")
    assert result.roles == {"code": "cloud:openai/gpt-4.1-mini"}
    assert result.local_first_token_s == 5.5 and result.cloud_monthly_budget_usd == 10.0
    again = make_dialog(qtbot, result)
    assert again.result_settings() == result
    assert again.editors["cloud_monthly_budget_usd"].spin.text().startswith("$")
    unset = make_dialog(qtbot, LanternSettings())
    assert unset.editors["cloud_monthly_budget_usd"].spin.text() == "No limit"


def test_a_bad_role_is_refused_beside_the_field(qtbot, no_settings_env):
    dialog = make_dialog(qtbot, LanternSettings())
    dialog.editors["roles"].lines["default"].setText("gpt-4o")
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    assert dialog.result() != QDialog.DialogCode.Accepted
    error = dialog.error_labels["roles"]
    assert not error.isHidden() and "'gpt-4o' is not a model reference" in error.text()
    assert "cloud:<provider>/<model>" in error.text()
    assert dialog.tabs.tabText(dialog.tabs.currentIndex()) == "Answers"
    dialog.editors["roles"].lines["default"].setText("cloud:openai")
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    assert "does not name a provider and a model" in error.text()
    dialog.editors["roles"].lines["default"].setText("local:auto")
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.result_settings().roles == {"default": "local:auto"}


# -- the real thing ---------------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_real_question_through_the_router_says_on_device_and_why(qtbot, tmp_path, minilm_gguf, smollm2_gguf,
                                                                   capsys):
    from app.cli import main
    from tests.support.courses import loops_pack

    for args in (["models", "import", str(minilm_gguf)], ["models", "import", str(smollm2_gguf)],
                 ["courses", "import", str(loops_pack(tmp_path))]):
        assert main(args) == 0
    capsys.readouterr()
    settings = load_settings().model_copy(update={"tier": "local"})
    context = AppContext(settings, paths_for(settings))
    panel = ChatPanel()
    qtbot.addWidget(panel)
    controller = TutorController(context, panel)
    try:
        installed = context.db.submit(context.installed_models).result(timeout=30)
        chat_model = next(m for m in installed if m.id.startswith("smollm2"))
        context.load_chat(chat_model).result(timeout=120)
        controller.set_course("loops")
        finished: list[Answer] = []
        controller.answer_finished.connect(finished.append)
        controller.ask("What does break do in a loop?")
        card = panel.cards[-1]
        # Ends either way: an answer, or a failure (shown in the error dialog and named here).
        qtbot.waitUntil(lambda: bool(finished) or card.badge.text().startswith(("No answer", "Stopped")),
                        timeout=180_000)
        errors = [w for w in QApplication.topLevelWidgets() if w.isVisible() and w.objectName() != "answerCard"
                  and w is not panel]
        assert finished, f"no answer: {[getattr(w, 'text', lambda: '')() for w in errors]}"
        qtbot.waitUntil(lambda: not controller.busy, timeout=30_000)
        route = finished[0].route
        assert route is not None and route.route == "local" and route.where == "on-device"
        assert route.sent_to_cloud is None and not route.fell_back
        badge = card.badge.text()
        reason = route.reason.removeprefix("on-device: ")
        assert badge.startswith("on-device · smollm2"), badge
        assert reason and reason in badge, (reason, badge)
        assert card.sent_button.isHidden() and card.attempts_view.isHidden()
        # The real answer is a real ledger row, and the dashboard shows it.
        from app.ui.dashboard import SavingsDashboard

        dashboard = SavingsDashboard(context)
        qtbot.addWidget(dashboard)
        with qtbot.waitSignal(dashboard.summary_shown, timeout=20_000):
            dashboard.show()
        assert dashboard.cards["answers"].value.text() == "1"
        assert dashboard.cards["local_share"].value.text() == "100.0%"
        assert dashboard.kinds.rowCount() == 1
    finally:
        controller.shutdown()
        context.shutdown()
