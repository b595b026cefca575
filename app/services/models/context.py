"""Builds the model services from settings and paths, once, for the CLI and the GUI."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from app.core.settings import LanternSettings
from app.services.catalog_store import default_catalog, default_performance_table
from app.services.downloads.hub import HubClient
from app.services.downloads.manager import DownloadManager
from app.services.downloads.transfer import PARTIAL_DIR_NAME, FileTransfer, TransferTuning
from app.services.models.acquire import ModelAcquirer
from app.services.paths import DataPaths
from app.services.storage.models_registry import ModelRegistry


@dataclass
class ModelServices:
    settings: LanternSettings
    paths: DataPaths
    endpoint: str | None = None          # tests point this at a local server; else HF_ENDPOINT / the hub
    tuning: TransferTuning = field(default_factory=TransferTuning)

    @cached_property
    def registry(self) -> ModelRegistry:
        return ModelRegistry(self.paths.database_file)

    @cached_property
    def hub(self) -> HubClient:
        from app.services.secrets import SecretStore, hf_token

        store = SecretStore(self.paths.config_file.parent, allow_plaintext=self.settings.allow_plaintext_secrets)
        return HubClient(offline=self.settings.offline, token=hf_token(store), endpoint=self.endpoint)

    @property
    def partial_dir(self) -> Path:
        return self.paths.models_dir / PARTIAL_DIR_NAME

    @cached_property
    def manager(self) -> DownloadManager:
        transfer = FileTransfer(self.hub, partial_dir=self.partial_dir, tuning=self.tuning)
        return DownloadManager(transfer, max_parallel=self.settings.max_parallel_downloads)

    @cached_property
    def acquirer(self) -> ModelAcquirer:
        return ModelAcquirer(hub=self.hub, manager=self.manager, registry=self.registry, catalog=default_catalog(),
                             models_dir=self.paths.models_dir, table=default_performance_table(),
                             context_length=self.settings.context_length)

    def close(self) -> None:
        if "manager" in self.__dict__:
            self.manager.shutdown()
