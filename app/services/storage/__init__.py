"""Storage in the app database (one SQLite file, SQLAlchemy 2.x): see database.py for how it opens."""

from __future__ import annotations

from app.services.storage.database import (
    SCHEMA_VERSION,
    Base,
    DatabaseCorrupt,
    DatabaseTooNew,
    DatabaseUnavailable,
    open_database,
)
from app.services.storage.models_registry import ModelRegistry

__all__ = [
    "SCHEMA_VERSION",
    "Base",
    "DatabaseCorrupt",
    "DatabaseTooNew",
    "DatabaseUnavailable",
    "ModelRegistry",
    "open_database",
]
