"""One model download in the wizard, through the same use case as `lantern models pull`
(`AppServices.plan_pull` / `start_pull` / `finish_pull`).

plan (resolve the spec, refuse offline, read the GGUF header over HTTP Range, judge the fit, refuse
what will not run; off the GUI thread) → remember the spec in the app state → start the resumable
transfer → finish (validate the GGUF and register it; off the GUI thread). The spec stays in
`state.pending_pulls[role]` until the model is registered or the learner cancels, so quitting (or a
crash) mid-download and reopening the wizard plans the same spec again, and FileTransfer continues
from the checkpoint in the partial folder.

A pause that comes from elsewhere (offline toggle, app shutdown) is just another "paused" event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.core.downloads import DownloadProgress, human_bytes
from app.core.errors import DownloadFailed
from app.core.installed import InstalledModel
from app.ui.download_progress import DownloadProgressRelay, DownloadProgressView
from app.ui.error_dialog import show_error
from app.ui.i18n import tr
from app.ui.op import Op
from app.ui.wizard.widgets import alive, guarded, offline_notice

if TYPE_CHECKING:
    from app.services.models.acquire import PullPlan
    from app.ui.app_context import AppContext

ACTIVE = ("queued", "running", "verifying")


class PullPanel(QWidget):
    installed = Signal(object)        # InstalledModel: registered now, or found already installed
    busy_changed = Signal(bool)

    def __init__(self, ctx: AppContext, *, role: str, relay: Callable[[], DownloadProgressRelay], start_text: str,
                 offline_text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx, self.role, self._relay, self._start_text = ctx, role, relay, start_text
        self.spec: str | None = None
        self.plan: PullPlan | None = None
        self.job: Any = None
        self.view: DownloadProgressView | None = None
        self.result: InstalledModel | None = None
        self._op: Op | None = None
        self._terminal_seen: int | None = None  # job id whose end was handled (the relay may repeat it)
        self._shut = False  # the wizard closed: start nothing new
        self.status = QLabel("", self)
        self.status.setWordWrap(True)
        self.start_button = QPushButton(start_text, self)
        self.start_button.clicked.connect(lambda: self.start())
        self.offline_label = offline_notice(offline_text, self)
        self._view_box = QVBoxLayout()
        row = QHBoxLayout()
        row.addWidget(self.status, 1)
        row.addWidget(self.start_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.offline_label)
        layout.addLayout(self._view_box)
        layout.addLayout(row)
        self.set_offline(ctx.settings.offline)

    # -- state ------------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """Planning, downloading or registering: the page should not move on."""
        working = self._op is not None and not self._op.done
        return working or (self.job is not None and self.job.state in ACTIVE)

    def set_spec(self, spec: str) -> None:
        """Point the panel at `spec`; a different one drops the old download (and its partial file)."""
        if spec == self.spec:
            return
        self._drop_job()
        self.spec, self.plan, self.result = spec, None, None
        self.status.setText("")
        self.start_button.setText(self._start_text)
        self._update_buttons()

    def set_offline(self, offline: bool) -> None:
        self.offline_label.setVisible(offline)
        self._update_buttons()

    # -- actions ----------------------------------------------------------------------------------

    def start(self, spec: str | None = None) -> None:
        """Plan and download `spec` (or the current one); resumes a paused download of the same spec."""
        if spec is not None:
            self.set_spec(spec)
        if self.spec is None or self.result is not None or self.busy or self._shut:
            return
        if self.ctx.settings.offline:
            self.set_offline(True)
            return
        if self.job is not None and self.job.state == "paused":
            self.job.resume()
            return
        self._drop_job()
        services = self.ctx.services
        spec_text = self.spec
        self.status.setText(tr("Looking up {spec}…").format(spec=spec_text))
        self._op = (Op(self, lambda: services.plan_pull(spec_text))
                    .success(guarded(self, self._planned)).failure(guarded(self, self._failed))
                    .cancelled(guarded(self, self._update_buttons)).run())
        self._changed()

    def discard(self) -> None:
        """Not wanted any more: cancel the download (its partial file goes) and forget the pending entry."""
        self._drop_job()
        self._forget()
        self.spec, self.plan, self.result = None, None, None
        self.status.setText("")
        self._changed()

    def pause(self) -> None:
        """Leaving the page: keep the partial file (and the pending entry)."""
        if self.job is not None and self.job.state in ("queued", "running"):
            self.job.pause()

    def shut(self) -> None:
        """The wizard closed: pause (the pending entry stays, so it resumes next time) and start nothing new,
        not even when a lookup still in flight comes back."""
        self._shut = True
        self.pause()

    # -- results (GUI thread) ---------------------------------------------------------------------

    def _planned(self, plan: PullPlan) -> None:
        self._op = None
        if self._shut or self.ctx.closed:
            self._changed()
            return
        self.plan = plan
        if plan.already is not None:
            self._forget()
            self._done(plan.already, tr("Already installed as {id}.").format(id=plan.already.id))
            return
        self._remember()
        relay = self._relay()
        self.job = self.ctx.services.start_pull(plan)
        self.view = DownloadProgressView(self.job, relay, self)
        self._view_box.addWidget(self.view)
        relay.progress.connect(self._on_progress)  # after the view's own slot, so ours has the last word
        self.status.setText(tr("Downloading {size}.").format(size=human_bytes(plan.total_bytes)))
        self._changed()

    def _on_progress(self, p: DownloadProgress) -> None:
        if not alive(self) or self.job is None or p.job_id != self.job.id:
            return
        if p.state in ("done", "failed", "cancelled"):
            if self._terminal_seen == p.job_id:
                return
            self._terminal_seen = p.job_id
        if p.state == "done":
            self._finish()
        elif p.state == "failed":
            self.status.setText(tr("The download stopped."))
            show_error(self, self.job.error or DownloadFailed(p.message or tr("The download failed.")))
            self.start_button.setText(tr("Try again"))
        elif p.state == "cancelled":
            self._forget()
            self.status.setText(tr("Download cancelled; the partial file was deleted."))
            self.start_button.setText(self._start_text)
        elif p.state == "paused":
            self.status.setText(tr("Paused. It continues where it stopped, even after Lantern restarts."))
        elif p.state == "running":
            self.status.setText(tr("Downloading {size}.").format(size=human_bytes(p.total_bytes)))
        self._changed()

    def _finish(self) -> None:
        plan = self.plan
        assert plan is not None
        services = self.ctx.services
        self.status.setText(tr("Checking the downloaded file…"))
        self._op = (Op(self, lambda: services.finish_pull(plan))
                    .success(guarded(self, lambda m: self._done(m, tr("Installed {id} (checksum verified).")
                                                                .format(id=m.id))))
                    .failure(guarded(self, self._failed)).run())

    def _done(self, model: InstalledModel, message: str) -> None:
        self._op = None
        self._forget()
        self.result = model
        self.status.setText(message)
        self._changed()
        self.installed.emit(model)

    def _failed(self, exc: Exception) -> None:
        self._op = None
        self.status.setText(tr("That did not work."))
        self.start_button.setText(tr("Try again"))
        self._changed()
        show_error(self, exc)

    # -- helpers ----------------------------------------------------------------------------------

    def _remember(self) -> None:
        assert self.spec is not None
        self.ctx.state.pending_pulls[self.role] = self.spec
        self.ctx.save_state()

    def _forget(self) -> None:
        if self.ctx.state.pending_pulls.pop(self.role, None) is not None:
            self.ctx.save_state()

    def _drop_job(self) -> None:
        if self.job is not None and self.job.state not in ("done", "failed", "cancelled"):
            self.job.cancel()
        self.job = None
        if self.view is not None:
            self.view.setParent(None)
            self.view.deleteLater()
            self.view = None

    def _changed(self) -> None:
        self._update_buttons()
        self.busy_changed.emit(self.busy)

    def _update_buttons(self) -> None:
        offline = self.ctx.settings.offline
        idle = not self.busy and self.result is None and self.spec is not None
        paused = self.job is not None and self.job.state == "paused"
        self.start_button.setVisible(idle and not paused)
        self.start_button.setEnabled(not offline)
        if self.view is not None and paused:
            self.view.pause_button.setEnabled(not offline)  # offline, Resume would only fail
