"""The installed-model registry: which models are on this machine (table `installed_models`).

A database only: it records model files and never reads, moves or deletes them (the commands
that call it do). Every method runs in its own short session, so one ModelRegistry can be shared
between threads, and several (in several processes) can share the database file. Methods that
change an entry take its exact id; resolve what the user typed with `get()` first.
"""

from __future__ import annotations

import builtins
import dataclasses
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import Boolean, Float, Index, Integer, String, exc, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from app.core.errors import ModelAlreadyInstalled, ModelNotInstalled
from app.core.i18n import _
from app.core.installed import (
    InstalledModel,
    ModelStatus,
    resolve_model_ref,
    unique_model_id,
)
from app.services.storage.database import Base, DatabaseStore, UTCDateTime


class InstalledModelRow(Base):
    """Mirrors InstalledModel; the schema itself is created by database.MIGRATIONS."""

    __tablename__ = "installed_models"
    __table_args__ = (
        Index("ix_installed_models_id", "id", unique=True),
        Index("ix_installed_models_sha256", "sha256"),
    )

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)  # the user-facing id may be renamed one day
    id: Mapped[str] = mapped_column(String)
    display_name: Mapped[str] = mapped_column(String)
    source: Mapped[str] = mapped_column(String)
    source_ref: Mapped[str] = mapped_column(String)
    path: Mapped[str] = mapped_column(String)
    managed: Mapped[bool] = mapped_column(Boolean)
    format: Mapped[str] = mapped_column(String)
    backend: Mapped[str] = mapped_column(String)
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str | None] = mapped_column(String)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String)
    catalog_id: Mapped[str | None] = mapped_column(String)
    quant: Mapped[str | None] = mapped_column(String)
    architecture: Mapped[str | None] = mapped_column(String)
    context_length: Mapped[int | None] = mapped_column(Integer)
    has_chat_template: Mapped[bool | None] = mapped_column(Boolean)
    measured_tps: Mapped[float | None] = mapped_column(Float)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)


_FIELDS = tuple(f.name for f in dataclasses.fields(InstalledModel))


def _to_model(row: InstalledModelRow) -> InstalledModel:
    return InstalledModel(**{name: getattr(row, name) for name in _FIELDS})


def _to_row(model: InstalledModel) -> InstalledModelRow:
    return InstalledModelRow(**{name: getattr(model, name) for name in _FIELDS})


def _not_installed(model_id: str) -> ModelNotInstalled:
    return ModelNotInstalled(
        _("No installed model is called '{model_id}'.").format(model_id=model_id),
        hint=_("See `lantern models list`."),
        debug_context={"model_id": model_id},
    )


