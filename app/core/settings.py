"""The settings schema, its defaults and its migrations.

Values come from (highest first) `LANTERN_*` environment variables, then the TOML settings file,
then the defaults below. Every field carries a description so the settings dialog and the CLI can
be generated from the model. Reading and writing the file is done by app.services.settings_store.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from app.core.errors import SettingsInvalid
from app.core.i18n import _

SETTINGS_SCHEMA_VERSION = 1

Intent = Literal["chat", "code", "multilingual"]
CloudConsent = Literal["never", "ask", "when_needed"]


class LanternSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LANTERN_", extra="ignore", validate_default=True)

    schema_version: int = Field(SETTINGS_SCHEMA_VERSION, description="Version of this settings layout")
    models_dir: Path | None = Field(
        None, description="Where model files are stored (e.g. a bigger disk). Unset: inside the data folder."
    )
    offline: bool = Field(
        False, description="Offline mode: nothing leaves this machine (no cloud model, sync or download)."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Detail of the log file"
    )
    context_length: int = Field(
        4096, ge=512, le=1_048_576, description="Context window (tokens) used to plan and load models"
    )
    intent: Intent = Field("chat", description="What the model is mostly for: chat, code or multilingual")
    n_threads: int | None = Field(
        None, ge=1, le=1024, description="CPU threads for inference. Unset: the number of physical cores."
    )
    gpu_layers: int | None = Field(
        None, ge=-1, description="Override the planned GPU layers (-1 = all, 0 = CPU only). Unset: planned."
    )
    max_parallel_downloads: int = Field(
        2, ge=1, le=8, description="How many files download at the same time; more queue until one finishes"
    )
    chat_model: str | None = Field(
        None, description="Installed model the tutor answers with. Unset: the most recently installed chat model."
    )
    embedding_model: str | None = Field(
        None, description="Installed embedding model for course search. Unset: the most recently installed one."
    )
    allow_plaintext_secrets: bool = Field(
        False, description="Where no OS keyring exists, keep tokens in a private file in the config folder (opt-in)"
    )
    theme: Literal["system", "light", "dark"] = Field(
        "system", description="Colours: follow the system, or always light or dark"
    )
    font_size: int | None = Field(
        None, ge=8, le=32, description="Text size in points for lessons and chat. Unset: the system's size"
    )
    ui_language: Literal["system", "en", "vi"] = Field("system", description="Language of the app's menus and messages")
    # -- hybrid local/cloud answers (issue 17) --
    cloud_consent: CloudConsent = Field(
        "ask", description="Send questions to a cloud model: never, ask me each time, or when needed. "
        "Offline mode always wins.")
    tier: str = Field("free", description="Which models answer, from the tiers table (free: on-device with a cheap "
                      "cloud fallback; pro: a strong cloud model by default; local: on-device only)")
    roles: dict[str, str] = Field(
        default_factory=dict, description="Per-role overrides of the tier: default, simple, code, fallback → "
        "`local:<installed id or auto>` or `cloud:<provider>/<model>`")
    cloud_providers: dict[str, str] = Field(
        default_factory=dict, description="More OpenAI-compatible providers: name → base URL (e.g. a vLLM or "
        "LM Studio server); the built-in ones are in resources/cloud/providers.toml")
    local_first_token_s: float = Field(
        3.0, gt=0, le=600, description="An on-device answer that has not started after this many seconds falls back "
        "to the cloud (when allowed)")
    local_total_s: float = Field(
        90.0, gt=0, le=3600, description="An on-device answer still running after this many seconds falls back")
    cloud_monthly_budget_usd: float | None = Field(
        None, ge=0, description="Stop using cloud models for the month once they cost this much. Unset: no limit.")
    router_threshold: float | None = Field(
        None, gt=0, lt=1, description="Cloud probability above which a question goes to the cloud, as set by "
        "`lantern router calibrate`. Unset: the shipped classifier's threshold.")
    electricity_price_kwh: float | None = Field(
        None, ge=0, description="Your electricity price per kWh, to count on-device answers' energy cost. "
        "Unset: on-device answers cost 0.")
    local_watts: float | None = Field(
        None, ge=0, le=2000, description="Power this machine draws while answering (measured), used with the "
        "electricity price")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's values arrive as init kwargs (after migration); the environment wins over them.
        return (env_settings, init_settings)


# schema_version N -> function that turns a version-N mapping into a version-(N+1) mapping.
_MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {
    # Version 0 is a file written before schema_version existed: same keys, no version.
    0: lambda data: {**data, "schema_version": 1},
}


def migrate_settings(data: dict[str, Any]) -> dict[str, Any]:
    """Bring a settings mapping read from disk up to SETTINGS_SCHEMA_VERSION."""
    version = data.get("schema_version", 0)
    if not isinstance(version, int) or version < 0:
        raise SettingsInvalid(
            _("The settings file has an invalid schema_version ({version!r}).").format(version=version),
            hint=_("Fix or delete the settings file; Lantern will write a fresh one."),
        )
    if version > SETTINGS_SCHEMA_VERSION:
        raise SettingsInvalid(
            _("The settings file was written by a newer Lantern (schema {version}, this one reads up to "
              "{settings_schema_version}).").format(version=version, settings_schema_version=SETTINGS_SCHEMA_VERSION),
            hint=_("Update Lantern, or delete the settings file to start from defaults."),
        )
    while version < SETTINGS_SCHEMA_VERSION:
        data = _MIGRATIONS[version](dict(data))
        version = data["schema_version"]
    return data
