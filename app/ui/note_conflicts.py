"""The Resolve view: notes edited on two devices before either synced, every version side by side.

Sync never throws an edit away (app.core.sync.merge): the newest version is shown meanwhile, and
the others wait here. The learner keeps one version ("Keep this one", a deletion included) or writes
a merged text; either way `resolve_note` writes one change that replaces every version, on every
device once it syncs. Reads and writes run on the database worker.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app.services.storage.learning_record import Note, NoteVersion
from app.ui.app_context import AppContext
from app.ui.i18n import tr
from app.ui.op import Op


def version_heading(version: NoteVersion, *, own_node: str) -> str:
    """When and where a version was written; a device is known here only by its clock node."""
    when = version.at.astimezone().strftime("%Y-%m-%d %H:%M")
    where = tr("this device") if version.node == own_node else tr("another device ({node})").format(
        node=version.node[:8])
    return tr("{when} on {where}").format(when=when, where=where)


def version_text(version: NoteVersion, *, own_node: str) -> str:
    if version.text is not None:
        return version.text
    return tr("[deleted on this device]") if version.node == own_node else tr("[deleted on another device]")


def merged_start(note: Note) -> str:
    """What the merged-text box starts with: every version's text, newest first, to edit down."""
    texts: list[str] = []
    for version in note.versions:
        if version.text is not None and version.text not in texts:
            texts.append(version.text)
    return "\n\n".join(texts)


class ConflictCard(QGroupBox):
    """One note: its versions in columns, each with "Keep this one", then the merged text."""

    chosen = Signal(str, object)  # note id, the text that replaces every version (None: stay deleted)

    def __init__(self, note: Note, *, own_node: str, parent: QWidget | None = None) -> None:
        super().__init__(str(note.ref).replace("#", " § "), parent)
        self.note = note
        self.version_views: list[QPlainTextEdit] = []
        self.keep_buttons: list[QPushButton] = []
        columns = QHBoxLayout()
        for version in note.versions:
            column = QVBoxLayout()
            heading = QLabel(version_heading(version, own_node=own_node))
            view = QPlainTextEdit(version_text(version, own_node=own_node))
            view.setReadOnly(True)
            if version.text is None:
                view.setEnabled(False)  # the muted colour says "no text here"
            keep = QPushButton(tr("Keep this one"))
            keep.clicked.connect(lambda _checked=False, text=version.text: self.chosen.emit(note.id, text))
            column.addWidget(heading)
            column.addWidget(view, 1)
            column.addWidget(keep)
            columns.addLayout(column, 1)
            self.version_views.append(view)
            self.keep_buttons.append(keep)
        self.merged = QPlainTextEdit(merged_start(note))
        self.merged.setObjectName("mergedText")
        self.merged.setMaximumHeight(110)
        self.save_merged_button = QPushButton(tr("Save merged"))
        self.save_merged_button.clicked.connect(lambda: self.chosen.emit(note.id, self.merged.toPlainText()))
        self.merged.textChanged.connect(
            lambda: self.save_merged_button.setEnabled(bool(self.merged.toPlainText().strip())))
        self.save_merged_button.setEnabled(bool(self.merged.toPlainText().strip()))
        layout = QVBoxLayout(self)
        layout.addLayout(columns, 1)
        layout.addWidget(QLabel(tr("Merged text")))
        layout.addWidget(self.merged)
        layout.addWidget(self.save_merged_button, 0, Qt.AlignmentFlag.AlignRight)

    def set_enabled_while_saving(self, saving: bool) -> None:
        for button in self.keep_buttons:
            button.setEnabled(not saving)
        self.save_merged_button.setEnabled(not saving and bool(self.merged.toPlainText().strip()))


class NoteConflictsDialog(QDialog):
    resolved = Signal(str)  # note id, once its resolution is stored
    loaded = Signal()  # the cards show the record's conflicts

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setWindowTitle(tr("Notes edited on two devices"))
        self.resize(820, 560)
        self.cards: dict[str, ConflictCard] = {}
        self.intro = QLabel(tr("These notes were changed on two devices before they synced. Keep one version, or "
                               "write the merged text and save it; the choice syncs to your other devices."))
        self.intro.setWordWrap(True)
        self.empty_label = QLabel(tr("No notes are in conflict."))
        self.empty_label.hide()
        self.content = QWidget()
        self.cards_layout = QVBoxLayout(self.content)
        self.cards_layout.addStretch(1)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.content)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.button(QDialogButtonBox.StandardButton.Close).setText(tr("Close"))
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.intro)
        layout.addWidget(self.empty_label)
        layout.addWidget(scroll, 1)
        layout.addWidget(buttons)
        self.reload()

    def reload(self) -> None:
        services = self.ctx.services

        def read() -> tuple[list[Note], str]:
            record = services.record
            return record.conflicts(), record.node

        Op(self, read).success(self._show).run(executor=self.ctx.db)

    def _show(self, result: tuple[list[Note], str]) -> None:
        notes, own_node = result
        for card in self.cards.values():
            card.deleteLater()
        self.cards = {}
        for note in notes:
            card = ConflictCard(note, own_node=own_node, parent=self.content)
            card.chosen.connect(self.resolve)
            self.cards_layout.insertWidget(self.cards_layout.count() - 1, card)
            self.cards[note.id] = card
        self.empty_label.setVisible(not notes)
        self.loaded.emit()

    def resolve(self, note_id: str, text: str | None) -> None:
        card = self.cards.get(note_id)
        if card is not None:
            card.set_enabled_while_saving(True)
        services = self.ctx.services

        def stored(_note: Note) -> None:
            self.resolved.emit(note_id)
            self.reload()

        def refused(exc: Exception) -> None:
            if card is not None and note_id in self.cards:
                card.set_enabled_while_saving(False)
            from app.ui.error_dialog import show_error

            show_error(self, exc)

        Op(self, lambda: services.record.resolve_note(note_id, text)).success(stored).failure(refused).run(
            executor=self.ctx.db)
