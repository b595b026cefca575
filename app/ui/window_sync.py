"""The main window's sync parts, kept out of main_window.py: the bridge to the background scheduler,
the status-bar indicator, the Resolve view, and what reloads after a round (the lesson's notes, the
sidebar's progress marks).

The window builds one `WindowSync` and calls `attach()` when it starts, `settings_changed()` from its
settings listener and `stop()` when it closes; everything else is wired here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject

from app.ui.op import Op
from app.ui.sync_bridge import SyncBridge
from app.ui.sync_status import SyncStatusIndicator

if TYPE_CHECKING:
    from app.ui.main_window import MainWindow


class WindowSync(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.bridge = SyncBridge(window.ctx, self)
        self.indicator = SyncStatusIndicator(window)
        self.conflicts_dialog: Any = None
        self.bridge.view_changed.connect(self.indicator.show_view)
        self.bridge.round_finished.connect(self.synced)
        self.indicator.open_requested.connect(self.open_place)
        window.notes.resolve_requested.connect(lambda _note_id: self.open_conflicts())

    def open_place(self, place: str) -> None:
        """The indicator was clicked: the Resolve view for conflicts, else Settings → Account."""
        if place == "conflicts":
            self.open_conflicts()
        else:
            self.window.open_settings(page="account")

    def open_conflicts(self) -> None:
        """The Resolve view (one at a time; asking again brings it forward, re-read)."""
        from app.ui.note_conflicts import NoteConflictsDialog

        if self.conflicts_dialog is not None and self.conflicts_dialog.isVisible():
            self.conflicts_dialog.reload()
            self.conflicts_dialog.raise_()
            return
        dialog = NoteConflictsDialog(self.window.ctx, self.window)
        dialog.resolved.connect(self._resolved)
        self.conflicts_dialog = dialog
        dialog.open()

    def _resolved(self, _note_id: str) -> None:
        self.window.notes.reload()
        self.bridge.refresh()  # one conflict fewer in the indicator

    def synced(self) -> None:
        """A round ended: notes and lesson progress from other devices may have arrived."""
        window = self.window
        window.notes.reload()
        ctx, course_ids = window.ctx, list(window.courses)

        def states() -> dict[str, dict[str, str]]:
            return {course_id: ctx.record.states(course_id) for course_id in course_ids}

        def show(result: dict[str, dict[str, str]]) -> None:
            for course_id, lesson_states in result.items():
                course = window.courses.get(course_id)
                for lesson in course.lessons if course is not None else ():
                    if window.sidebar.lesson_state(course_id, lesson.id) != lesson_states.get(lesson.id):
                        window.sidebar.set_lesson_state(course_id, lesson.id, lesson_states.get(lesson.id))

        Op(self, states).success(show).run(executor=ctx.db)
