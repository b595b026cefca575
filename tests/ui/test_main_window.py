"""The window shows the real device check and recommendation, computed off the GUI thread."""

from __future__ import annotations

from app.core.errors import InvalidProfile
from app.ui.error_dialog import build_error_box, diagnostics
from app.ui.main_window import MainWindow
from app.ui.op import Op


def test_window_shows_profile_and_recommendation(qtbot):
    from app.core.recommend import recommend
    from app.services.catalog_store import default_catalog, default_performance_table
    from app.services.hardware.profiler import capture_profile
    from app.services.paths import resolve_paths

    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    results = []

    def work():
        profile = capture_profile(resolve_paths().models_dir)
        return profile, recommend(profile, default_catalog(), table=default_performance_table())

    Op(window, work).success(results.append).run()
    qtbot.waitUntil(lambda: bool(results), timeout=15_000)
    profile, rec = results[0]
    window.show_profile(profile)
    window.show_recommendation(rec)
    assert "CPU:" in window.device_view.toPlainText()
    assert window.table.rowCount() == len(rec.options) > 0
    assert rec.pick is not None and rec.pick.model.name in window.table.item(0, 0).text()
    assert window.pick_label.text().startswith("Recommended:")
    window.copy_diagnostics()
    from PySide6.QtGui import QGuiApplication

    assert '"lantern.device-profile"' in QGuiApplication.clipboard().text()


def test_failure_reaches_the_handler_on_the_gui_thread(qtbot):
    errors = []

    def boom():
        raise InvalidProfile("The profile is broken.", hint="Capture it again.")

    Op(None, boom).failure(errors.append).run()
    qtbot.waitUntil(lambda: bool(errors), timeout=5_000)
    assert isinstance(errors[0], InvalidProfile)


def test_error_box_shows_message_hint_and_copies_diagnostics(qtbot):
    exc = InvalidProfile("The profile is broken.", hint="Capture it again.", debug_context={"file": "p.json"})
    box = build_error_box(None, exc)
    qtbot.addWidget(box)
    assert box.text() == "The profile is broken." and box.informativeText() == "Capture it again."
    copy = next(b for b in box.buttons() if b.text() == "Copy diagnostics")
    copy.click()
    from PySide6.QtGui import QGuiApplication

    assert QGuiApplication.clipboard().text() == diagnostics(exc)
    assert '"file": "p.json"' in diagnostics(exc)
