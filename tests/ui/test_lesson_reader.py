"""The lesson reader and the Markdown renderer: every citable anchor lands on its heading, code is
coloured, untrusted HTML is shown as text, answers' [n] markers link only to passages given."""

from __future__ import annotations

import re
import time
from dataclasses import replace

import pytest
from PySide6.QtCore import QObject, Qt, QUrl, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtTest import QTest

from app.core.chunking import chunk_lesson
from app.core.courses import Course, Lesson
from app.core.markdown_sections import section_anchors
from app.services.knowledge.course_files import read_course
from app.services.knowledge.course_library import builtin_course_dirs
from app.ui.lesson_reader import LessonReaderView
from app.ui.markdown_html import render_answer, render_markdown

STARTER = next(d for d in builtin_course_dirs() if (d / "python-from-zero").is_dir()) / "python-from-zero"


@pytest.fixture(scope="module")
def course() -> Course:
    return read_course(STARTER)


@pytest.fixture
def view(qtbot) -> LessonReaderView:
    reader = LessonReaderView()
    qtbot.addWidget(reader)
    reader.resize(700, 400)
    reader.show()
    qtbot.waitExposed(reader)
    return reader


def count_words(text: str) -> int:
    return len(text.split())


def names(rendered: str) -> set[str]:
    return set(re.findall(r'<a name="([^"]+)"></a>', rendered))


# -- anchors --------------------------------------------------------------------------------------

def test_every_section_anchor_of_the_starter_course_is_in_the_html_and_scrollable(course, view):
    assert len(course.lessons) >= 10
    for lesson in course.lessons:
        anchors = section_anchors(lesson.id, lesson.body)
        chunk_anchors = {a for c in chunk_lesson(lesson, count_tokens=count_words) for a in c.anchors}
        assert anchors and chunk_anchors <= anchors
        assert anchors <= names(render_markdown(lesson.body)), lesson.id
        view.show_lesson(course, lesson)
        assert (view.current_course_id, view.current_lesson_id) == (course.id, lesson.id)
        for anchor in anchors:
            assert view.scroll_to_section(anchor), f"{lesson.id}#{anchor}"
        assert not view.scroll_to_section("no-such-section-anywhere")


def test_labelled_questions_point_at_scrollable_sections(course, view):
    assert course.questions
    for question in course.questions:
        view.show_lesson(course, course.lesson(question.lesson))
        assert view.scroll_to_section(question.section), f"{question.lesson}#{question.section}"


def test_duplicate_and_nested_headings_get_the_section_anchors():
    body = "# Loops\n\n## Example\n\nx\n\n## Example\n\n> # Quoted\n\n| a |\n|---|\n| 1 |\n\n## Vòng lặp *for*\n"
    assert section_anchors("l", body) == names(render_markdown(body))
    assert {"example", "example-1", "vòng-lặp-for"} <= names(render_markdown(body))
    assert names(render_markdown(body, anchors=False)) == set()


def test_scrolling_moves_the_view_and_highlights_the_heading(course, view, qtbot):
    lesson = course.lesson("05-loops")
    view.show_lesson(course, lesson)
    last = [s for s in section_anchors(lesson.id, lesson.body) if s != "loops"]
    target = max(last, key=lambda a: view._anchor_blocks[a])
    assert view.scroll_to_section(target)
    qtbot.waitUntil(lambda: view.browser.verticalScrollBar().value() > 0)
    block = view.browser.textCursor().block()
    assert block.position() == view._anchor_blocks[target]
    assert view.browser.extraSelections() and view.browser.extraSelections()[0].cursor.block() == block
    qtbot.waitUntil(lambda: not view.browser.extraSelections(), timeout=5000)


# -- rendering ------------------------------------------------------------------------------------

def test_code_fences_are_highlighted_and_raw_html_is_escaped():
    text = ("```python\nfor i in range(3):\n    print(i)\n```\n\n<script>alert(1)</script>\n\n"
            "A picture <img src=x onerror=alert(1)> here.\n\n```nosuchlang\nif <b>\n```\n")
    rendered = render_markdown(text)
    assert re.search(r'<span style="[^"]*color: ?#[0-9A-Fa-f]{3,6}[^"]*">for</span>', rendered)
    assert "<script" not in rendered and "&lt;script&gt;" in rendered
    assert "<img" not in rendered and "&lt;img src=x onerror=alert(1)&gt;" in rendered
    assert "if &lt;b&gt;" in rendered  # unknown language: plain escaped text, no guessing
    dark = render_markdown(text, dark=True)
    assert dark != rendered and re.search(r'<span style="[^"]*color[^"]*">for</span>', dark)


def test_links_keep_their_href_and_images_are_not_loaded():
    rendered = render_markdown(
        "[next](05-loops.md#x) [web](https://example.org) ![cat](cat.png) [bad](javascript:alert(1))")
    assert '<a href="05-loops.md#x">next</a>' in rendered and '<a href="https://example.org">web</a>' in rendered
    assert "<img" not in rendered and 'href="javascript' not in rendered


def test_answer_citations_link_only_valid_markers_outside_code():
    assert '<a href="cite:1">[1]</a>' in render_answer("Use a loop [1].", {1})
    assert "cite:" not in render_answer("Use a loop [7].", {1}) and "[7]" in render_answer("Use a loop [7].", {1})
    assert "cite:" not in render_answer("Write `nums[1]` or `[1]`.", {1})
    assert "cite:" not in render_answer("```python\nx = [1]\n```", {1})
    both = render_answer("See [1][2] and [1, 2].", {1, 2})
    assert both.count('href="cite:1"') == 2 and both.count('href="cite:2"') == 2
    assert "cite:" not in render_answer("nums[1] is the second item", {1})


