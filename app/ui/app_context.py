"""Everything the window needs, built once at start: settings, paths, the services, and the workers.

Threading (DESIGN.md): the loaded chat model lives on `ModelHost`'s single chat worker; the
database, the course indexes and the embedding model (queries are embedded right before the index
lookup, so they share a thread) live on one `db` worker; downloads run on the download manager's
own threads. Widgets only ever see results handed back by the op helper.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from app.core.installed import InstalledModel
from app.core.profile import DeviceProfile
from app.core.settings import LanternSettings
from app.services.app_state import AppState
from app.services.downloads.transfer import TransferTuning
from app.services.inference.host import ModelHost
from app.services.knowledge.context import CourseServices
from app.services.knowledge.search import CourseSearcher, SearchResult
from app.services.knowledge.tutor_session import TutorSession
from app.services.models.context import ModelServices
from app.services.paths import DataPaths
from app.services.settings_store import save_settings
from app.services.storage.progress import ProgressStore

log = logging.getLogger(__name__)


class WorkerBoundSearcher:
    """A CourseSearcher whose every call runs on the database worker, so a tutor turn can run on any
    thread while the index and the embedder stay on theirs."""

    def __init__(self, searcher: CourseSearcher, worker: ThreadPoolExecutor) -> None:
        self._searcher, self._worker = searcher, worker

    def search(self, *args: Any, **kwargs: Any) -> SearchResult:
        return self._worker.submit(self._searcher.search, *args, **kwargs).result()

    def close(self) -> None:
        self._worker.submit(self._searcher.close)


class AppContext:
    def __init__(self, settings: LanternSettings, paths: DataPaths, *, endpoint: str | None = None,
                 tuning: TransferTuning | None = None) -> None:
        self.settings = settings
        self.paths = paths.ensure()
        self.models = ModelServices(settings, paths, endpoint=endpoint, tuning=tuning or TransferTuning())
        self.courses = CourseServices(settings, paths)
        self.host = ModelHost()
        self.db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lantern-db")
        self.state = AppState.load(self.state_dir)
        self.profile: DeviceProfile | None = None
        self._progress: ProgressStore | None = None
        self._settings_listeners: list[Callable[[LanternSettings], None]] = []
        self.closed = False

    @property
    def state_dir(self) -> Any:
        return self.paths.config_file.parent

    # -- settings and state ------------------------------------------------------------------------

    def on_settings_changed(self, listener: Callable[[LanternSettings], None]) -> None:
        self._settings_listeners.append(listener)

    def apply_settings(self, settings: LanternSettings) -> None:
        """Save, then hand the new settings to every service that reads them. Turning offline mode on
        pauses running downloads (they resume from their checkpoint later): no socket while offline."""
        save_settings(settings, self.paths.config_file)
        if settings.offline and "manager" in self.models.__dict__:
            for job in self.models.manager.jobs():
                if job.state in ("queued", "running"):
                    job.pause()
        self.settings = settings
        self.models.settings = settings
        self.courses.settings = settings
        if "hub" in self.models.__dict__:
            self.models.hub.offline = settings.offline
        for listener in list(self._settings_listeners):
            listener(settings)

    def set_offline(self, offline: bool) -> None:
        self.apply_settings(self.settings.model_copy(update={"offline": offline}))

    def save_state(self) -> None:
        self.state.save(self.state_dir)

    # -- database worker ---------------------------------------------------------------------------

    @property
    def progress(self) -> ProgressStore:
        """Lesson progress; call only on the db worker."""
        if self._progress is None:
            self._progress = ProgressStore(self.paths.database_file)
        return self._progress

    def installed_models(self) -> list[InstalledModel]:
        return self.models.registry.list()

    # -- the chat model ----------------------------------------------------------------------------

    def load_chat(self, installed: InstalledModel) -> Future[Any]:
        """Plan and load `installed` on the chat worker (the old model is closed first)."""
        from app.services.catalog_store import default_performance_table
        from app.services.hardware.profiler import capture_profile
        from app.services.inference.backends import open_chat_model

        def loader() -> Any:
            profile = self.profile or capture_profile(self.paths.models_dir)
            return open_chat_model(installed, profile=profile, settings=self.settings,
                                   table=default_performance_table(), catalog=self.courses.catalog)

        return self.host.load("chat", loader, label=installed.id)

    def tutor(self, course_id: str, *, context_length: int, answer_tokens: int = 512) -> TutorSession:
        """A tutoring session over `course_id`; call on the db worker (it opens the index)."""
        installed = self.courses.library.get(course_id)
        searcher = WorkerBoundSearcher(self.courses.searcher(course_id), self.db)
        model_id = self.host.loaded("chat") or ""
        return TutorSession(course_title=installed.title, searcher=searcher,  # type: ignore[arg-type]
                            chat=self.host, model_id=model_id,  # type: ignore[arg-type]
                            context_length=context_length, answer_tokens=answer_tokens)

    # -- quit --------------------------------------------------------------------------------------

    def shutdown(self, *, timeout: float = 10.0) -> None:
        """Stop downloads (their checkpoints stay, so they resume next time), close models, stop workers."""
        if self.closed:
            return
        self.closed = True
        try:
            self.save_state()
        except OSError:
            log.exception("could not save the app state")
        self.models.close()  # pauses and joins the download threads
        self.host.close(timeout=timeout)

        def close_db_side() -> None:
            self.courses.close()
            if self._progress is not None:
                self._progress.close()

        done = self.db.submit(close_db_side)
        try:
            done.result(timeout=timeout)
        except Exception:
            log.exception("closing the course services failed or timed out")
        self.db.shutdown(wait=False)
