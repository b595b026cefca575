"""Load a translation catalog and make it the active language for `_()` (core) and `tr()` (Qt).

One JSON catalog per language, `resources/i18n/<code>.json` (English source text -> translation),
serves both: the UI's CatalogTranslator reads the same dict through `load_catalog`.
"""

from __future__ import annotations

import json
import locale
import logging
import os
from collections.abc import Iterable
from pathlib import Path

from app.core import i18n
from app.services.resources import resource_path

# Languages with a catalog; English is the source text and needs none.
SHIPPED_LANGUAGES = ("vi",)
SOURCE_LANGUAGE = i18n.SOURCE_LANGUAGE

log = logging.getLogger(__name__)


def catalog_path(code: str) -> Path:
    return resource_path("i18n", f"{code}.json")


def load_catalog(code: str) -> dict[str, str]:
    """The catalog for `code`; raises OSError / ValueError for a missing or broken file."""
    with catalog_path(code).open(encoding="utf-8") as fh:
        data = json.load(fh)
    if not isinstance(data, dict):
        raise ValueError(f"{catalog_path(code)} is not a JSON object")
    return {str(k): v for k, v in data.items() if isinstance(v, str) and v}


def os_languages() -> list[str]:
    """The OS's preferred languages, best first (POSIX env, then the C library's locale)."""
    tags: list[str] = []
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var, "")
        tags.extend(part for part in value.split(":") if part)
    try:
        current = locale.getlocale()[0]
    except ValueError:
        current = None
    if current:
        tags.append(current)
    return tags


def _base(tag: str) -> str:
    return tag.split(".")[0].split("@")[0].replace("_", "-").split("-")[0].lower()


def resolve_language(setting: str, system_languages: Iterable[str] | None = None) -> str:
    """The language to show for a setting: "system" picks the OS's first shipped language, else "en"."""
    if setting != "system":
        return setting if setting in SHIPPED_LANGUAGES else SOURCE_LANGUAGE
    tags = os_languages() if system_languages is None else system_languages
    for tag in tags:
        base = _base(tag)
        if base in ("c", "posix", ""):
            continue
        if base == SOURCE_LANGUAGE:
            return SOURCE_LANGUAGE
        if base in SHIPPED_LANGUAGES:
            return base
    return SOURCE_LANGUAGE



def install_language(setting: str, system_languages: Iterable[str] | None = None) -> str:
    """Make the language for `setting` ("system", "en", "vi") active for `_()`; returns it.

    A missing or broken catalog is logged and English is used: it should not stop the app.
    """
    wanted = resolve_language(setting, system_languages)
    if wanted == SOURCE_LANGUAGE:
        i18n.reset()
        return SOURCE_LANGUAGE
    try:
        catalog = load_catalog(wanted)
    except (OSError, ValueError) as exc:
        log.warning("No usable %s translation at %s: %s", wanted, catalog_path(wanted), exc)
        i18n.reset()
        return SOURCE_LANGUAGE
    i18n.set_catalog(wanted, catalog)
    return wanted
