"""One tr() for every user-visible string, so the UI can be translated (Vietnamese first).

Qt's own .qm catalogs need `lrelease`, which we do not ship, so translations live in plain JSON
(`resources/i18n/<code>.json`, English source text -> translation) and `CatalogTranslator` serves them
to Qt's normal translation machinery: `tr()` stays a plain `QCoreApplication.translate` call.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QLocale, QTranslator

from app.services.resources import resource_path

CONTEXT = "Lantern"
# Languages with a catalog; English is the source text and needs none.
SHIPPED_LANGUAGES = ("vi",)
# Qt's standard buttons ("Close", "OK", "Cancel") ask this context; our catalog answers for it too.
_QT_CONTEXTS = frozenset({CONTEXT, "QPlatformTheme"})

log = logging.getLogger(__name__)

_installed: CatalogTranslator | None = None  # kept referenced: Qt does not own installed translators


def tr(text: str) -> str:
    return QCoreApplication.translate("Lantern", text)


def catalog_path(code: str) -> Path:
    return resource_path("i18n", f"{code}.json")


def load_catalog(code: str) -> dict[str, str]:
    with catalog_path(code).open(encoding="utf-8") as fh:
        data = json.load(fh)
    return {str(k): str(v) for k, v in data.items() if isinstance(v, str) and v}


class CatalogTranslator(QTranslator):
    """A QTranslator backed by a dict.

    An unknown text returns None, which PySide passes to Qt as a null QString: Qt then tries the next
    translator and finally shows the English source. An empty "" would not do: Qt only skips a null
    result, so "" would blank the text.
    """

    def __init__(self, code: str, catalog: dict[str, str], parent: QCoreApplication | None = None) -> None:
        super().__init__(parent)
        self.code = code
        self._catalog = catalog

    def translate(self, context: str, source: str, disambiguation: str | None = None, n: int = -1) -> str | None:
        if context not in _QT_CONTEXTS:
            return None
        return self._catalog.get(source)

    def isEmpty(self) -> bool:
        return not self._catalog

    def language(self) -> str:
        return self.code


def resolve_language(code: str, ui_languages: Iterable[str] | None = None) -> str:
    """The language to show for a setting: "system" picks the OS's first language we ship, else English."""
    if code != "system":
        return code if code in SHIPPED_LANGUAGES else "en"
    languages = QLocale.system().uiLanguages() if ui_languages is None else ui_languages
    for tag in languages:
        base = tag.replace("_", "-").split("-")[0].lower()
        if base == "en":
            return "en"
        if base in SHIPPED_LANGUAGES:
            return base
    return "en"


def install_language(app: QCoreApplication, code: str) -> str:
    """Install the translator for `code` ("system", "en" or "vi") and return the language in effect.

    Qt sends a LanguageChange event to every widget; widgets built after this call come up translated.
    """
    global _installed
    wanted = resolve_language(code)
    if _installed is not None:
        if _installed.code == wanted:
            return wanted
        app.removeTranslator(_installed)
        _installed = None
    if wanted == "en":
        return "en"
    try:
        catalog = load_catalog(wanted)
    except (OSError, ValueError) as exc:  # a broken install should not stop the app: show English
        log.warning("No usable %s translation at %s: %s", wanted, catalog_path(wanted), exc)
        return "en"
    translator = CatalogTranslator(wanted, catalog)
    if not app.installTranslator(translator):
        return "en"
    _installed = translator
    return wanted
