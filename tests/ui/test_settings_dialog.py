"""The generated settings dialog, the Vietnamese catalog and the appearance switch."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
from PySide6.QtGui import QFont, QPalette
from PySide6.QtWidgets import QDialog, QDialogButtonBox

from app.core.errors import SettingsInvalid
from app.core.settings import LanternSettings
from app.ui.i18n import catalog_path, install_language, resolve_language, tr
from app.ui.settings_dialog import (
    GROUPS,
    HIDDEN_FIELDS,
    BoolEditor,
    ChoiceEditor,
    FolderEditor,
    IntEditor,
    SettingsDialog,
    field_labels,
    shown_fields,
)
from app.ui.theme import apply_appearance, is_dark

UI_DIR = Path(__file__).resolve().parents[2] / "app" / "ui"


@pytest.fixture(autouse=True)
def no_settings_env(monkeypatch):
    for name in LanternSettings.model_fields:
        monkeypatch.delenv(f"LANTERN_{name.upper()}", raising=False)


@pytest.fixture
def app_look(qapp):
    """Leave the QApplication's style, palette, font, colour scheme and language as they were."""
    style, palette, font = qapp.style().name(), QPalette(qapp.palette()), QFont(qapp.font())
    palette_was_set = qapp.palette().resolveMask() != 0
    scheme = qapp.styleHints().colorScheme()
    yield qapp
    apply_appearance(qapp, theme="system", font_size=None)
    install_language(qapp, "en")
    if qapp.style().name() != style:
        qapp.setStyle(style)
    qapp.setPalette(palette if palette_was_set else QPalette())
    qapp.setFont(font)
    qapp.styleHints().setColorScheme(scheme)


def make_dialog(qtbot, settings=None, **kwargs):
    kwargs.setdefault("chat_models", ["qwen-coder-0.5b", "smollm2"])
    kwargs.setdefault("embedding_models", ["minilm"])
    dialog = SettingsDialog(settings or LanternSettings(), **kwargs)
    qtbot.addWidget(dialog)
    return dialog


def click_ok(dialog):
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()


def shows_error(dialog, name):
    return not dialog.error_labels[name].isHidden()


def test_every_field_is_shown_or_explicitly_hidden(qtbot):
    shown = shown_fields()
    assert len(shown) == len(set(shown)), "a field is in two groups"
    assert not set(shown) & HIDDEN_FIELDS
    assert set(shown) | HIDDEN_FIELDS == set(LanternSettings.model_fields), "place the new field in GROUPS or HIDDEN"
    dialog = make_dialog(qtbot)
    assert list(dialog.editors) == shown
    assert dialog.tabs.count() == len(GROUPS)
    assert set(shown) <= set(field_labels())


def test_editors_follow_the_field_types(qtbot):
    dialog = make_dialog(qtbot, LanternSettings(chat_model="gone-model"))
    e = dialog.editors
    assert isinstance(e["offline"], BoolEditor) and isinstance(e["models_dir"], FolderEditor)
    theme = e["theme"]
    assert isinstance(theme, ChoiceEditor)
    assert [theme.box.itemData(i) for i in range(theme.box.count())] == ["system", "light", "dark"]
    assert theme.box.itemText(2) == "Dark"
    context = e["context_length"]
    assert isinstance(context, IntEditor) and (context.spin.minimum(), context.spin.maximum()) == (512, 1_048_576)
    threads = e["n_threads"]
    assert isinstance(threads, IntEditor) and threads.spin.minimum() == 0 and threads.spin.maximum() == 1024
    assert threads.spin.text() == "Automatic" and threads.value() is None
    assert (e["font_size"].spin.minimum(), e["font_size"].spin.maximum()) == (7, 32)
    chat = e["chat_model"].box
    items = [(chat.itemData(i), chat.itemText(i)) for i in range(chat.count())]
    assert items[:3] == [(None, "Automatic"), ("qwen-coder-0.5b", "qwen-coder-0.5b"), ("smollm2", "smollm2")]
    assert chat.currentData() == "gone-model" and "not installed" in chat.currentText()


def test_edits_round_trip_through_result_settings(qtbot):
    dialog = make_dialog(qtbot, LanternSettings(n_threads=4, gpu_layers=10))
    e = dialog.editors
    e["context_length"].spin.setValue(8192)
    e["theme"].set_value("dark")
    e["chat_model"].set_value("smollm2")
    e["n_threads"].spin.setValue(e["n_threads"].spin.minimum())  # "Automatic"
    e["gpu_layers"].spin.setValue(-1)
    e["offline"].box.setChecked(True)
    click_ok(dialog)
    assert dialog.result() == QDialog.DialogCode.Accepted
    result = dialog.result_settings()
    assert (result.context_length, result.theme, result.chat_model) == (8192, "dark", "smollm2")
    assert result.n_threads is None and result.gpu_layers == -1 and result.offline is True
    assert result.intent == "chat" and result.models_dir is None


