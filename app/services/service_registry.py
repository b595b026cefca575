"""What the service container builds: each service's builder, the settings fields it reads and the
services it is built from. A new service (the router, the savings ledger, the sync client, the
learning services) is one entry in `SERVICES`; `AppServices.apply_settings` uses `reads` and
`needs` to rebuild exactly what a settings change touches.

Builders import their libraries inside, so `lantern doctor` pays only for what it uses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.core.catalog import Catalog
from app.core.performance import PerformanceTable
from app.services.knowledge.indexer import EmbedderIdentity

if TYPE_CHECKING:
    from app.services.app_services import AppServices


@dataclass(frozen=True)
class ServiceSpec:
    build: Callable[[AppServices], Any]
    reads: frozenset[str] = frozenset()   # settings fields (and "models_dir" moves paths too)
    needs: frozenset[str] = frozenset()   # services it is built from: rebuilt when they are
    close: Callable[[Any], None] | None = None


def _spec(build: Callable[[AppServices], Any], *, reads: Iterable[str] = (), needs: Iterable[str] = (),
          close: Callable[[Any], None] | None = None) -> ServiceSpec:
    return ServiceSpec(build, frozenset(reads), frozenset(needs), close)


def _catalog(_s: AppServices) -> Catalog:
    from app.services.catalog_store import default_catalog

    return default_catalog()


def _performance_table(_s: AppServices) -> PerformanceTable:
    from app.services.catalog_store import default_performance_table

    return default_performance_table()


def _registry(s: AppServices) -> Any:
    from app.services.storage.models_registry import ModelRegistry

    return ModelRegistry(s.paths.database_file)


def _record(s: AppServices) -> Any:
    from app.services.storage.learning_record import LearningRecord

    return LearningRecord(s.paths.database_file)


def _ledger(s: AppServices) -> Any:
    from app.services.storage.ledger import LedgerStore

    return LedgerStore(s.paths.database_file)


def _secrets(s: AppServices) -> Any:
    from app.services.secrets import SecretStore

    return SecretStore(s.paths.config_file.parent, allow_plaintext=s.settings.allow_plaintext_secrets)


def _hub(s: AppServices) -> Any:
    from app.services.downloads.hub import HubClient
    from app.services.secrets import hf_token

    return HubClient(gate=s.gate, token=hf_token(s.get("secrets")), endpoint=s.endpoint)


def _manager(s: AppServices) -> Any:
    from app.services.downloads.manager import DownloadManager
    from app.services.downloads.transfer import PARTIAL_DIR_NAME, FileTransfer

    transfer = FileTransfer(s.get("hub"), partial_dir=s.paths.models_dir / PARTIAL_DIR_NAME, tuning=s.tuning)
    return DownloadManager(transfer, max_parallel=s.settings.max_parallel_downloads)


def _acquirer(s: AppServices) -> Any:
    from app.services.models.acquire import ModelAcquirer

    return ModelAcquirer(hub=s.get("hub"), manager=s.get("manager"), registry=s.get("registry"),
                         catalog=s.get("catalog"), models_dir=s.paths.models_dir, table=s.get("performance_table"),
                         context_length=s.settings.context_length)


def _library(s: AppServices) -> Any:
    from app.services.knowledge.course_library import CourseLibrary, builtin_course_dirs

    return CourseLibrary(s.paths.data_dir / "courses", builtin_dirs=builtin_course_dirs())


def _embedder(s: AppServices) -> tuple[Any, EmbedderIdentity]:
    from app.services.knowledge.models import open_embedder

    return open_embedder(s.embedding_model(), n_threads=s.settings.n_threads)


def _host(_s: AppServices) -> Any:
    from app.services.inference.host import ModelHost

    return ModelHost()


def _sync(s: AppServices) -> Any:
    from app.services.sync.client import SyncClient

    return SyncClient(s.get("record"), gate=s.gate, secrets=s.get("secrets"))


def _sync_scheduler(s: AppServices) -> Any:
    from app.services.sync.scheduler import SyncScheduler

    return SyncScheduler(s.get("sync"), offline=lambda: s.gate.offline)  # the GUI starts it


def _close(obj: Any) -> None:
    obj.close()


SERVICES: dict[str, ServiceSpec] = {
    "catalog": _spec(_catalog),
    "performance_table": _spec(_performance_table),
    "registry": _spec(_registry, close=_close),  # one per database file, shared by every user of it
    "record": _spec(_record, close=_close),  # the learning record: progress, notes, bookmarks, the conversation
    "ledger": _spec(_ledger, close=_close),
    "secrets": _spec(_secrets, reads=["allow_plaintext_secrets"]),
    "hub": _spec(_hub, needs=["secrets"]),
    "manager": _spec(_manager, reads=["max_parallel_downloads", "models_dir"], needs=["hub"],
                     close=lambda m: m.shutdown()),
    "acquirer": _spec(_acquirer, reads=["context_length", "models_dir"],
                      needs=["hub", "manager", "registry", "catalog", "performance_table"]),
    "library": _spec(_library),
    "embedder": _spec(_embedder, reads=["embedding_model", "n_threads"], needs=["registry", "catalog"],
                      close=lambda pair: pair[0].close()),
    "host": _spec(_host, close=_close),
    "sync": _spec(_sync, needs=["record", "secrets"]),
    "sync_scheduler": _spec(_sync_scheduler, needs=["sync"], close=lambda sched: sched.stop()),
}
