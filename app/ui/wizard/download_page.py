"""Step 3: download the chosen model (verified, pausable, resumable after a restart). Next is enabled
only once the model is registered."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QHBoxLayout, QPushButton, QVBoxLayout, QWizardPage

from app.core.installed import InstalledModel
from app.ui.i18n import tr
from app.ui.wizard.ids import CHAT, COURSE, DOWNLOAD
from app.ui.wizard.pull_panel import PullPanel
from app.ui.wizard.widgets import offline_text

if TYPE_CHECKING:
    from app.ui.app_context import AppContext
    from app.ui.wizard.setup_wizard import SetupWizard


class DownloadPage(QWizardPage):
    def __init__(self, ctx: AppContext, wizard: SetupWizard) -> None:
        super().__init__()
        self.ctx = ctx
        self._wizard = wizard
        self.setTitle(tr("Downloading the model"))
        self.setSubTitle(tr("You can pause, or close Lantern: the download continues where it stopped next time."))
        self.panel = PullPanel(ctx, role=CHAT, relay=wizard.download_relay, start_text=tr("Download"),
                               offline_text=offline_text(), parent=self)
        self.panel.installed.connect(self._installed)
        self.panel.busy_changed.connect(lambda _busy: self._update())
        self.other_button = QPushButton(tr("Choose another model"), self)
        self.other_button.clicked.connect(wizard.choose_again)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.other_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.panel)
        layout.addStretch(1)
        layout.addLayout(row)

    def initializePage(self) -> None:
        spec = self._wizard.chat_spec
        if spec is None:
            return
        self.setSubTitle(tr("{spec}: you can pause, or close Lantern; the download continues where it stopped "
                            "next time.").format(spec=spec))
        self.panel.set_spec(spec)
        if not self.ctx.settings.offline:
            self.panel.start()
        self._update()

    def cleanupPage(self) -> None:
        """Back: the download pauses (and resumes if the same model is chosen again)."""
        self.panel.pause()

    def isComplete(self) -> bool:
        return self.panel.result is not None and not self.panel.busy

    def nextId(self) -> int:
        return COURSE

    def set_offline(self, offline: bool) -> None:
        self.panel.set_offline(offline)

    def _installed(self, model: InstalledModel) -> None:
        self._wizard.use_chat_model(model)
        self._update()

    def _update(self) -> None:
        # Offered only when the wizard reopened here (otherwise Back leads to the model step).
        self.other_button.setVisible(self._wizard.startId() == DOWNLOAD and self.panel.result is None
                                     and not self.panel.busy)
        self.completeChanged.emit()
