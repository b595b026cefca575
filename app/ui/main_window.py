"""The main window: courses on the left, the lesson in the middle, the tutor on the right.

The toolbar picks the model and holds the offline toggle; the status bar shows the device, the
memory in use and how sync stands. Under the lesson sit its notes. All service work goes through
the op helper: course files, progress and notes on the database worker, model loads on the model's
worker; the window only ever shows results. Background sync (app.ui.window_sync) starts with the
window and stops when it closes.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QGuiApplication, QKeySequence
from PySide6.QtWidgets import QApplication, QFileDialog, QLabel, QMainWindow, QMessageBox, QSplitter, QWidget

from app import __version__
from app.core.courses import Course
from app.core.installed import InstalledModel
from app.core.settings import LanternSettings
from app.services.knowledge.models import is_embedding_model
from app.ui.app_context import AppContext
from app.ui.chat_panel import ChatPanel
from app.ui.course_sidebar import CourseSidebar
from app.ui.i18n import Retranslatable, tr
from app.ui.lesson_reader import LessonReaderView
from app.ui.notes_panel import LessonNotesPanel
from app.ui.op import Op
from app.ui.status_widgets import MemoryLabel, ModelPicker, OfflineToggle, device_summary
from app.ui.tutor_controller import TutorController
from app.ui.window_learning import WindowLearning
from app.ui.window_sync import WindowSync

log = logging.getLogger(__name__)


class MainWindow(Retranslatable, QMainWindow):
    model_ready = Signal(str)      # a chat model finished loading (its id)
    courses_ready = Signal()       # the course list is shown
    shown = Signal()               # the first paint is done (the cold-start benchmark waits for it)

    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.resize(1280, 800)
        self.wizard: Any = None
        self._profile: Any = None  # the probed device, kept so its summary can be retranslated
        self.courses: dict[str, Course] = {}
        self.chat_models: list[InstalledModel] = []
        self.all_models: list[InstalledModel] = []
        self._closing = False

        self.sidebar = CourseSidebar(self)
        self.reader = LessonReaderView(self)
        self.notes = LessonNotesPanel(ctx, section_of=self.reader.current_section, parent=self)
        self.chat = ChatPanel(self)
        self.tutor = TutorController(ctx, self.chat, self)
        self.learning = WindowLearning(self)  # the Notes / Quiz / Hints tabs, review and progress
        lesson_column = QSplitter(Qt.Orientation.Vertical, self)
        lesson_column.addWidget(self.reader)
        lesson_column.addWidget(self.learning.tabs)
        lesson_column.setSizes([520, 280])
        lesson_column.setChildrenCollapsible(True)
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        for widget in (self.sidebar, lesson_column, self.chat):
            splitter.addWidget(widget)
        splitter.setSizes([240, 560, 480])
        splitter.setChildrenCollapsible(False)
        self.setCentralWidget(splitter)

        self.sidebar.lesson_selected.connect(self.open_lesson)
        self.reader.done_toggled.connect(self._mark_done)
        self.reader.lesson_link.connect(self.open_lesson_at)
        self.chat.citation_clicked.connect(self.open_lesson_at)
        self.notes.section_requested.connect(self.reader.scroll_to_section)
        self.sync = WindowSync(self)
        self.sync_bridge, self.sync_indicator = self.sync.bridge, self.sync.indicator
        # No model switch while an answer streams from the current one.
        self.tutor.stream_started.connect(lambda: self.model_picker.combo.setEnabled(False))
        self.tutor.stream_ended.connect(lambda: self.model_picker.set_loading(False))

        self._build_actions()
        self._build_toolbar()
        self._build_status_bar()
        self.retranslate()
        self.apply_offline(ctx.settings.offline)
        ctx.on_settings_changed(self._settings_changed)


    def retranslate(self) -> None:
        """Set every translated text the window owns (called at start and on a language change)."""
        self.setWindowTitle(tr("Lantern"))
        self.file_menu.setTitle(tr("&File"))
        self.import_course_action.setText(tr("Import a course…"))
        self.quit_action.setText(tr("Quit"))
        self.view_menu.setTitle(tr("&View"))
        self.dashboard_action.setText(tr("Savings dashboard…"))
        self.tools_menu.setTitle(tr("&Tools"))
        self.setup_action.setText(tr("Setup assistant…"))
        self.download_action.setText(tr("Download a model…"))
        self.settings_action.setText(tr("Settings…"))
        self.help_menu.setTitle(tr("&Help"))
        self.diagnostics_action.setText(tr("Copy diagnostics"))
        self.about_action.setText(tr("About Lantern"))
        self.learning.retranslate()
        self.toolbar.setWindowTitle(tr("Main"))
        self.device_label.setText(device_summary(self._profile) if self._profile is not None
                                  else tr("Checking this machine…"))
        self.apply_offline(self.offline_toggle.isChecked())

    # -- chrome -----------------------------------------------------------------------------------

    def _build_actions(self) -> None:
        menu = self.menuBar()
        # Texts are set in retranslate().
        self.file_menu = file_menu = menu.addMenu("")
        self.import_course_action = file_menu.addAction("", self.import_course)
        file_menu.addSeparator()
        self.quit_action = file_menu.addAction("", self.close)
        self.quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        # View: the savings dashboard (app/ui/dashboard.py; pyqtgraph is imported only when it opens).
        self.view_menu = menu.addMenu("")
        self.dashboard_action = self.view_menu.addAction("", self.open_dashboard)
        self.view_menu.addActions([self.learning.review_action, self.learning.progress_action])
        self.tools_menu = tools = menu.addMenu("")
        self.setup_action = tools.addAction("", self.open_wizard)
        self.download_action = tools.addAction("", self.open_wizard)
        tools.addSeparator()
        self.settings_action = tools.addAction("", self.open_settings)
        self.settings_action.setShortcut(QKeySequence.StandardKey.Preferences)
        self.help_menu = help_menu = menu.addMenu("")
        self.diagnostics_action = help_menu.addAction("", self.copy_diagnostics)
        self.about_action = help_menu.addAction("", self.about)
        # Everything that opens a socket: disabled (with the reason) while offline mode is on.
        self.network_actions: list[QAction] = [self.download_action]

    def _build_toolbar(self) -> None:
        self.toolbar = bar = self.addToolBar("")
        bar.setObjectName("mainToolbar")
        bar.setMovable(False)
        self.model_picker = ModelPicker(self)
        self.model_picker.model_chosen.connect(self.load_model)
        bar.addWidget(self.model_picker)
        bar.addAction(self.learning.review_action)
        spacer = QWidget(self)
        spacer.setSizePolicy(spacer.sizePolicy().Policy.Expanding, spacer.sizePolicy().Policy.Preferred)
        bar.addWidget(spacer)
        self.offline_toggle = OfflineToggle(self)
        self.offline_toggle.setChecked(self.ctx.settings.offline)
        self.offline_toggle.toggled.connect(self.set_offline)
        bar.addWidget(self.offline_toggle)
        bar.addAction(self.settings_action)

    def _build_status_bar(self) -> None:
        status = self.statusBar()
        self.device_label = QLabel(self)
        self.offline_label = QLabel("", self)
        self.memory_label = MemoryLabel(self)
        status.addWidget(self.device_label, 1)
        status.addPermanentWidget(self.sync_indicator)
        status.addPermanentWidget(self.offline_label)
        status.addPermanentWidget(self.memory_label)

    # -- start ------------------------------------------------------------------------------------

    def start(self) -> None:
        """After show: read courses and models, probe the machine, load the model, maybe run setup."""
        self.refresh_courses()
        self.refresh_models(load=True)
        def probed(profile: Any) -> None:
            if self._closing:
                return  # the probe outlived the window (its widgets may be gone)
            self._profile = profile
            self.device_label.setText(device_summary(profile))

        Op(self, self.ctx.services.profile).success(probed).run()
        self.learning.start()
        self.sync_bridge.attach()  # rounds run only while signed in and online: the scheduler decides
        if not self.ctx.state.setup_done or self.ctx.state.pending_pulls:
            self.open_wizard()  # first run, or a download the assistant started is waiting to resume

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self.shown.emit()

    def refresh_courses(self) -> None:
        ctx = self.ctx

        def load() -> tuple[list[Course], dict[str, dict[str, str]]]:
            courses = [ctx.services.library.load(c.id) for c in ctx.services.library.list()]
            return courses, {c.id: ctx.record.states(c.id) for c in courses}

        def show(result: tuple[list[Course], dict[str, dict[str, str]]]) -> None:
            courses, states = result
            self.courses = {c.id: c for c in courses}
            self.sidebar.set_courses(courses, states)
            wanted = (ctx.state.course_id, ctx.state.lesson_id)
            reopened = bool(wanted[0] and wanted[1] and self.sidebar.select(wanted[0], wanted[1]))
            if self.sidebar.current() is None and courses and not reopened:
                self.sidebar.select(courses[0].id, courses[0].lessons[0].id)
            self.courses_ready.emit()

        Op(self, load).success(show).run(executor=ctx.db)

    def refresh_models(self, *, load: bool = False) -> None:
        ctx = self.ctx

        def listed(models: list[InstalledModel]) -> None:
            self.all_models = models
            self.chat_models = [m for m in models if m.usable and not is_embedding_model(m, ctx.services.catalog)]
            self.model_picker.set_models(self.chat_models, loaded=ctx.host.loaded("chat"))
            if not self.chat_models:
                self.chat.set_notice(tr("No model is installed yet: run the setup assistant (Tools menu) to get "
                                        "one, or use the starter model."))
            elif load and ctx.host.loaded("chat") is None:
                try:
                    chosen = ctx.services.chat_model()
                except LookupError:
                    chosen = self.chat_models[-1]
                self.load_model(chosen.id)

        Op(self, ctx.installed_models).success(listed).run(executor=ctx.db)

    # -- model ------------------------------------------------------------------------------------

    def load_model(self, model_id: str) -> None:
        installed = next((m for m in self.chat_models if m.id == model_id), None)
        if installed is None or self.tutor.busy:
            self.model_picker.show_loaded(self.ctx.host.loaded("chat"))
            return
        self.model_picker.set_loading(True)
        self.chat.set_notice(tr("Loading {model}…").format(model=installed.display_name))
        self.statusBar().showMessage(tr("Loading {model}…").format(model=installed.display_name))

        def loaded(result: Any) -> None:
            self.model_picker.set_loading(False)
            self.model_picker.show_loaded(installed.id)
            self.chat.set_notice(result.notice)
            self.statusBar().showMessage(tr("{model} is ready").format(model=installed.display_name), 5_000)
            self.model_ready.emit(installed.id)

        def failed(exc: Exception) -> None:
            self.model_picker.set_loading(False)
            self.model_picker.show_loaded(self.ctx.host.loaded("chat"))
            self.chat.set_notice(tr("The model could not be loaded; choose another one in the toolbar."))
            self.statusBar().clearMessage()
            from app.ui.error_dialog import show_error

            show_error(self, exc)

        future = self.ctx.load_chat(installed)
        Op(self, future.result).success(loaded).failure(failed).run()

    # -- lessons ----------------------------------------------------------------------------------

    def open_lesson(self, course_id: str, lesson_id: str) -> None:
        course = self.courses.get(course_id)
        lesson = next((x for x in course.lessons if x.id == lesson_id), None) if course else None
        if course is None or lesson is None:
            return
        self.reader.show_lesson(course, lesson, done=self.sidebar.lesson_state(course_id, lesson_id) == "done")
        self.notes.show_lesson(course_id, lesson_id)
        self.learning.show_lesson(course_id, lesson_id)
        self.tutor.set_course(course_id)
        self.chat.set_course_title(course.title)
        self.ctx.state.course_id, self.ctx.state.lesson_id = course_id, lesson_id
        if self.sidebar.lesson_state(course_id, lesson_id) is None:
            self._store_progress(course_id, lesson_id, "opened")

    def open_lesson_at(self, lesson_id: str, anchor: str) -> None:
        """A citation or a lesson link: open that lesson (of the current course) at that section."""
        course_id = self.reader.current_course_id or self.tutor.course_id
        if course_id is None:
            return
        if self.reader.current_lesson_id != lesson_id:
            self.sidebar.select(course_id, lesson_id)
        if anchor:
            self.reader.scroll_to_section(anchor)

    def _mark_done(self, course_id: str, lesson_id: str, done: bool) -> None:
        self._store_progress(course_id, lesson_id, "done" if done else "opened", downgrade=not done)

    def _store_progress(self, course_id: str, lesson_id: str, state: str, *, downgrade: bool = False) -> None:
        def store() -> str:
            return self.ctx.record.mark(course_id, lesson_id, state, downgrade=downgrade)

        Op(self, store).success(lambda stored: self.sidebar.set_lesson_state(course_id, lesson_id, stored)).run(
            executor=self.ctx.db)

    def import_course(self) -> None:
        path = QFileDialog.getExistingDirectory(self, tr("Choose a course folder (or cancel to pick a .zip pack)"))
        if not path:
            path, _ = QFileDialog.getOpenFileName(self, tr("Choose a course pack"), "", tr("Course packs (*.zip)"))
        if not path:
            return
        self.import_course_from(Path(path))

    def import_course_from(self, path: Path) -> None:
        def done(outcome: Any) -> None:
            result = outcome.result
            skipped = "".join(f"\n• {name}: {why}" for name, why in result.skipped)
            self.statusBar().showMessage(tr("Imported '{title}'").format(title=result.course.title), 8_000)
            if skipped:
                QMessageBox.information(self, tr("Lantern"), tr("Some files were not imported:") + skipped)
            self.refresh_courses()

        # Indexed when the first question needs it (TutorController), with its own progress and Stop.
        (Op(self, lambda: self.ctx.services.import_course(path, index=False)).success(done)
         .with_progress(tr("Importing the course…")).run(executor=self.ctx.db))

    # -- offline, settings, setup -----------------------------------------------------------------

    def set_offline(self, offline: bool) -> None:
        try:
            self.ctx.set_offline(offline)
        except Exception as exc:  # the settings file could not be written: keep the old state visible
            from app.ui.error_dialog import show_error

            self.offline_toggle.blockSignals(True)
            self.offline_toggle.setChecked(not offline)
            self.offline_toggle.blockSignals(False)
            show_error(self, exc)

    def apply_offline(self, offline: bool) -> None:
        reason = tr("Offline mode is on: downloads and every other network action are off. Turn it off in the "
                    "toolbar to use them.")
        for action in self.network_actions:
            action.setEnabled(not offline)
            action.setToolTip(reason if offline else "")
            action.setStatusTip(reason if offline else "")
        self.offline_label.setText(tr("Offline: nothing leaves this computer") if offline else "")
        if self.offline_toggle.isChecked() != offline:
            self.offline_toggle.blockSignals(True)
            self.offline_toggle.setChecked(offline)
            self.offline_toggle.blockSignals(False)
        if self.wizard is not None:
            self.wizard.set_offline(offline)

    def _settings_changed(self, settings: LanternSettings) -> None:
        self.apply_offline(settings.offline)
        self.sync_bridge.settings_changed(settings)  # offline mode on or off: the scheduler looks again
        app = QApplication.instance()
        if isinstance(app, QApplication):
            from app.ui.i18n import install_language
            from app.ui.theme import apply_appearance, is_dark

            apply_appearance(app, theme=settings.theme, font_size=settings.font_size)
            install_language(app, settings.ui_language)
            dark = is_dark(app)
            self.reader.set_dark(dark)
            self.chat.dark = dark

    def open_settings(self, page: str | None = None) -> None:
        """The settings dialog; `page="account"` opens it on Settings → Account."""
        from app.ui.account_page import AccountPage
        from app.ui.settings_dialog import SettingsDialog

        embedders = [m.id for m in self.all_models if is_embedding_model(m, self.ctx.services.catalog)]
        account = AccountPage(self.ctx, self.sync_bridge)
        account.resolve_requested.connect(self.sync.open_conflicts)
        dialog = SettingsDialog(self.ctx.settings, chat_models=[m.id for m in self.chat_models],
                                embedding_models=embedders, extra_pages=[(tr("Account"), account)], parent=self)
        self.settings_dialog = dialog
        self.account_page = account
        if page == "account":
            dialog.show_page(account)

        def accepted() -> None:
            old = self.ctx.settings
            new = dialog.result_settings()
            try:
                self.ctx.apply_settings(new)
            except Exception as exc:
                from app.ui.error_dialog import show_error

                show_error(self, exc)
                return
            reload_fields = ("context_length", "n_threads", "gpu_layers", "chat_model")
            if any(getattr(old, f) != getattr(new, f) for f in reload_fields):
                loaded = self.ctx.host.loaded("chat")
                if loaded:
                    self.model_picker.loaded_id = None
                    self.load_model(new.chat_model or loaded)

        dialog.accepted.connect(accepted)
        dialog.open()

    def open_dashboard(self) -> None:
        from app.ui.dashboard import open_dashboard

        self.dashboard = open_dashboard(self.ctx, self)

    def open_wizard(self) -> None:
        from app.ui.wizard import SetupWizard

        if self.wizard is not None:
            self.wizard.raise_()
            return
        wizard = SetupWizard(self.ctx, self)
        self.wizard = wizard
        wizard.chat_model_changed.connect(self._wizard_chose_model)

        def closed(_result: int) -> None:
            self.wizard = None
            wizard.deleteLater()
            if not self._closing:
                self.refresh_models(load=True)
                self.refresh_courses()

        wizard.finished.connect(closed)
        wizard.open()

    def _wizard_chose_model(self, installed: InstalledModel) -> None:
        self.all_models = [m for m in self.all_models if m.id != installed.id] + [installed]
        if installed.id not in {m.id for m in self.chat_models}:
            self.chat_models.append(installed)
            self.model_picker.set_models(self.chat_models, loaded=self.ctx.host.loaded("chat"))
        self.chat.set_notice(None)
        if self.ctx.host.loaded("chat") != installed.id and not self.tutor.busy:
            self.load_model(installed.id)

    # -- help -------------------------------------------------------------------------------------

    def copy_diagnostics(self) -> None:
        profile = self.ctx.profile.to_json() if self.ctx.profile is not None else "{}"
        text = (f"Lantern {__version__}\nloaded model: {self.ctx.host.loaded('chat')}\n"
                f"offline: {self.ctx.settings.offline}\n{profile}")
        QGuiApplication.clipboard().setText(text)
        self.statusBar().showMessage(tr("Diagnostics copied to the clipboard"), 4_000)

    def about(self) -> None:
        QMessageBox.about(self, tr("About Lantern"), tr("Lantern {version}: an offline-first AI tutor. Models and "
                                                        "course search run on this computer.").format(
                                                            version=__version__))

    # -- quit -------------------------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self, timeout_s: float = 10.0) -> None:
        """Stop what runs (generation at the next token, downloads at a checkpoint), then close models."""
        if self._closing:
            return
        self._closing = True
        Op.cancel_all()
        self.tutor.shutdown(timeout_s)
        if self.wizard is not None:
            self.wizard.close()
        self.sync_bridge.stop(timeout_s)  # the container's close would stop it too; no view after this
        self.ctx.shutdown(timeout=timeout_s)
