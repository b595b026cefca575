"""The course and lesson list on the left, with progress marks (✓ done, • opened) and a count per course."""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QTreeWidget, QTreeWidgetItem, QWidget

from app.core.courses import Course
from app.ui.i18n import Retranslatable, tr

ROLE_COURSE = Qt.ItemDataRole.UserRole
ROLE_LESSON = Qt.ItemDataRole.UserRole + 1
MARKS = {"done": "✓", "opened": "•"}


class CourseSidebar(Retranslatable, QTreeWidget):
    lesson_selected = Signal(str, str)  # course id, lesson id

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setHeaderHidden(True)
        self.setColumnCount(1)
        self.setMinimumWidth(200)
        self._states: dict[str, dict[str, str]] = {}
        self._courses: dict[str, Course] = {}
        self.itemSelectionChanged.connect(self._selected)


    def retranslate(self) -> None:
        """The course rows ("… (2/5 done)") and the lesson tooltips are the only translated texts."""
        for course_id in self._courses:
            self._refresh_course(course_id)

    def set_courses(self, courses: list[Course], states: Mapping[str, Mapping[str, str]]) -> None:
        """Replace the list; keeps the current selection where it still exists."""
        current = self.current()
        self.blockSignals(True)
        self.clear()
        self._courses = {c.id: c for c in courses}
        self._states = {c.id: dict(states.get(c.id, {})) for c in courses}
        for course in courses:
            top = QTreeWidgetItem([course.title])
            top.setData(0, ROLE_COURSE, course.id)
            top.setFlags(top.flags() & ~Qt.ItemFlag.ItemIsSelectable)
            self.addTopLevelItem(top)
            for lesson in course.lessons:
                item = QTreeWidgetItem([lesson.title])
                item.setData(0, ROLE_COURSE, course.id)
                item.setData(0, ROLE_LESSON, lesson.id)
                top.addChild(item)
            self._refresh_course(course.id)
        self.expandAll()
        self.blockSignals(False)
        if current is not None:
            self.select(*current, emit=False)

    def set_lesson_state(self, course_id: str, lesson_id: str, state: str | None) -> None:
        states = self._states.setdefault(course_id, {})
        if state is None:
            states.pop(lesson_id, None)
        else:
            states[lesson_id] = state
        self._refresh_course(course_id)

    def lesson_state(self, course_id: str, lesson_id: str) -> str | None:
        return self._states.get(course_id, {}).get(lesson_id)

    def current(self) -> tuple[str, str] | None:
        item = self.currentItem()
        if item is None or item.data(0, ROLE_LESSON) is None:
            return None
        return item.data(0, ROLE_COURSE), item.data(0, ROLE_LESSON)

    def select(self, course_id: str, lesson_id: str, *, emit: bool = True) -> bool:
        item = self._item(course_id, lesson_id)
        if item is None:
            return False
        self.blockSignals(not emit)
        self.setCurrentItem(item)
        self.blockSignals(False)
        return True

    def course(self, course_id: str) -> Course | None:
        return self._courses.get(course_id)

    def _item(self, course_id: str, lesson_id: str) -> QTreeWidgetItem | None:
        for i in range(self.topLevelItemCount()):
            top = self.topLevelItem(i)
            if top is None or top.data(0, ROLE_COURSE) != course_id:
                continue
            for j in range(top.childCount()):
                child = top.child(j)
                if child is not None and child.data(0, ROLE_LESSON) == lesson_id:
                    return child
        return None

    def _refresh_course(self, course_id: str) -> None:
        course = self._courses.get(course_id)
        if course is None:
            return
        states = self._states.get(course_id, {})
        for i in range(self.topLevelItemCount()):
            top = self.topLevelItem(i)
            if top is None or top.data(0, ROLE_COURSE) != course_id:
                continue
            done = sum(1 for lesson in course.lessons if states.get(lesson.id) == "done")
            top.setText(0, tr("{title} ({done}/{total} done)").format(title=course.title, done=done,
                                                                      total=len(course.lessons)))
            for j in range(top.childCount()):
                child = top.child(j)
                if child is None:
                    continue
                lesson = course.lessons[j]
                mark = MARKS.get(states.get(lesson.id, ""), " ")
                child.setText(0, f"{mark} {lesson.title}")
                child.setToolTip(0, {"done": tr("Done"), "opened": tr("Opened")}.get(states.get(lesson.id, ""),
                                                                                     tr("Not opened yet")))

    def _selected(self) -> None:
        current = self.current()
        if current is not None:
            self.lesson_selected.emit(*current)
