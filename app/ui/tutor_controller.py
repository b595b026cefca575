"""Drives the chat panel: one `TutorSession` per course, each question streamed through `EventStream`.

The session (and the course index behind it) is opened on the database worker; a question's
retrieval runs there too, generation runs on the model's worker, and the panel is updated once per
flush. Stop cancels between tokens; what arrived stays on screen and is not an error.

With the router (AppContext.tutor passes one), the card is told which model answers and why
(`Routed`), keeps an answer set aside for a better one (`AttemptAbandoned`), and a `ConsentNeeded`
opens the consent prompt, whose answer goes back to the router's worker through `event.reply()`:
exactly once, also when the prompt is closed or the answer stopped while it is open.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal

from app.core.errors import LanternError
from app.services.inference.route_events import AttemptAbandoned, ConsentNeeded, Routed
from app.services.knowledge.tutor_session import Answer, AnswerText, Retrieved, TutorSession
from app.ui.app_context import AppContext
from app.ui.chat_panel import AnswerCard, ChatPanel
from app.ui.error_dialog import show_error
from app.ui.i18n import tr
from app.ui.op import Op, OpHandle
from app.ui.route_views import ConsentDialog
from app.ui.streaming import EventStream

log = logging.getLogger(__name__)

# The settings a ChatRouter reads when it is built (offline mode is read live, through the network gate).
ROUTING_FIELDS = frozenset({"cloud_consent", "tier", "roles", "cloud_providers", "local_first_token_s",
                            "local_total_s", "cloud_monthly_budget_usd", "router_threshold",
                            "electricity_price_kwh", "local_watts"})


def _routing_key(settings: Any) -> str:
    return repr(sorted(settings.model_dump(include=set(ROUTING_FIELDS)).items()))


class TutorController(QObject):
    answer_finished = Signal(object)  # the Answer, after the card shows it
    stream_started = Signal()
    stream_ended = Signal()
    consent_asked = Signal(object)  # the ConsentDialog, once shown (tests and screenshots find it here)

    def __init__(self, ctx: AppContext, panel: ChatPanel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx, self.panel = ctx, panel
        self.course_id: str | None = None
        self._wanted_course: str | None = None
        self.session: TutorSession | None = None
        self._session_key: tuple[str, str, str] | None = None
        self.stream: EventStream | None = None
        self.card: AnswerCard | None = None
        self._got_answer = False
        self.consent_dialog: ConsentDialog | None = None
        panel.ask_requested.connect(self.ask)
        panel.regenerate_requested.connect(self.regenerate)
        panel.stop_requested.connect(self.stop)

    @property
    def busy(self) -> bool:
        return self.stream is not None

    def set_course(self, course_id: str | None) -> None:
        self._wanted_course = course_id
        if self.busy:
            return  # applied when the answer ends; the running turn keeps its course
        if course_id != self.course_id:
            self.course_id = course_id
            self._drop_session()

    # -- asking -------------------------------------------------------------------------------------

    def ask(self, question: str) -> None:
        if self.busy:
            return
        model = self.ctx.host.loaded("chat")
        if self.course_id is None:
            show_error(self.panel, LanternError(tr("Choose a course first."),
                                                hint=tr("Pick a lesson in the list on the left.")))
            return
        if model is None:
            show_error(self.panel, LanternError(
                tr("No model is loaded yet."),
                hint=tr("Choose a model in the toolbar, or run the setup from the Tools menu to get one.")))
            return
        card = self.panel.add_card(question)
        self.card = card
        self.panel.set_busy(True)
        # A router reads its settings when it is built: a changed consent, tier or role opens a new session
        # (keeping the conversation), so "Don't ask again" and the Settings page apply from the next question.
        key = (self.course_id, model, _routing_key(self.ctx.settings))
        if self.session is not None and self._session_key == key:
            self._start(question, self.session)
            return
        history = self.session.history if self.session is not None and self._session_key and \
            self._session_key[0] == self.course_id else []
        course_id = self.course_id

        def open_session(handle: OpHandle) -> TutorSession:
            def indexing(_status: Any) -> None:
                handle.report(None, tr("Indexing the course first…"))

            self.ctx.services.ensure_indexed(course_id, cancel=handle.token, before=indexing)
            handle.raise_if_cancelled()
            session = self.ctx.tutor(course_id)
            session.history = list(history)
            return session

        def opened(session: TutorSession) -> None:
            if self.session is not None:
                self.session.close()
            self.session, self._session_key = session, key
            self._start(question, session)

        def failed(exc: Exception) -> None:
            self._end_without_answer(failed=True)
            show_error(self.panel, exc)

        (Op(self.panel, open_session).success(opened).failure(failed)
         .cancelled(lambda: self._end_without_answer(failed=False))
         .with_progress(tr("Preparing the course…"), cancellable=True).run(executor=self.ctx.db))

    def regenerate(self, question: str) -> None:
        """Ask again, forgetting the previous answer to it (so it does not steer the new one)."""
        if self.busy:
            return
        if self.session is not None and self.session.history and self.session.history[-1].user == question:
            self.session.history.pop()
        self.ask(question)

    def stop(self) -> None:
        self._decline_pending_consent()
        if self.stream is not None:
            self.stream.stop()

    def _start(self, question: str, session: TutorSession) -> None:
        self._got_answer = False
        stream = EventStream(lambda token: session.ask(question, token), self)
        stream.batch.connect(self._on_batch)
        stream.finished.connect(self._on_finished)
        stream.failed.connect(self._on_failed)
        self.stream = stream
        self.stream_started.emit()
        stream.start()

    def _on_batch(self, events: list[Any]) -> None:
        card = self.card
        if card is None:
            return
        answer = None
        for event in events:
            if isinstance(event, Retrieved):
                card.set_passages([hit.chunk for hit in event.hits])
            elif isinstance(event, AnswerText):
                card.append(event.text)
            elif isinstance(event, Routed):
                card.set_routing(event.where, event.model, event.reason)
            elif isinstance(event, AttemptAbandoned):
                card.set_aside(event.attempt)
            elif isinstance(event, ConsentNeeded):
                self._ask_consent(event)
            elif isinstance(event, Answer):
                answer = event
        if answer is not None:
            self._got_answer = True
            card.finish(answer)
            if answer.finish_reason == "cancelled":
                card.stopped()
            self.answer_finished.emit(answer)
        else:
            card.refresh()
        self.panel.scroll_to_end()

    # -- consent ------------------------------------------------------------------------------------

    def _ask_consent(self, event: ConsentNeeded) -> None:
        """Non-blocking (the worker waits in `event.wait()`); the reply comes from the dialog's `decided`."""
        self._decline_pending_consent()
        dialog = ConsentDialog(event, parent=self.panel)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.decided.connect(lambda granted, always: self._consent_decided(event, granted, always))
        self.consent_dialog = dialog
        dialog.open()
        self.consent_asked.emit(dialog)

    def _consent_decided(self, event: ConsentNeeded, granted: bool, always: bool) -> None:
        self.consent_dialog = None
        event.reply(granted)
        if granted and always and self.ctx.settings.cloud_consent == "ask":
            # The same path as the Settings dialog: saved, the services told, the listeners called.
            try:
                self.ctx.apply_settings(self.ctx.settings.model_copy(update={"cloud_consent": "when_needed"}))
            except Exception as exc:
                show_error(self.panel, exc)

    def _decline_pending_consent(self) -> None:
        dialog, self.consent_dialog = self.consent_dialog, None
        if dialog is not None and not dialog.resolved:
            dialog.cancel()

    def _on_finished(self) -> None:
        self._decline_pending_consent()
        self.stream = None
        if not self._got_answer and self.card is not None:
            self.card.stopped()
        self.panel.set_busy(False)
        self.stream_ended.emit()
        self.set_course(self._wanted_course)

    def _on_failed(self, exc: Exception) -> None:
        self._decline_pending_consent()
        self.stream = None
        self._end_without_answer(failed=True)
        self.stream_ended.emit()
        self.set_course(self._wanted_course)
        show_error(self.panel, exc)

    def _end_without_answer(self, *, failed: bool) -> None:
        if self.card is not None:
            if failed:
                self.card.failed()
            else:
                self.card.stopped()
        self.panel.set_busy(False)

    def shutdown(self, timeout_s: float = 5.0) -> None:
        self._decline_pending_consent()
        stream = self.stream
        if stream is not None:
            stream.stop()
            if not stream.wait(timeout_s):
                log.warning("the answer did not stop within %.0f s", timeout_s)
        self._drop_session()

    def _drop_session(self) -> None:
        if self.session is not None:
            self.session.close()  # the index closes on the database worker
        self.session, self._session_key = None, None
