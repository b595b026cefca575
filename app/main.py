"""Start the desktop app: settings, logging, appearance, the window; then, off the GUI thread, the
course list, the device check and the model load (MainWindow.start)."""

from __future__ import annotations

import os
import sys
import time

from app.core.errors import LanternError


def _check_display() -> None:
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                                                 or os.environ.get("QT_QPA_PLATFORM")):
        raise LanternError("There is no screen to open the Lantern window on.",
                           hint="Run it from a desktop session, or use the commands (`lantern --help`).")


def run_gui(*, debug: bool = False, quit_after_ms: int | None = None, report_startup: bool = False,
            endpoint: str | None = None) -> int:
    _check_display()
    from PySide6.QtCore import QThreadPool, QTimer
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from app.services.logging_setup import configure_logging
    from app.services.resources import resource_path
    from app.services.settings_store import load_settings, paths_for
    from app.ui.app_context import AppContext
    from app.ui.i18n import install_language
    from app.ui.main_window import MainWindow
    from app.ui.theme import apply_appearance, is_dark

    settings = load_settings()
    paths = paths_for(settings).ensure()
    configure_logging(paths.log_dir, level=settings.log_level, debug=debug)
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv)
    app.setApplicationName("Lantern")
    app.setDesktopFileName("lantern")  # ties the window to lantern.desktop (Linux taskbars, Wayland)
    app.setWindowIcon(QIcon(str(resource_path("icons", "lantern.png"))))
    apply_appearance(app, theme=settings.theme, font_size=settings.font_size)
    install_language(app, settings.ui_language)
    ctx = AppContext(settings, paths, endpoint=endpoint)
    window = MainWindow(ctx)
    window.reader.set_dark(is_dark(app))
    window.chat.dark = is_dark(app)
    if report_startup:
        # time.monotonic() is one system-wide clock, so the benchmark that spawned us can subtract its own
        # reading taken just before the spawn (a process start time from psutil is only second-accurate).
        window.shown.connect(lambda: QTimer.singleShot(0, lambda: print(
            f"window shown at monotonic {time.monotonic():.6f}", flush=True)))
    window.show()
    window.start()
    if quit_after_ms is not None:
        QTimer.singleShot(quit_after_ms, window.close)
    code = int(app.exec())
    window.shutdown()
    # Probes are bounded in time; give a running one a moment rather than tearing it down mid-call.
    QThreadPool.globalInstance().waitForDone(5_000)
    return code
