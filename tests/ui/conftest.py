"""GUI tests: offscreen Qt; fail a test that leaves top-level windows open or Lantern worker threads running."""

from __future__ import annotations

import os
import threading

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("PySide6", reason="GUI tests need PySide6 (core and service tests do not)")

# Threads Lantern starts itself (model and database workers, downloads): all must be gone after a test.
OUR_THREADS = ("lantern-",)


@pytest.fixture(autouse=True)
def no_leaked_windows(qapp):
    before = {id(w) for w in qapp.topLevelWidgets() if w.isVisible()}
    yield
    qapp.processEvents()
    leaked = [w for w in qapp.topLevelWidgets() if w.isVisible() and id(w) not in before]
    # A message box's text says what went wrong (an error dialog is the usual leak): show it.
    said = [f"{w!r}: {w.text()!r}" if hasattr(w, "text") else repr(w) for w in leaked]
    for w in leaked:
        w.close()
    assert not leaked, f"test left windows open: {said}"


@pytest.fixture(autouse=True)
def no_leaked_threads():
    before = set(threading.enumerate())
    yield
    ours = [t for t in threading.enumerate() if t not in before and t.name.startswith(OUR_THREADS)]
    for t in ours:
        t.join(10)  # executors let idle workers go shortly after shutdown
    alive = [t.name for t in ours if t.is_alive()]
    assert not alive, f"test left Lantern threads running: {alive}"


@pytest.fixture
def wizard_factory(qtbot):
    """Open setup wizards on fresh AppContexts read from disk (as the app does at start); each is closed and
    its context shut down after the test. `open_(endpoint=..., profile=..., offline=..., start=page id)`."""
    from app.services.paths import resolve_paths
    from app.services.settings_store import load_settings
    from app.ui.app_context import AppContext
    from app.ui.wizard import SetupWizard

    opened: list[SetupWizard] = []

    def open_(*, endpoint: str, profile=None, offline: bool = False, start: int | None = None) -> SetupWizard:
        settings = load_settings()
        if offline:
            settings = settings.model_copy(update={"offline": True})
        ctx = AppContext(settings, resolve_paths(), endpoint=endpoint)
        if profile is not None:
            ctx.services.use_profile(profile)
        wizard = SetupWizard(ctx)
        if start is not None:
            wizard.setStartId(start)
        qtbot.addWidget(wizard)
        opened.append(wizard)
        wizard.show()
        return wizard

    yield open_
    for wizard in opened:
        wizard.close()
        wizard.ctx.shutdown()
