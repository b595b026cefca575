"""The GUI's thin adapter over the shared service container: the workers, settings listeners and the
window's own state. Every use case lives in `AppServices` (the CLI calls the same ones).

Threading (DESIGN.md): the loaded chat model lives on `ModelHost`'s single chat worker; the
database, the course indexes and the embedding model (queries are embedded right before the index
lookup, so they share a thread) live on one `db` worker; downloads run on the download manager's
own threads. Widgets only ever see results handed back by the op helper. A service that a settings
change drops is closed on the db worker, after whatever job still uses it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from app.core.installed import InstalledModel
from app.core.profile import DeviceProfile
from app.core.retrieval import CoveragePolicy, RetrievalQuery, SearchMode, SearchResult
from app.core.settings import LanternSettings
from app.services.app_services import AppServices
from app.services.app_state import AppState
from app.services.downloads.transfer import TransferTuning
from app.services.knowledge.search import CourseSearcher
from app.services.knowledge.tutor_session import TutorSession
from app.services.paths import DataPaths
from app.services.settings_store import save_settings

log = logging.getLogger(__name__)


class WorkerBoundSearcher:
    """A core `Searcher` whose every call runs on the database worker, so a tutor turn can run on any
    thread while the index and the embedder stay on theirs."""

    def __init__(self, searcher: CourseSearcher, worker: ThreadPoolExecutor) -> None:
        self._searcher, self._worker = searcher, worker

    def search(self, query: RetrievalQuery | str, *, k: int = 5, mode: SearchMode = "hybrid",
               policy: CoveragePolicy | None = None) -> SearchResult:
        return self._worker.submit(self._searcher.search, query, k=k, mode=mode, policy=policy).result()

    def close(self) -> None:
        self._worker.submit(self._searcher.close)


class AppContext:
    def __init__(self, settings: LanternSettings, paths: DataPaths, *, endpoint: str | None = None,
                 tuning: TransferTuning | None = None) -> None:
        self.db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lantern-db")
        self.services = AppServices(settings, paths, endpoint=endpoint, tuning=tuning or TransferTuning(),
                                    defer_close=self.db.submit)
        # Built now and kept: a late op result after shutdown may still ask what is loaded (nothing).
        self._host = self.services.host
        self.state = AppState.load(self.state_dir)
        self._settings_listeners: list[Callable[[LanternSettings], None]] = []
        self.closed = False

    # -- what the widgets read ----------------------------------------------------------------------

    @property
    def settings(self) -> LanternSettings:
        return self.services.settings

    @property
    def paths(self) -> DataPaths:
        return self.services.paths

    @property
    def host(self) -> Any:
        return self._host

    @property
    def profile(self) -> DeviceProfile | None:
        """The device profile once probed (None before); `services.profile()` probes, off the GUI thread."""
        return self.services.cached_profile

    @property
    def state_dir(self) -> Path:
        return self.services.paths.config_file.parent

    # -- settings and state ------------------------------------------------------------------------

    def on_settings_changed(self, listener: Callable[[LanternSettings], None]) -> None:
        self._settings_listeners.append(listener)

    def apply_settings(self, settings: LanternSettings) -> set[str]:
        """Save, hand the new settings to the container (which rebuilds what reads a changed field), then
        tell the listeners. Turning offline mode on pauses running downloads (they resume from their
        checkpoint later); the network gate refuses new connections from this moment."""
        save_settings(settings, self.paths.config_file)
        if settings.offline and "manager" in self.services.built():
            for job in self.services.manager.jobs():
                if job.state in ("queued", "running"):
                    job.pause()
        rebuilt = self.services.apply_settings(settings)
        for listener in list(self._settings_listeners):
            listener(settings)
        return rebuilt

    def set_offline(self, offline: bool) -> None:
        self.apply_settings(self.settings.model_copy(update={"offline": offline}))

    def save_state(self) -> None:
        self.state.save(self.state_dir)

    # -- database worker ---------------------------------------------------------------------------

    @property
    def record(self) -> Any:
        """The learning record (progress, notes, bookmarks); call only on the db worker."""
        return self.services.record

    def installed_models(self) -> list[InstalledModel]:
        """Call on the db worker."""
        models: list[InstalledModel] = self.services.registry.list()
        return models

    # -- the chat model ----------------------------------------------------------------------------

    def load_chat(self, installed: InstalledModel) -> Future[Any]:
        """Plan and load `installed` on the chat worker (the old model is closed first)."""
        return self.services.load_chat(installed)

    def tutor(self, course_id: str, *, answer_tokens: int = 512) -> TutorSession:
        """A tutoring session over `course_id` answered by the model host; call on the db worker (it opens
        the index). The host is the engine, so a model switched later is the one that answers and is named.
        Questions are routed (app.services.inference.router): the host first, the tier's cloud roles behind it
        as the consent, offline and budget settings allow."""
        searcher = WorkerBoundSearcher(self.services.searcher(course_id), self.db)
        host = self.services.host
        return self.services.tutor(course_id, engine=host, answer_tokens=answer_tokens, searcher=searcher,
                                   router=self.services.chat_router(host))

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
        services = self.services
        if "manager" in services.built():
            services.manager.shutdown()  # pauses and joins the download threads
        if "host" in services.built():
            services.host.close(timeout=timeout)
        # The rest (registry, indexes, embedder) belong to the db worker: close them there.
        done = self.db.submit(services.close)
        try:
            done.result(timeout=timeout)
        except Exception:
            log.exception("closing the services failed or timed out")
        self.db.shutdown(wait=False)
