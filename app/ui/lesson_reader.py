"""The lesson reader: one lesson's title, objectives and body, with section anchors citations jump to.

Links are handled here, not by QTextBrowser (``setOpenLinks(False)``): course files are untrusted,
so only a click opens a web link (in the system browser; nothing is fetched), a link to another
lesson file is handed to whoever owns navigation (``lesson_link``), and anything else is ignored.
"""

from __future__ import annotations

import html
from pathlib import PurePosixPath

from PySide6.QtCore import QPoint, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QColor, QDesktopServices, QTextBlock, QTextCharFormat, QTextCursor, QTextFormat
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStackedWidget,
    QTextBrowser,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from app.core.courses import Course, Lesson
from app.core.markdown_sections import split_sections
from app.ui.i18n import Retranslatable, tr
from app.ui.markdown_html import render_markdown

HIGHLIGHT_MS = 1500  # how long a section a citation jumped to stays highlighted


class LessonReaderView(Retranslatable, QWidget):
    """Shows one lesson. ``current_course_id``/``current_lesson_id`` are None until a lesson is shown."""

    lesson_link = Signal(str, str)  # lesson_id, anchor ("" for the top): a link to another lesson file
    done_toggled = Signal(str, str, bool)  # course_id, lesson_id, done: the learner clicked "Mark as done"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.current_course_id: str | None = None
        self.current_lesson_id: str | None = None
        self._course: Course | None = None
        self._lesson: Lesson | None = None
        self._dark = False
        self._anchor_blocks: dict[str, int] = {}  # anchor -> position of its heading block

        self.stack = QStackedWidget(self)
        self.empty_label = QLabel(self.stack)
        self.empty_label.setObjectName("lessonEmptyState")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)

        page = QWidget(self.stack)
        self.course_label = QLabel("", page)
        self.course_label.setObjectName("lessonCourseLabel")
        self.course_label.setEnabled(False)  # the muted palette colour, without a hard-coded one
        self.done_button = QPushButton(page)
        self.done_button.setCheckable(True)
        self.done_button.toggled.connect(self._on_done_toggled)
        self.browser = QTextBrowser(page)
        self.browser.setOpenLinks(False)
        self.browser.setOpenExternalLinks(False)
        self.browser.anchorClicked.connect(self._on_anchor_clicked)
        header = QHBoxLayout()
        header.addWidget(self.course_label, 1)
        header.addWidget(self.done_button)
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(header)
        layout.addWidget(self.browser, 1)

        self.stack.addWidget(self.empty_label)
        self.stack.addWidget(page)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.stack)

        self._highlight_timer = QTimer(self)
        self._highlight_timer.setSingleShot(True)
        self._highlight_timer.setInterval(HIGHLIGHT_MS)
        self._highlight_timer.timeout.connect(lambda: self.browser.setExtraSelections([]))
        self.retranslate()


    def retranslate(self) -> None:
        """The empty state, the done button and the lesson's "In this lesson you will:" heading."""
        self.empty_label.setText(tr("Choose a lesson from the list"))
        self._update_done_text()
        if self._lesson is not None:
            position = self.browser.verticalScrollBar().value()
            self._render()
            self.browser.verticalScrollBar().setValue(position)

    # -- showing ------------------------------------------------------------------------------------

    def show_lesson(self, course: Course, lesson: Lesson, *, done: bool = False) -> None:
        self._course, self._lesson = course, lesson
        self.current_course_id, self.current_lesson_id = course.id, lesson.id
        self.course_label.setText(course.manifest.title)
        self.set_done(done)
        self._render()
        self.browser.verticalScrollBar().setValue(0)
        self.stack.setCurrentIndex(1)

    def set_done(self, done: bool) -> None:
        """Reflect stored progress without emitting ``done_toggled``."""
        blocked = self.done_button.blockSignals(True)
        try:
            self.done_button.setChecked(done)
        finally:
            self.done_button.blockSignals(blocked)
        self._update_done_text()

    def set_font_point_size(self, pt: int) -> None:
        font = self.browser.font()
        font.setPointSize(max(6, pt))
        self.browser.setFont(font)  # QTextEdit passes it on as the document's default font

    def set_dark(self, dark: bool) -> None:
        if dark == self._dark:
            return
        self._dark = dark
        if self._lesson is not None:
            position = self.browser.verticalScrollBar().value()
            self._render()
            self.browser.verticalScrollBar().setValue(position)

    def _render(self) -> None:
        assert self._lesson is not None
        self._highlight_timer.stop()
        self.browser.setExtraSelections([])
        self.browser.setHtml(lesson_html(self._lesson, dark=self._dark))
        self._anchor_blocks = _anchor_positions(self.browser)

    # -- sections and links -------------------------------------------------------------------------

    def scroll_to_section(self, anchor: str) -> bool:
        """Bring a section's heading into view and highlight it briefly; False if the lesson has no such anchor."""
        position = self._anchor_blocks.get(anchor)
        if position is None:
            return False
        cursor = QTextCursor(self.browser.document())
        cursor.setPosition(position)
        self.browser.setTextCursor(cursor)
        self.browser.scrollToAnchor(anchor)
        highlight = QTextEdit.ExtraSelection()
        fmt = QTextCharFormat()
        color = QColor(self.palette().highlight().color())
        color.setAlpha(70)
        fmt.setBackground(color)
        fmt.setProperty(QTextFormat.Property.FullWidthSelection, True)
        highlight.format = fmt
        highlight.cursor = QTextCursor(cursor.block())
        self.browser.setExtraSelections([highlight])
        self._highlight_timer.start()
        return True

    def current_section(self) -> str | None:
        """The anchor of the section being read (the last heading at or above the top of the view), or None
        at the lesson's start: a note written now is filed under it."""
        top = self.browser.cursorForPosition(QPoint(0, 0)).position()
        above = sorted((position, anchor) for anchor, position in self._anchor_blocks.items() if position <= top)
        first = min(self._anchor_blocks.values(), default=None)
        if not above or above[-1][0] == first:
            return None
        return above[-1][1]

    def section_anchors(self) -> set[str]:
        """The anchors the shown lesson's document holds (what ``scroll_to_section`` accepts)."""
        return set(self._anchor_blocks)

    def _on_anchor_clicked(self, url: QUrl) -> None:
        scheme = url.scheme().lower()
        if scheme in ("http", "https"):
            QDesktopServices.openUrl(url)
            return
        if scheme or url.host() or self._course is None:
            return  # file:, mailto:, cite:, ... : nothing a lesson may open
        path, anchor = url.path(), url.fragment()
        if not path:
            if anchor:
                self.scroll_to_section(anchor)
            return
        posix = PurePosixPath(path)
        if posix.suffix.lower() != ".md" or posix.is_absolute():
            return
        target = self._course.lesson(posix.stem)
        if target is None:
            return
        if target.id == self.current_lesson_id:
            if anchor:
                self.scroll_to_section(anchor)
            else:
                self.browser.verticalScrollBar().setValue(0)
            return
        self.lesson_link.emit(target.id, anchor)

    def _on_done_toggled(self, done: bool) -> None:
        self._update_done_text()
        if self.current_course_id is not None and self.current_lesson_id is not None:
            self.done_toggled.emit(self.current_course_id, self.current_lesson_id, done)

    def _update_done_text(self) -> None:
        self.done_button.setText(tr("Done ✓") if self.done_button.isChecked() else tr("Mark as done"))