class ModelRegistry(DatabaseStore):
    """The installed models recorded in the app database at `database_file`."""

    def __enter__(self) -> ModelRegistry:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc_value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    @staticmethod
    def _row(session: Session, model_id: str) -> InstalledModelRow:
        row = session.scalars(select(InstalledModelRow).where(InstalledModelRow.id == model_id)).one_or_none()
        if row is None:
            raise _not_installed(model_id)
        return row

    # --- reading --------------------------------------------------------------------------------

    def get(self, model_id: str) -> InstalledModel:
        """The model `model_id` names: exact id, else a unique id prefix or catalog id.

        Raises ModelNotInstalled, or AmbiguousModelRef listing the candidates.
        """
        with self._session() as session:
            row = session.scalars(select(InstalledModelRow).where(InstalledModelRow.id == model_id)).one_or_none()
            if row is not None:
                return _to_model(row)
            models = [_to_model(r) for r in session.scalars(select(InstalledModelRow))]
        return resolve_model_ref(model_id, models)

    def list(self, *, usable_only: bool = False) -> builtins.list[InstalledModel]:
        """Every entry sorted by id; with usable_only, only those verified and found intact."""
        query = select(InstalledModelRow).order_by(InstalledModelRow.id)
        if usable_only:
            query = query.where(InstalledModelRow.status == "ok", InstalledModelRow.verified_at.is_not(None))
        with self._session() as session:
            return [_to_model(row) for row in session.scalars(query)]

    def ids(self) -> builtins.list[str]:
        with self._session() as session:
            return sorted(session.scalars(select(InstalledModelRow.id)))

    def new_id(self, base: str) -> str:
        """An id made from `base` that no entry has yet (see unique_model_id)."""
        return unique_model_id(base, self.ids())

    def find_by_sha256(self, sha256: str) -> InstalledModel | None:
        """An entry whose file has this sha256 (the first by id if the same file is registered twice)."""
        query = (select(InstalledModelRow).where(InstalledModelRow.sha256 == sha256.lower())
                 .order_by(InstalledModelRow.id).limit(1))
        with self._session() as session:
            row = session.scalars(query).one_or_none()
            return None if row is None else _to_model(row)

    def find_by_path(self, path: str | Path) -> InstalledModel | None:
        """The entry recorded at `path`, compared as paths ("a/b/" == "a/b"; case-insensitive on Windows)."""
        wanted = Path(path)
        return next((m for m in self.list() if Path(m.path) == wanted), None)

    # --- writing --------------------------------------------------------------------------------

    def add(self, model: InstalledModel) -> InstalledModel:
        """Record a new entry; ModelAlreadyInstalled if its id is taken (see new_id)."""
        already = ModelAlreadyInstalled(
            _("An installed model is already called '{id}'.").format(id=model.id),
            hint=_("Pick another name, or remove the old one first with `lantern models rm {id}`.").format(
                   id=model.id),
            debug_context={"model_id": model.id},
        )
        with self._session(write=True) as session:  # BEGIN IMMEDIATE: nobody adds between check and insert
            existing = session.scalars(select(InstalledModelRow.id).where(InstalledModelRow.id == model.id))
            if existing.first() is not None:
                raise already
            session.add(_to_row(model))
            try:
                session.flush()
            except exc.IntegrityError as err:  # belt and braces: the unique index
                raise already from err
        return model

    def remove(self, model_id: str) -> InstalledModel:
        """Forget the entry with this exact id and return it (its files are the caller's business)."""
        with self._session(write=True) as session:
            row = self._row(session, model_id)
            model = _to_model(row)
            session.delete(row)
        return model

    def _update(self, model_id: str, **changes: Any) -> InstalledModel:
        with self._session(write=True) as session:
            row = self._row(session, model_id)
            updated = dataclasses.replace(_to_model(row), **changes)  # validates like a new entry
            for name in changes:
                setattr(row, name, getattr(updated, name))
        return updated

    def mark_verified(self, model_id: str, *, at: datetime, size_bytes: int, sha256: str | None) -> InstalledModel:
        """The file was checked at `at` (UTC) and matched: record what was found and set status ok."""
        return self._update(model_id, verified_at=at, size_bytes=size_bytes, sha256=sha256, status="ok")

    def mark_status(self, model_id: str, status: ModelStatus) -> InstalledModel:
        return self._update(model_id, status=status)

    def set_measured_speed(self, model_id: str, tps: float) -> InstalledModel:
        """Decode speed in tokens/s measured on this machine (`lantern bench`)."""
        return self._update(model_id, measured_tps=float(tps))

    def measured_speeds(self) -> dict[str, float]:
        """Generation speed measured by `lantern bench`, by catalog variant key ("id:QUANT"), for the
        recommendation to use instead of its estimate. Several installs of one variant: the latest."""
        speeds: dict[str, float] = {}
        for model in sorted(self.list(), key=lambda m: m.added_at):
            if model.measured_tps and model.catalog_id and model.quant:
                speeds[f"{model.catalog_id}:{model.quant}"] = model.measured_tps
        return speeds


def measured_speeds(database_file: Path) -> dict[str, float]:
    """ModelRegistry.measured_speeds without creating a database where none exists yet."""
    if not database_file.exists():
        return {}
    with ModelRegistry(database_file) as registry:
        return registry.measured_speeds()
