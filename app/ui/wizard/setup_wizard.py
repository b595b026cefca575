"""The first-run setup wizard: device check → model choice → download → course search → ready.

Re-runnable from the app menu: every step that is already satisfied says so (an installed chat model
can be kept, an installed embedder and an indexed course show as ready). A download the wizard
started is remembered in `ctx.state.pending_pulls`, so when the wizard opens with one pending it goes
straight to that step and the transfer resumes from its partial file.

Closing the wizard pauses its downloads and stops indexing (both resume later); AppContext.shutdown
pauses downloads on quit, which the pages take as an ordinary "paused" event. A closed wizard is not
shown again: the app menu opens a new one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QWidget, QWizard

from app.core.i18n import N_
from app.core.installed import InstalledModel
from app.ui.download_progress import DownloadProgressRelay
from app.ui.i18n import tr
from app.ui.wizard.course_page import CoursePage
from app.ui.wizard.device_page import DevicePage
from app.ui.wizard.download_page import DownloadPage
from app.ui.wizard.ids import CHAT, COURSE, DEVICE, DOWNLOAD, EMBEDDING, MODEL, READY
from app.ui.wizard.model_page import ModelPage
from app.ui.wizard.ready_page import ReadyPage

if TYPE_CHECKING:
    from app.ui.app_context import AppContext


class SetupWizard(QWizard):
    chat_model_changed = Signal(object)  # InstalledModel the tutor answers with from now on (settings saved)
    course_indexed = Signal(str)         # id of a course whose search index was just built
    setup_completed = Signal()           # Finish: state.setup_done is saved

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.chat_spec: str | None = ctx.state.pending_pulls.get(CHAT)  # what the download step fetches
        self._relay: DownloadProgressRelay | None = None
        self.setWindowTitle(tr("Set up Lantern"))
        self.setWizardStyle(QWizard.WizardStyle.ModernStyle)
        for button, text in ((QWizard.WizardButton.BackButton, N_("Back")),
                             (QWizard.WizardButton.NextButton, N_("Next")),
                             (QWizard.WizardButton.FinishButton, N_("Finish")),
                             (QWizard.WizardButton.CancelButton, N_("Close"))):
            self.setButtonText(button, tr(text))
        self.device_page = DevicePage(ctx)
        self.model_page = ModelPage(ctx)
        self.download_page = DownloadPage(ctx, self)
        self.course_page = CoursePage(ctx, self)
        self.ready_page = ReadyPage(ctx, self)
        for page_id, page in ((DEVICE, self.device_page), (MODEL, self.model_page), (DOWNLOAD, self.download_page),
                              (COURSE, self.course_page), (READY, self.ready_page)):
            self.setPage(page_id, page)
        if self.chat_spec is not None:
            self.setStartId(DOWNLOAD)
        elif EMBEDDING in ctx.state.pending_pulls:
            self.setStartId(COURSE)
        else:
            self.setStartId(DEVICE)
        self.resize(820, 600)

    # -- for the main window ----------------------------------------------------------------------

    def set_offline(self, offline: bool) -> None:
        """The toolbar's offline toggle: applies it (pausing downloads) if not done yet, and updates the pages."""
        if self.ctx.settings.offline != offline:
            self.ctx.set_offline(offline)
        for page in (self.model_page, self.download_page, self.course_page):
            page.set_offline(offline)

    # -- for the pages ----------------------------------------------------------------------------

    def download_relay(self) -> DownloadProgressRelay:
        """One relay for the wizard's downloads, attached on first use (so an offline wizard builds no client)."""
        if self._relay is None:
            self._relay = DownloadProgressRelay(self)
            self._relay.attach(self.ctx.services.manager)
        return self._relay

    def use_chat_model(self, model: InstalledModel) -> None:
        """The tutor answers with `model` from now on; a download of another model is no longer wanted."""
        panel = self.download_page.panel
        if panel.result is None or panel.result.id != model.id:
            panel.discard()
            self.chat_spec = None
        if self.ctx.settings.chat_model != model.id:
            self.ctx.apply_settings(self.ctx.settings.model_copy(update={"chat_model": model.id}))
        self.chat_model_changed.emit(model)

    def choose_again(self) -> None:
        """From a download the wizard reopened on, back to the start to pick something else."""
        self.download_page.panel.pause()
        self.setStartId(DEVICE)
        self.restart()

    # -- closing ----------------------------------------------------------------------------------

    def accept(self) -> None:
        self.ctx.state.setup_done = True
        self.ctx.save_state()
        self.setup_completed.emit()
        super().accept()

    def done(self, result: int) -> None:
        """Finish, Close or the window's close box: downloads pause (their pending entries stay, so they
        resume next time) and indexing stops after the lesson in progress."""
        self.download_page.panel.shut()
        self.course_page.embed_panel.shut()
        self.course_page.stop()
        if self._relay is not None:
            self._relay.detach()
        super().done(result)
