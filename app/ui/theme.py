"""Light/dark colours and text size for the whole application.

Qt 6.8+ can ask the platform for a colour scheme (`QStyleHints.setColorScheme`). Where the platform or
style ignores the request (offscreen, older desktops, styles without a dark palette) we switch to the
Fusion style with an explicit palette, so "dark" always means dark. What the app looked like before the
first call is captured, so "system" and `font_size=None` put it back exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication

THEMES = ("system", "light", "dark")
_SCHEMES = {"system": Qt.ColorScheme.Unknown, "light": Qt.ColorScheme.Light, "dark": Qt.ColorScheme.Dark}
_DARK_LIGHTNESS = 128  # a window colour darker than this reads as a dark scheme

# Role -> (dark, light) colours for the Fusion fallback.
_COLOURS: dict[QPalette.ColorRole, tuple[str, str]] = {
    QPalette.ColorRole.Window: ("#2b2b2b", "#efefef"),
    QPalette.ColorRole.WindowText: ("#e6e6e6", "#1e1e1e"),
    QPalette.ColorRole.Base: ("#1e1e1e", "#ffffff"),
    QPalette.ColorRole.AlternateBase: ("#262626", "#f5f5f5"),
    QPalette.ColorRole.ToolTipBase: ("#3a3a3a", "#ffffdc"),
    QPalette.ColorRole.ToolTipText: ("#e6e6e6", "#1e1e1e"),
    QPalette.ColorRole.PlaceholderText: ("#8c8c8c", "#7a7a7a"),
    QPalette.ColorRole.Text: ("#e6e6e6", "#1e1e1e"),
    QPalette.ColorRole.ButtonText: ("#e6e6e6", "#1e1e1e"),
    QPalette.ColorRole.BrightText: ("#ff6b6b", "#d32f2f"),
    QPalette.ColorRole.Link: ("#6cb4ff", "#0b57d0"),
    QPalette.ColorRole.LinkVisited: ("#c59cff", "#7b1fa2"),
    QPalette.ColorRole.Highlight: ("#3d6fd6", "#3072e0"),
    QPalette.ColorRole.HighlightedText: ("#ffffff", "#ffffff"),
}
_DISABLED_TEXT = ("#7a7a7a", "#a0a0a0")


@dataclass
class _Defaults:
    style: str
    palette: QPalette
    palette_was_set: bool
    font: QFont


_defaults: _Defaults | None = None
_forced: str = "system"  # what apply_appearance last asked for


def _capture(app: QApplication) -> _Defaults:
    global _defaults
    if _defaults is None:
        palette = app.palette()
        _defaults = _Defaults(app.style().name(), QPalette(palette), palette.resolveMask() != 0, QFont(app.font()))
    return _defaults


def fusion_palette(dark: bool) -> QPalette:
    index = 0 if dark else 1
    button = QColor("#353535" if dark else "#e8e8e8")
    palette = QPalette(button, QColor(_COLOURS[QPalette.ColorRole.Window][index]))
    for role, colours in _COLOURS.items():
        palette.setColor(role, QColor(colours[index]))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor(_DISABLED_TEXT[index]))
    return palette


def _palette_is_dark(palette: QPalette) -> bool:
    return palette.color(QPalette.ColorRole.Window).lightness() < _DARK_LIGHTNESS


def _restore_style(app: QApplication, defaults: _Defaults) -> None:
    if app.style().name().lower() != defaults.style.lower():
        app.setStyle(defaults.style)
    app.setPalette(defaults.palette if defaults.palette_was_set else QPalette())


def apply_appearance(app: QApplication, *, theme: str, font_size: int | None) -> None:
    """Apply the theme ("system", "light" or "dark") and text size (points; None = the system's)."""
    if theme not in _SCHEMES:
        raise ValueError(f"unknown theme {theme!r}; expected one of {THEMES}")
    global _forced
    defaults = _capture(app)
    # Start from the captured look each time, so a palette we set earlier never masks what the platform does.
    _restore_style(app, defaults)
    hints = app.styleHints()
    hints.setColorScheme(_SCHEMES[theme])
    if theme != "system":
        dark = theme == "dark"
        platform_did_it = hints.colorScheme() == _SCHEMES[theme] and _palette_is_dark(app.palette()) == dark
        if not platform_did_it:
            app.setStyle("Fusion")
            app.setPalette(fusion_palette(dark))
    _forced = theme
    font = QFont(defaults.font)
    if font_size is not None:
        font.setPointSize(font_size)
    app.setFont(font)


def is_dark(app: QApplication) -> bool:
    """Whether dark colours are in effect, for views that render their own colours (the lesson HTML)."""
    if _forced != "system":
        return _forced == "dark"
    scheme = app.styleHints().colorScheme()
    if scheme != Qt.ColorScheme.Unknown:
        return scheme == Qt.ColorScheme.Dark
    return _palette_is_dark(app.palette())
