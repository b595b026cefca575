"""Read the data files under resources/: the model catalog and the hardware performance table."""

from __future__ import annotations

import functools
import tomllib
from pathlib import Path
from typing import Any

from app.core.catalog import Catalog, parse_catalog
from app.core.errors import CatalogInvalid
from app.core.i18n import _
from app.core.performance import PerformanceTable, parse_performance_table
from app.services.resources import resource_path

CATALOG_FILE = ("catalog", "models.toml")
PERFORMANCE_FILE = ("hardware", "performance.toml")


def _read_toml(path: Path, what: str) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise CatalogInvalid(_("The {what} file is missing ({path}).").format(
                               what=what, path=path), hint=_("Reinstall Lantern.")) from exc
    except tomllib.TOMLDecodeError as exc:
        raise CatalogInvalid(_("The {what} file {path} is not valid TOML: {exc}.").format(
                               what=what, path=path, exc=exc),
                             hint=_("Fix the file or reinstall Lantern.")) from exc


read_toml = _read_toml  # the other resource tables (tiers, providers, prices) read the same way


def load_catalog(path: Path | None = None) -> Catalog:
    target = path or resource_path(*CATALOG_FILE)
    return parse_catalog(_read_toml(target, _("model catalog")),
                         origin=_("The model catalog ({name})").format(name=target.name))


def load_performance_table(path: Path | None = None) -> PerformanceTable:
    return parse_performance_table(_read_toml(path or resource_path(*PERFORMANCE_FILE), _("hardware table")))


@functools.cache
def default_catalog() -> Catalog:
    return load_catalog()


@functools.cache
def default_performance_table() -> PerformanceTable:
    return load_performance_table()
