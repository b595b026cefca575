"""One tr() for every user-visible string, so the UI can be translated (Vietnamese first).

Qt's own .qm catalogs need `lrelease`, which we do not ship, so translations live in plain JSON
(`resources/i18n/<code>.json`, English source text -> translation) and `CatalogTranslator` serves them
to Qt's normal translation machinery: `tr()` stays a plain `QCoreApplication.translate` call.
The same catalog backs core's `_()` (app/core/i18n.py): `install_language` here switches both, so a
LanternError message built in a service and a button label always speak the same language.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping

from PySide6.QtCore import QCoreApplication, QEvent, QLocale, QTranslator

from app.core import i18n as core_i18n
from app.services import i18n_setup
from app.services.i18n_setup import SHIPPED_LANGUAGES, catalog_path, load_catalog

__all__ = ["CONTEXT", "SHIPPED_LANGUAGES", "CatalogTranslator", "catalog_path", "install_language",
           "load_catalog", "resolve_language", "tr"]

CONTEXT = "Lantern"
# Qt's standard buttons ("Close", "OK", "Cancel") ask this context; our catalog answers for it too.
_QT_CONTEXTS = frozenset({CONTEXT, "QPlatformTheme"})

log = logging.getLogger(__name__)

_installed: CatalogTranslator | None = None  # kept referenced: Qt does not own installed translators


def tr(text: str) -> str:
    return QCoreApplication.translate("Lantern", text)


class CatalogTranslator(QTranslator):
    """A QTranslator backed by a dict.

    An unknown text returns None, which PySide passes to Qt as a null QString: Qt then tries the next
    translator and finally shows the English source. An empty "" would not do: Qt only skips a null
    result, so "" would blank the text.
    """

    def __init__(self, code: str, catalog: Mapping[str, str], parent: QCoreApplication | None = None) -> None:
        super().__init__(parent)
        self.code = code
        self._catalog = catalog

    def translate(self, context: str, source: str, disambiguation: str | None = None, n: int = -1) -> str | None:
        if context not in _QT_CONTEXTS:
            return None
        return self._catalog.get(source) or None

    def isEmpty(self) -> bool:
        return not self._catalog

    def language(self) -> str:
        return self.code


def resolve_language(code: str, ui_languages: Iterable[str] | None = None) -> str:
    """The language to show for a setting: "system" picks the OS's first language we ship, else English.

    Qt knows the OS's language list on every platform (Windows and macOS have no LANG), so the GUI
    asks QLocale; the rule itself is the services one the CLI uses.
    """
    languages = QLocale.system().uiLanguages() if ui_languages is None else ui_languages
    return i18n_setup.resolve_language(code, languages)


def install_language(app: QCoreApplication, code: str) -> str:
    """Install the language for `code` ("system", "en" or "vi") for tr() and `_()`; return it.

    Qt sends a LanguageChange event to every widget (a no-op switch sends none); widgets built after
    this call come up translated.
    """
    global _installed
    wanted = i18n_setup.install_language(resolve_language(code))  # core `_()` first
    if _installed is not None:
        if _installed.code == wanted:
            return wanted
        app.removeTranslator(_installed)
        _installed = None
    if wanted == core_i18n.SOURCE_LANGUAGE:
        return wanted
    translator = CatalogTranslator(wanted, core_i18n.active_catalog())
    if not app.installTranslator(translator):
        core_i18n.reset()
        return core_i18n.SOURCE_LANGUAGE
    _installed = translator
    return wanted


class Retranslatable:
    """Mixin for a widget with translated texts (put it before the Qt class: `class X(Retranslatable,
    QWidget)`). Qt sends LanguageChange to every widget when `install_language` swaps the translator;
    the widget's `retranslate()` then sets its texts again, so no window needs a restart."""

    retranslate: Callable[[], None]  # each widget's own: sets its translated texts again

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.LanguageChange:
            self.retranslate()
        super().changeEvent(event)  # type: ignore[misc]  # the Qt widget class that follows in the MRO
