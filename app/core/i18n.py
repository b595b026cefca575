"""The gettext-style marker for user-visible text built below the UI (errors, hints, fixed replies).

Core and services cannot use Qt's `tr()`, so they mark text with `_()`: it returns the active
language's translation of its English source text, or the source when there is none. The catalog is
the same one the UI's `tr()` reads (`resources/i18n/<code>.json`, English source -> translation);
`app.services.i18n_setup.install_language` loads it and calls `set_catalog` (core does no I/O).

Habits (tests/test_i18n_catalog.py checks them):
- the argument is a plain string literal, never an f-string: placeholders are str.format named
  fields filled *after* translation: `_("The course '{id}' has no questions.").format(id=course.id)`;
- call `_()` when the text is built, not at import time: a module-level `_()` would freeze the
  language the process started in. For module-level tables mark with `N_()` and call `_()` on the
  value where it is shown;
- a module that imports `_` must not also use `_` as a throwaway variable (`for _ in ...`).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

SOURCE_LANGUAGE = "en"

# One immutable (code, catalog) pair, swapped whole: a reader on any thread sees either the old
# language or the new one, never a mix.
_active: tuple[str, Mapping[str, str]] = (SOURCE_LANGUAGE, MappingProxyType({}))


def _(text: str) -> str:
    """The translation of `text` in the active language, or `text` itself."""
    return _active[1].get(text) or text


gettext = _


def N_(text: str) -> str:
    """Mark `text` for the catalog without translating it now (module-level tables)."""
    return text


def set_catalog(code: str, catalog: Mapping[str, str]) -> None:
    """Make `code` the active language; `catalog` maps English source text to its translation.

    Empty translations are dropped so they fall back to the source instead of blanking the text.
    """
    global _active
    cleaned = {str(k): str(v) for k, v in catalog.items() if isinstance(v, str) and v}
    _active = (code, MappingProxyType(cleaned))


def reset() -> None:
    """Back to English (tests)."""
    set_catalog(SOURCE_LANGUAGE, {})


def active_language() -> str:
    return _active[0]


def active_catalog() -> Mapping[str, str]:
    """The active language's catalog (read-only); the UI's Qt translator serves the same one."""
    return _active[1]
