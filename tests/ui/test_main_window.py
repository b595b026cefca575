"""The main window with the real services: SmolLM2 answers, MiniLM searches, SQLite keeps progress.

A question streams in as rendered Markdown with citations that open the lesson at the cited
section; Stop ends generation and keeps what arrived; the offline toggle disables network actions
and persists; an error reaches the one error dialog; closing during a download pauses it.
"""

from __future__ import annotations

import zipfile

import pytest
from PySide6.QtCore import QUrl
from PySide6.QtWidgets import QApplication, QMessageBox

from app.cli import main
from app.services.settings_store import load_settings, paths_for
from app.ui.app_context import AppContext
from app.ui.main_window import MainWindow
from tests.support.courses import loops_pack


def make_window(qtbot, *, endpoint=None, setup_done=True, course=("loops", "05-loops")):
    settings = load_settings()
    ctx = AppContext(settings, paths_for(settings), endpoint=endpoint)
    ctx.state.setup_done = setup_done
    ctx.state.course_id, ctx.state.lesson_id = course
    window = MainWindow(ctx)
    qtbot.addWidget(window)
    window.show()
    return window


@pytest.fixture
def tutor_home(tmp_path, lantern_home, minilm_gguf, smollm2_gguf, capsys):
    """Both real models registered and the loops course imported and indexed."""
    assert main(["models", "import", str(minilm_gguf)]) == 0
    assert main(["models", "import", str(smollm2_gguf)]) == 0
    assert main(["courses", "import", str(loops_pack(tmp_path))]) == 0
    capsys.readouterr()
    return lantern_home


@pytest.fixture
def window(qtbot, tutor_home):
    win = make_window(qtbot)
    with qtbot.waitSignals([win.courses_ready, win.model_ready], timeout=60_000):
        win.start()
    yield win
    win.close()


def ask(window, qtbot, question, *, timeout=60_000):
    window.chat.input.setPlainText(question)
    window.chat.ask_button.click()
    return window.chat.cards[-1]


def open_dialogs():
    return [w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()]


@pytest.mark.slow
def test_streamed_answer_with_a_citation_that_opens_the_section(window, qtbot):
    assert window.reader.current_lesson_id == "05-loops"
    assert window.model_picker.loaded_id.startswith("smollm2")
    card = ask(window, qtbot, "How do I stop a while loop early?")
    renders = []
    card.body.textChanged.connect(lambda: renders.append(card.body.toPlainText()))
    finished = qtbot.waitSignal(window.tutor.answer_finished, timeout=120_000)
    finished.wait()
    answer = finished.args[0]
    assert answer.covered and answer.text.strip() and answer.citations
    assert len(renders) >= 2, "the answer should appear in pieces while it streams"
    assert card.body.toPlainText().strip()
    assert "on-device" in card.badge.text() and "tok/s" in card.badge.text()
    assert answer.model_id in card.badge.text()
    assert card.copy_button.isEnabled() and card.regenerate_button.isEnabled()
    card.copy()
    assert QApplication.clipboard().text() == answer.text

    # Move away, then follow the first source link: the cited lesson opens at the cited section.
    citation = answer.citations[0]
    assert f'href="cite:{citation.number}"' in card.sources.text()
    window.reader.browser.moveCursor(window.reader.browser.textCursor().MoveOperation.Start)
    card.sources.linkActivated.emit(f"cite:{citation.number}")
    assert window.reader.current_lesson_id == citation.chunk.lesson_id
    heading = window.reader.browser.textCursor().block().text()
    assert citation.chunk.titles[-1] in heading, (heading, citation.chunk.titles)


@pytest.mark.slow
def test_stop_during_generation_keeps_the_text_and_is_not_an_error(window, qtbot):
    window.tutor.session = None
    card = ask(window, qtbot, "Explain every kind of loop in Python with long examples for each one.")
    qtbot.waitUntil(lambda: len(card.text) > 20, timeout=60_000)
    assert window.chat.stop_button.isEnabled()
    window.chat.stop_button.click()
    qtbot.waitSignal(window.tutor.stream_ended, timeout=30_000).wait()
    assert not window.tutor.busy and window.chat.ask_button.isEnabled() and not window.chat.stop_button.isEnabled()
    assert card.text and card.badge.text() == "Stopped"
    assert not open_dialogs(), "a stop must not show an error"
    assert window.tutor.session.history == [], "a stopped turn is not kept as conversation"
    # The model is free again: the next question is answered.
    card2 = ask(window, qtbot, "What does break do?")
    qtbot.waitSignal(window.tutor.answer_finished, timeout=120_000).wait()
    assert card2.answer is not None and card2.answer.text


@pytest.fixture
def downloading(qtbot, lantern_home):
    """A window whose download manager is fetching a 32 MB model at 2 MB/s from the loopback hub."""
    from app.core.model_spec import parse_model_spec
    from tests.support.gguf_files import write_gguf
    from tests.support.hf_server import FakeHub

    with FakeHub() as hub:
        path = write_gguf(lantern_home.parent / "big.gguf", weight_bytes=32 << 20, context_length=2048)
        hub.add_file("someone/Big-GGUF", "big.gguf", path)
        hub.throttle(2 << 20)
        window = make_window(qtbot, endpoint=hub.endpoint)
        acquirer = window.ctx.services.acquirer
        job = acquirer.start(acquirer.plan(parse_model_spec("someone/Big-GGUF/big.gguf", catalog_ids=set()),
                                           profile=None))
        qtbot.waitUntil(lambda: job.progress.bytes_done > 0, timeout=20_000)
        yield window, job
        window.close()


