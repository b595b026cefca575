"""Changing the ui_language setting retranslates the open main window, without a restart, and makes
the messages built below the UI (core's `_()`) speak the same language."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication

from app.core import i18n
from app.core.errors import LanternError
from app.core.model_spec import parse_model_spec
from app.services.settings_store import load_settings, paths_for
from app.ui.app_context import AppContext
from app.ui.i18n import install_language, tr
from app.ui.main_window import MainWindow


@pytest.fixture
def english(qapp):
    install_language(qapp, "en")
    yield qapp
    install_language(qapp, "en")


@pytest.fixture
def window(qtbot, english, lantern_home):
    settings = load_settings()
    ctx = AppContext(settings, paths_for(settings))
    ctx.state.setup_done = True
    win = MainWindow(ctx)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()  # closeEvent shuts the services down


def _no_model_message() -> str:
    with pytest.raises(LanternError) as caught:
        parse_model_spec("", catalog_ids=set())
    return caught.value.user_message


def test_switching_to_vietnamese_retranslates_the_open_window(window, qtbot):
    chat, toggle = window.chat, window.offline_toggle
    assert chat.ask_button.text() == "Ask" and toggle.text() == "○ Offline mode: off"
    assert window.file_menu.title() == "&File" and _no_model_message() == "No model was named."

    window.ctx.apply_settings(window.ctx.settings.model_copy(update={"ui_language": "vi"}))

    qtbot.waitUntil(lambda: chat.ask_button.text() == "Hỏi", timeout=5_000)  # LanguageChange is posted
    assert i18n.active_language() == "vi"
    assert toggle.text() == "○ Chế độ ngoại tuyến: tắt"
    assert chat.stop_button.text() == "Dừng" and chat.title.text() == "Gia sư"
    assert window.file_menu.title() == "&Tệp"
    assert window.model_picker.label.text() == "Mô hình:"
    assert window.reader.empty_label.text() == "Chọn một bài học trong danh sách"
    assert window.device_label.text() == tr("Checking this machine…") != "Checking this machine…"
    message = _no_model_message()
    assert message == i18n._("No model was named.") and message != "No model was named."

    toggle.click()  # state-dependent texts follow the language too
    assert toggle.text() == "● Chế độ ngoại tuyến: bật"
    assert window.offline_label.text() == tr("Offline: nothing leaves this computer")
    toggle.click()

    window.ctx.apply_settings(window.ctx.settings.model_copy(update={"ui_language": "en"}))
    qtbot.waitUntil(lambda: chat.ask_button.text() == "Ask", timeout=5_000)
    assert toggle.text() == "○ Offline mode: off" and _no_model_message() == "No model was named."


def test_a_card_keeps_its_answer_and_translates_its_labels(window, qtbot):
    card = window.chat.add_card("What is a loop?")
    card.stopped()
    assert card.badge.text() == "Stopped" and card.copy_button.text() == "Copy"
    install_language(QApplication.instance(), "vi")
    qtbot.waitUntil(lambda: card.copy_button.text() == tr("Copy") != "Copy", timeout=5_000)
    assert card.badge.text() == tr("Stopped") != "Stopped"
    assert card.question_label.text() == "What is a loop?"