def test_answer_with_an_unclosed_fence_renders_while_streaming():
    partial = "Here is how [1]:\n\n```python\nfor i in range(3):\n    print(i"
    rendered = render_answer(partial, {1})
    assert '<a href="cite:1">[1]</a>' in rendered and "print" in rendered
    for cut in range(0, len(partial), 7):
        render_answer(partial[:cut], {1})


def test_answer_render_is_fast_enough_to_stream():
    text = ("A **loop** repeats code [1]. Use `range(n)` [2].\n\n```python\nfor i in range(3):\n    print(i)\n```\n\n"
            "- one [1]\n- two [3]\n\n") * 18
    assert len(text) >= 2000
    render_answer(text, {1, 2})  # imports, lexer and formatter set-up
    start = time.perf_counter()
    for n in range(20):
        render_answer(text + str(n), {1, 2})
    assert (time.perf_counter() - start) / 20 < 0.05  # a few ms here; generous for slow CI machines


# -- the view -------------------------------------------------------------------------------------

def test_empty_state_before_a_lesson(view):
    assert view.current_course_id is None and view.current_lesson_id is None
    assert view.stack.currentWidget() is view.empty_label
    assert view.empty_label.text() == "Choose a lesson from the list"


def test_title_and_objectives_are_shown(course, view):
    lesson = course.lesson("05-loops")
    view.show_lesson(course, lesson)
    text = view.browser.toPlainText()
    assert text.startswith(lesson.title) and text.count(lesson.title + "\n") == 1
    assert lesson.objectives and all(o in text for o in lesson.objectives)
    assert view.course_label.text() == course.manifest.title


def click_link(qtbot, view: LessonReaderView, label: str) -> None:
    cursor = view.browser.document().find(label)
    assert not cursor.isNull()
    cursor.setPosition(cursor.selectionStart() + 1)
    view.browser.setTextCursor(cursor)
    view.browser.ensureCursorVisible()
    point = view.browser.cursorRect(cursor).center()
    QTest.mouseClick(view.browser.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)


def linked_course(course: Course) -> tuple[Course, Lesson]:
    body = ("# Links\n\n[Jump down](#the-end) and [loops](05-loops.md#counting-with-for-loops) and "
            "[lists](06-lists-and-tuples.md) and [web](https://example.org/x) and [file](file:///etc/passwd)\n\n"
            + "filler\n\n" * 80 + "## The end\n\nbye\n")
    lesson = Lesson(id="99-links", title="Links", body=body, content_hash="x")
    return replace(course, lessons=(*course.lessons, lesson)), lesson


def test_internal_anchor_link_scrolls(course, view, qtbot):
    course, lesson = linked_course(course)
    view.show_lesson(course, lesson)
    assert view.browser.verticalScrollBar().value() == 0
    with qtbot.assertNotEmitted(view.lesson_link):
        click_link(qtbot, view, "Jump down")
        qtbot.waitUntil(lambda: view.browser.verticalScrollBar().value() > 0)
    assert view.browser.textCursor().block().text() == "The end"


def test_relative_lesson_links_emit_lesson_link(course, view, qtbot):
    course, lesson = linked_course(course)
    view.show_lesson(course, lesson)
    with qtbot.waitSignal(view.lesson_link) as signal:
        click_link(qtbot, view, "loops")
    assert signal.args == ["05-loops", "counting-with-for-loops"]
    with qtbot.waitSignal(view.lesson_link) as signal:
        view.browser.anchorClicked.emit(QUrl("06-lists-and-tuples.md"))
    assert signal.args == ["06-lists-and-tuples", ""]
    with qtbot.assertNotEmitted(view.lesson_link):
        view.browser.anchorClicked.emit(QUrl("no-such-lesson.md"))
        view.browser.anchorClicked.emit(QUrl("file:///etc/passwd"))
        view.browser.anchorClicked.emit(QUrl("cite:1"))


class UrlCatcher(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.urls.append(url.toString())


def test_web_links_open_only_on_click(course, view, qtbot):
    catcher = UrlCatcher()
    for scheme in ("http", "https", "file"):
        QDesktopServices.setUrlHandler(scheme, catcher, "open")
    try:
        course, lesson = linked_course(course)
        view.show_lesson(course, lesson)
        assert catcher.urls == []
        click_link(qtbot, view, "web")
        qtbot.waitUntil(lambda: catcher.urls == ["https://example.org/x"])
        click_link(qtbot, view, "file")
        assert catcher.urls == ["https://example.org/x"]
    finally:
        for scheme in ("http", "https", "file"):
            QDesktopServices.unsetUrlHandler(scheme)


def test_done_toggle_emits_and_set_done_does_not(course, view, qtbot):
    lesson = course.lessons[0]
    view.show_lesson(course, lesson, done=True)
    assert view.done_button.isChecked()
    with qtbot.waitSignal(view.done_toggled) as signal:
        view.done_button.click()
    assert signal.args == [course.id, lesson.id, False]
    with qtbot.assertNotEmitted(view.done_toggled):
        view.set_done(True)
    assert view.done_button.isChecked()


def test_font_size_and_dark_mode_rerender_in_place(course, view):
    lesson = course.lesson("05-loops")
    view.show_lesson(course, lesson)
    view.set_font_point_size(17)
    assert view.browser.document().defaultFont().pointSize() == 17
    light = view.browser.toHtml()
    view.set_dark(True)
    assert view.browser.toHtml() != light
    assert view.browser.document().defaultFont().pointSize() == 17
    assert view.scroll_to_section("counting-with-for-loops")