def lesson_html(lesson: Lesson, *, dark: bool = False) -> str:
    """Title, objectives, body. A body that opens with the lesson's title as its first heading keeps
    that heading (and its anchor) as the title, with the objectives under it; otherwise a title is added."""
    body = render_markdown(lesson.body, dark=dark)
    objectives = ""
    if lesson.objectives:
        items = "".join(f"<li>{html.escape(item, quote=False)}</li>" for item in lesson.objectives)
        objectives = f"<p><b>{html.escape(tr('In this lesson you will:'), quote=False)}</b></p><ul>{items}</ul>\n"
    sections = split_sections(lesson.id, lesson.body)
    first = sections[0] if sections else None
    if (first is not None and first.level == 1
            and first.titles[0].strip().lower() == lesson.title.strip().lower() and body.startswith("<h1>")):
        end = body.find("</h1>") + len("</h1>")
        return body[:end] + "\n" + objectives + body[end:]
    return f"<h1>{html.escape(lesson.title, quote=False)}</h1>\n{objectives}{body}"


def _anchor_positions(browser: QTextBrowser) -> dict[str, int]:
    """Every ``<a name>`` in the document, found where Qt put it (the first character after it)."""
    found: dict[str, int] = {}
    block: QTextBlock = browser.document().begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            fragment = it.fragment()
            for name in fragment.charFormat().anchorNames():
                found.setdefault(name, block.position())
            it += 1
        block = block.next()
    return found