def test_a_folder_under_a_file_is_refused_inline(qtbot, tmp_path):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    dialog = make_dialog(qtbot)
    folder = dialog.editors["models_dir"]
    folder.line.setText(str(a_file / "models"))
    click_ok(dialog)
    assert dialog.result() != QDialog.DialogCode.Accepted
    assert shows_error(dialog, "models_dir") and str(a_file) in dialog.error_labels["models_dir"].text()
    assert dialog.tabs.tabText(dialog.tabs.currentIndex()) == "Advanced"
    with pytest.raises(SettingsInvalid):
        dialog.result_settings()
    folder.line.setText(str(a_file))
    assert not shows_error(dialog, "models_dir")  # editing clears the message
    click_ok(dialog)
    assert "not a folder" in dialog.error_labels["models_dir"].text()
    folder.line.setText(str(tmp_path / "models"))
    click_ok(dialog)
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.result_settings().models_dir == tmp_path / "models"


def test_a_value_the_model_rejects_is_shown_beside_its_field(qtbot):
    dialog = make_dialog(qtbot)
    spin = dialog.editors["context_length"].spin
    spin.setMinimum(1)  # as if a bad value got past the spin box
    spin.setValue(12)
    click_ok(dialog)
    assert dialog.result() != QDialog.DialogCode.Accepted
    assert shows_error(dialog, "context_length") and "512" in dialog.error_labels["context_length"].text()


def test_environment_overrides_are_shown_disabled(qtbot, monkeypatch):
    monkeypatch.setenv("LANTERN_CONTEXT_LENGTH", "2048")
    dialog = make_dialog(qtbot, LanternSettings(intent="code"))
    editor = dialog.editors["context_length"]
    assert not editor.widget.isEnabled() and "LANTERN_CONTEXT_LENGTH" in editor.widget.toolTip()
    assert dialog.editors["intent"].widget.isEnabled()
    dialog.restore_defaults()
    result = dialog.result_settings()
    assert result.context_length == 2048 and result.intent == "chat"


def test_restore_defaults(qtbot, tmp_path):
    custom = LanternSettings(theme="light", font_size=20, offline=True, models_dir=tmp_path, log_level="DEBUG",
                             max_parallel_downloads=5, chat_model="smollm2")
    dialog = make_dialog(qtbot, custom)
    assert dialog.result_settings() == custom
    dialog.restore_button.click()
    assert dialog.result_settings() == LanternSettings()


def test_vietnamese_catalog_switches_in_and_out(qtbot, app_look):
    assert install_language(app_look, "vi") == "vi"
    assert tr("Cancel") == "Hủy" and tr("Restore defaults") == "Khôi phục mặc định"
    assert tr("Failed: {}").format("x") == "Thất bại: x"
    assert tr("no such string") == "no such string"  # missing entries fall back to English
    dialog = make_dialog(qtbot)
    assert dialog.windowTitle() == "Cài đặt" and dialog.tabs.tabText(0) == "Mô hình"
    assert dialog.editors["n_threads"].spin.text() == "Tự động"
    assert install_language(app_look, "en") == "en"
    assert tr("Cancel") == "Cancel"


def test_system_language_picks_a_shipped_one():
    assert resolve_language("system", ["vi-VN", "en-US"]) == "vi"
    assert resolve_language("system", ["fr-FR", "vi"]) == "vi"
    assert resolve_language("system", ["en-GB", "vi-VN"]) == "en"
    assert resolve_language("system", ["fr-FR"]) == "en"
    assert resolve_language("de", []) == "en"


def _tr_literals(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "tr" and node.args
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            found.add(node.args[0].value)
    return found


def test_catalog_covers_the_dialogs_and_keeps_placeholders():
    catalog = json.loads(catalog_path("vi").read_text(encoding="utf-8"))
    needed = set().union(*(_tr_literals(UI_DIR / name)
                           for name in ("settings_dialog.py", "settings_editors.py", "route_views.py",
                                        "download_progress.py", "error_dialog.py")))
    needed |= {title for title, _ in GROUPS}
    needed |= {field.description for field in LanternSettings.model_fields.values() if field.description}
    assert not needed - set(catalog), "add these to resources/i18n/vi.json"
    placeholder = re.compile(r"\{[^}]*\}")
    for source, text in catalog.items():
        assert text, source
        assert sorted(placeholder.findall(source)) == sorted(placeholder.findall(text)), source


def test_dark_theme_and_font_size_then_back(app_look):
    app = app_look
    palette, font = QPalette(app.palette()), QFont(app.font())
    apply_appearance(app, theme="dark", font_size=15)
    assert app.palette().color(QPalette.ColorRole.Window).lightness() < 128
    assert app.font().pointSize() == 15 and is_dark(app)
    apply_appearance(app, theme="light", font_size=None)
    assert app.palette().color(QPalette.ColorRole.Window).lightness() >= 128 and not is_dark(app)
    assert app.font() == font
    apply_appearance(app, theme="system", font_size=None)
    assert app.palette() == palette and app.font() == font
    with pytest.raises(ValueError):
        apply_appearance(app, theme="purple", font_size=None)