def test_offline_toggle_disables_network_actions_and_persists(qtbot, downloading):
    from app.core.errors import OfflineModeEnabled

    window, job = downloading
    ctx = window.ctx
    assert window.download_action.isEnabled() and not window.offline_toggle.isChecked()
    window.offline_toggle.click()
    assert window.offline_toggle.isChecked() and "on" in window.offline_toggle.text()
    assert not window.download_action.isEnabled()
    assert "Offline mode is on" in window.download_action.toolTip()
    assert window.offline_label.text()
    qtbot.waitUntil(lambda: job.state == "paused", timeout=20_000)  # no socket while offline
    assert load_settings().offline is True and ctx.services.gate.offline is True
    with pytest.raises(OfflineModeEnabled):
        ctx.services.hub.refuse_if_offline("anything")

    window.offline_toggle.click()
    assert window.download_action.isEnabled() and load_settings().offline is False
    window.close()
    # Reopened, the window starts in the persisted state.
    again = make_window(qtbot)
    try:
        assert not again.offline_toggle.isChecked()
    finally:
        again.close()


def test_an_error_reaches_the_dialog_with_hint_and_diagnostics(qtbot, lantern_home, tmp_path):
    window = make_window(qtbot, course=("python-from-zero", "01-first-program"))
    try:
        with qtbot.waitSignal(window.courses_ready, timeout=30_000):
            window.start()
        # No model installed: asking explains what to do instead of failing silently.
        window.chat.input.setPlainText("What is a variable?")
        window.chat.ask_button.click()
        qtbot.waitUntil(lambda: bool(open_dialogs()), timeout=5_000)
        [box] = open_dialogs()
        assert box.text() == "No model is loaded yet."
        assert "setup" in box.informativeText()
        assert any(b.text() == "Copy diagnostics" for b in box.buttons())
        box.close()
        qtbot.waitUntil(lambda: "No model is installed" in window.chat.notice.text(), timeout=10_000)
        assert window.chat.notice.isVisible()

        # A broken course pack: the service's CourseInvalid reaches the same dialog, nothing is half-imported.
        bad = tmp_path / "bad.zip"
        with zipfile.ZipFile(bad, "w") as zf:
            zf.writestr("course.toml", 'id = "bad"\ntitle = "Bad"\n')
        window.import_course_from(bad)
        qtbot.waitUntil(lambda: bool(open_dialogs()), timeout=10_000)
        [box] = open_dialogs()
        assert "course.toml" in box.text() and box.informativeText()
        box.close()
        assert not (lantern_home / "data" / "courses" / "bad").exists()
    finally:
        window.close()


def test_closing_during_a_download_pauses_it_and_keeps_the_partial(downloading):
    window, job = downloading
    ctx = window.ctx
    window.close()  # shutdown: pause downloads, close models, stop workers
    assert job.state == "paused"
    partials = list(ctx.services.partial_dir.glob("*.part*"))
    assert partials, "the partial download must be kept so it resumes"
    assert ctx.closed and not window.isVisible()


def test_lesson_progress_marks_persist(qtbot, lantern_home):
    window = make_window(qtbot, course=("python-from-zero", "01-first-program"))
    try:
        with qtbot.waitSignal(window.courses_ready, timeout=30_000):
            window.start()
        assert window.reader.current_lesson_id == "01-first-program"
        qtbot.waitUntil(lambda: window.sidebar.lesson_state("python-from-zero", "01-first-program") == "opened",
                        timeout=5_000)
        window.reader.done_button.click()
        qtbot.waitUntil(lambda: window.sidebar.lesson_state("python-from-zero", "01-first-program") == "done",
                        timeout=5_000)
        top = window.sidebar.topLevelItem([window.sidebar.topLevelItem(i).data(0, 256)
                                           for i in range(window.sidebar.topLevelItemCount())]
                                          .index("python-from-zero"))
        assert "(1/12 done)" in top.text(0) and top.child(0).text(0).startswith("✓")
    finally:
        window.close()
    again = make_window(qtbot, course=("python-from-zero", "02-values-and-variables"))
    try:
        with qtbot.waitSignal(again.courses_ready, timeout=30_000):
            again.start()
        assert again.sidebar.lesson_state("python-from-zero", "01-first-program") == "done"
    finally:
        again.close()


def test_cite_link_with_unknown_number_is_ignored(qtbot):
    from app.ui.chat_panel import AnswerCard

    card = AnswerCard("q")
    qtbot.addWidget(card)
    clicked = []
    card.citation_clicked.connect(lambda *a: clicked.append(a))
    card._on_link(QUrl("cite:3"))
    assert clicked == []


def test_settings_dialog_saves_and_applies(qtbot, lantern_home, qapp):
    from app.ui.theme import apply_appearance

    font, palette, style = qapp.font(), qapp.palette(), qapp.style().name()
    window = make_window(qtbot, course=("python-from-zero", "01-first-program"))
    try:
        window.open_settings()
        dialog = window.settings_dialog
        dialog.editors["theme"].set_value("dark")
        dialog.editors["context_length"].set_value(2048)
        dialog.editors["offline"].set_value(True)
        dialog.accept()
        saved = load_settings()
        assert saved.theme == "dark" and saved.context_length == 2048 and saved.offline
        assert window.ctx.settings.context_length == 2048 and window.ctx.services.gate.offline
        assert window.offline_toggle.isChecked() and not window.download_action.isEnabled()
        assert window.reader._dark and window.chat.dark  # the views render their own HTML in dark colours
    finally:
        window.close()
        apply_appearance(qapp, theme="system", font_size=None)
        qapp.setFont(font)
        qapp.setPalette(palette)
        qapp.setStyle(style)
