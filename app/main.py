"""Start the desktop app: settings, logging, the window, then the device check off the GUI thread."""

from __future__ import annotations

import os
import sys

from app.core.errors import LanternError


def _check_display() -> None:
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                                                 or os.environ.get("QT_QPA_PLATFORM")):
        raise LanternError("There is no screen to open the Lantern window on.",
                           hint="Run it from a desktop session, or use the commands (`lantern --help`).")


def run_gui(*, debug: bool = False, quit_after_ms: int | None = None) -> int:
    _check_display()
    from PySide6.QtCore import QThreadPool, QTimer
    from PySide6.QtWidgets import QApplication

    from app.core.recommend import recommend
    from app.services.catalog_store import default_catalog, default_performance_table
    from app.services.hardware.profiler import capture_profile
    from app.services.logging_setup import configure_logging
    from app.services.settings_store import load_settings, paths_for
    from app.services.storage.models_registry import measured_speeds
    from app.ui.main_window import MainWindow
    from app.ui.op import Op

    settings = load_settings()
    paths = paths_for(settings).ensure()
    configure_logging(paths.log_dir, level=settings.log_level, debug=debug)
    app = QApplication.instance() or QApplication(sys.argv)
    window = MainWindow()
    window.show()

    def check_machine() -> tuple[object, object]:
        profile = capture_profile(paths.models_dir)
        rec = recommend(profile, default_catalog(), table=default_performance_table(),
                        intent=settings.intent, context_length=settings.context_length,
                        measured_tps=measured_speeds(paths.database_file))
        return profile, rec

    def shown(result: tuple[object, object]) -> None:
        profile, rec = result
        window.show_profile(profile)  # type: ignore[arg-type]
        window.show_recommendation(rec)  # type: ignore[arg-type]

    Op(window, check_machine).success(shown).run()
    if quit_after_ms is not None:
        QTimer.singleShot(quit_after_ms, app.quit)
    code = int(app.exec())
    # Probes are bounded in time; give a running one a moment rather than tearing it down mid-call.
    QThreadPool.globalInstance().waitForDone(5_000)
    return code
