"""The notes on the lesson shown: list, add, edit, delete; a note edited on two devices carries a
"N versions — Resolve" badge that opens the Resolve view (app.ui.note_conflicts).

Notes live in the learning record (app.services.storage.learning_record), read and written on the
database worker. A new note is filed under the section being read when the reader knows one. The
list reloads when the lesson changes, after each write here, and after every sync round (the bridge's
`round_finished`), so a note written on another device appears without a click.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.core.sync.records import LessonRef
from app.services.storage.learning_record import Note
from app.ui import confirm
from app.ui.app_context import AppContext
from app.ui.i18n import Retranslatable, tr
from app.ui.op import Op
from app.ui.sync_status import ago

PREVIEW_CHARS = 160


def note_summary(note: Note, now: datetime | None = None) -> str:
    """The list line: the start of the text, the section, when it was last written."""
    text = (note.text or tr("[deleted on another device]")).strip().replace("\n", " ")
    if len(text) > PREVIEW_CHARS:
        text = text[:PREVIEW_CHARS - 1] + "…"
    where = f"§ {note.ref.section} · " if note.ref.section else ""
    return f"{text}\n{where}{tr('written {ago}').format(ago=ago(note.updated_at, now or datetime.now(UTC)))}"


class NoteRow(QWidget):
    """One note in the list; a conflicted one has its Resolve badge."""

    def __init__(self, note: Note, on_resolve: Callable[[str], None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.note = note
        self.label = QLabel(note_summary(note), self)
        self.label.setWordWrap(True)
        row = QHBoxLayout(self)
        row.setContentsMargins(4, 2, 4, 2)
        row.addWidget(self.label, 1)
        self.badge: QPushButton | None = None
        if note.in_conflict:
            self.badge = QPushButton(tr("{n} versions — Resolve").format(n=len(note.versions)), self)
            self.badge.setObjectName("noteConflictBadge")
            self.badge.setStyleSheet("color: #d93025;")
            self.badge.clicked.connect(lambda: on_resolve(note.id))
            row.addWidget(self.badge, 0, Qt.AlignmentFlag.AlignTop)


class LessonNotesPanel(Retranslatable, QWidget):
    resolve_requested = Signal(str)  # note id: open the Resolve view
    section_requested = Signal(str)  # anchor: a note was opened; the reader may scroll to its section
    notes_loaded = Signal()  # the list shows the record's notes of the current lesson

    def __init__(self, ctx: AppContext, *, section_of: Callable[[], str | None] = lambda: None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.section_of = section_of
        self.course_id: str | None = None
        self.lesson_id: str | None = None
        self.notes: list[Note] = []
        self._load_serial = 0

        self.title = QLabel(self)
        self.title.setObjectName("notesTitle")
        self.list = QListWidget(self)
        self.list.setObjectName("notesList")
        self.list.currentItemChanged.connect(lambda *_: self._selection_changed())
        self.editor = QPlainTextEdit(self)
        self.editor.setObjectName("noteEditor")
        self.editor.setMaximumHeight(70)
        self.editor.textChanged.connect(self._update_buttons)
        self.new_button = QPushButton(self)
        self.add_button = QPushButton(self)
        self.save_button = QPushButton(self)
        self.delete_button = QPushButton(self)
        self.new_button.clicked.connect(self.start_new)
        self.add_button.clicked.connect(self.add_note)
        self.save_button.clicked.connect(self.save_note)
        self.delete_button.clicked.connect(self.delete_note)
        buttons = QHBoxLayout()
        for button in (self.new_button, self.add_button, self.save_button, self.delete_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.editor)
        layout.addLayout(buttons)
        self.retranslate()
        self._update_buttons()

    def retranslate(self) -> None:
        self.title.setText(tr("Notes on this lesson"))
        self.editor.setPlaceholderText(tr("Write a note on this lesson…"))
        self.new_button.setText(tr("New"))
        self.add_button.setText(tr("Add note"))
        self.save_button.setText(tr("Save"))
        self.delete_button.setText(tr("Delete"))
        if self.notes:
            self._show(self.notes)

    # -- reading ---------------------------------------------------------------------------------

    def show_lesson(self, course_id: str, lesson_id: str) -> None:
        if (course_id, lesson_id) != (self.course_id, self.lesson_id):
            self.course_id, self.lesson_id = course_id, lesson_id
            self.editor.clear()
            self._show([])
        self.reload()

    def reload(self) -> None:
        """Read the lesson's notes on the database worker; a result for a lesson left meanwhile is dropped."""
        if self.course_id is None or self.lesson_id is None:
            return
        course_id, lesson_id = self.course_id, self.lesson_id
        self._load_serial += 1
        serial = self._load_serial
        services = self.ctx.services

        def shown(notes: list[Note]) -> None:
            if serial == self._load_serial:
                self._show(notes)
                self.notes_loaded.emit()

        Op(self, lambda: services.record.notes(course_id, lesson_id)).success(shown).run(executor=self.ctx.db)

    def _show(self, notes: list[Note]) -> None:
        selected = self.selected_note()
        self.notes = notes
        # Re-selecting the note being edited must not put its stored text over what is being typed.
        blocked = self.list.blockSignals(True)
        self.list.clear()
        for note in notes:
            item = QListWidgetItem(self.list)
            item.setData(Qt.ItemDataRole.UserRole, note.id)
            row = NoteRow(note, self.resolve_requested.emit)
            item.setSizeHint(row.sizeHint())
            self.list.setItemWidget(item, row)
            if selected is not None and note.id == selected.id:
                self.list.setCurrentItem(item)
        self.list.blockSignals(blocked)
        self._update_buttons()

    def selected_note(self) -> Note | None:
        item = self.list.currentItem()
        if item is None:
            return None
        note_id = item.data(Qt.ItemDataRole.UserRole)
        return next((n for n in self.notes if n.id == note_id), None)

    def row(self, note_id: str) -> NoteRow | None:
        for index in range(self.list.count()):
            item = self.list.item(index)
            if item.data(Qt.ItemDataRole.UserRole) == note_id:
                widget = self.list.itemWidget(item)
                return widget if isinstance(widget, NoteRow) else None
        return None

    def _selection_changed(self) -> None:
        note = self.selected_note()
        if note is not None:
            self.editor.setPlainText(note.text or "")
            if note.ref.section:
                self.section_requested.emit(note.ref.section)
        self._update_buttons()

    def _update_buttons(self) -> None:
        has_lesson = self.lesson_id is not None
        has_text = bool(self.editor.toPlainText().strip())
        note = self.selected_note()
        self.add_button.setEnabled(has_lesson and has_text)
        self.save_button.setEnabled(note is not None and has_text and self.editor.toPlainText() != (note.text or ""))
        self.delete_button.setEnabled(note is not None)
        self.new_button.setEnabled(note is not None)

    # -- writing ---------------------------------------------------------------------------------

    def start_new(self) -> None:
        self.list.setCurrentRow(-1)
        self.editor.clear()
        self.editor.setFocus()

    def add_note(self) -> None:
        if self.course_id is None or self.lesson_id is None:
            return
        ref = LessonRef(self.course_id, self.lesson_id, self.section_of())
        text = self.editor.toPlainText()
        self._write(lambda record: record.add_note(ref, text), clear=True)

    def save_note(self) -> None:
        note = self.selected_note()
        if note is not None:
            text = self.editor.toPlainText()
            self._write(lambda record: record.edit_note(note.id, text))

    def delete_note(self) -> None:
        note = self.selected_note()
        if note is not None and confirm.ask(self, tr("Delete this note?"),
                                            tr("It is deleted on your other devices too when they sync."),
                                            tr("Delete")):
            self._write(lambda record: record.delete_note(note.id), clear=True)

    def _write(self, change: Callable[[Any], Any], *, clear: bool = False) -> None:
        """Run one write on the database worker, then reload; a refused note goes to the error dialog."""
        services = self.ctx.services

        def written(_result: Any) -> None:
            if clear:
                self.list.setCurrentRow(-1)
                self.editor.clear()
            self.reload()

        Op(self, lambda: change(services.record)).success(written).run(executor=self.ctx.db)
