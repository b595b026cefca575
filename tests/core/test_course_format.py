"""Course text formats: the manifest, lesson front matter, the question set and the cross-checks."""

from __future__ import annotations

import pytest

from app.core.course_format import (
    check_course,
    first_h1,
    parse_lesson,
    parse_manifest,
    parse_questions,
    slug_for_id,
    unsafe_path_reason,
)
from app.core.courses import COURSE_FORMAT_VERSION, Course, EmbeddingPack, LabelledQuestion, Lesson
from app.core.errors import CourseInvalid

GOOD = """\
format = 1
id = "python-basics"
title = "Python basics"
version = "1.2.0"
language = "pt-BR"
description = "Loops and lists."
lessons = ["lessons/01-intro.md", "lessons/02-loops.md"]
questions = "questions.toml"
future_key = "ignored"

[[embeddings]]
model = "all-minilm-l6-v2"
dimension = 384
file = "embeddings/all-minilm-l6-v2.npz"
"""


def manifest_text(**changes: str | None) -> str:
    """GOOD with some top-level lines replaced (value = TOML text) or removed (None)."""
    lines = GOOD.splitlines()
    out = []
    for line in lines:
        key = line.split(" = ", 1)[0] if " = " in line and not line.startswith(("model", "dimension", "file")) else None
        if key in changes:
            if changes[key] is not None:
                out.append(f"{key} = {changes[key]}")
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def invalid(text: str) -> CourseInvalid:
    with pytest.raises(CourseInvalid) as caught:
        parse_manifest(text, source="course.toml")
    error = caught.value
    assert error.user_message.startswith("course.toml"), error.user_message
    assert error.hint
    return error


# -- manifest -------------------------------------------------------------------------------------


def test_good_manifest() -> None:
    m = parse_manifest(GOOD, source="course.toml")
    assert (m.id, m.title, m.version, m.language, m.description) == (
        "python-basics", "Python basics", "1.2.0", "pt-BR", "Loops and lists.")
    assert m.lessons == ("lessons/01-intro.md", "lessons/02-loops.md")
    assert m.questions == "questions.toml"
    assert m.embeddings == (EmbeddingPack("all-minilm-l6-v2", 384, "embeddings/all-minilm-l6-v2.npz"),)
    assert m.format == 1


def test_defaults_and_bom() -> None:
    m = parse_manifest("\ufeff" + manifest_text(format=None, description=None, questions=None).split("[[")[0],
                       source="course.toml")
    assert m.format == COURSE_FORMAT_VERSION and m.description == "" and m.questions is None and m.embeddings == ()


@pytest.mark.parametrize(("changes", "field", "words"), [
    ({"id": None}, "'id'", "missing"),
    ({"id": '"Python Basics"'}, "'id'", "not a valid course id"),
    ({"id": '"-x"'}, "'id'", "not a valid course id"),
    ({"id": '"' + "a" * 65 + '"'}, "'id'", "not a valid course id"),
    ({"id": "3"}, "'id'", "non-empty text"),
    ({"title": '"  "'}, "'title'", "non-empty text"),
    ({"version": None}, "'version'", "missing"),
    ({"version": "1"}, "'version'", "non-empty text"),
    ({"language": '"english!"'}, "'language'", "not a language tag"),
    ({"description": "[1]"}, "'description'", "must be text"),
    ({"lessons": "[]"}, "'lessons'", "non-empty list"),
    ({"lessons": None}, "'lessons'", "missing"),
    ({"lessons": '"lessons/01-intro.md"'}, "'lessons'", "non-empty list"),
    ({"lessons": '["a.md", "a.md"]'}, "'lessons'", "twice"),
    ({"lessons": '["a/intro.md", "b/intro.md"]'}, "'lessons'", "would both be lesson 'intro'"),
    ({"lessons": '["lessons/intro.txt"]'}, "'lessons'", "not a Markdown file"),
    ({"lessons": '["../x.md"]'}, "'lessons'", "contains '..'"),
    ({"lessons": '["lessons/../../x.md"]'}, "'lessons'", "contains '..'"),
    ({"lessons": '["/etc/x.md"]'}, "'lessons'", "absolute path"),
    ({"lessons": '["C:/x.md"]'}, "'lessons'", "drive letter"),
    ({"lessons": '["lessons\\\\x.md"]'}, "'lessons'", "backslash"),
    ({"lessons": '["a\\u0000.md"]'}, "'lessons'", "NUL"),
    ({"lessons": '["./a.md"]'}, "'lessons'", "'.' folder name"),
    ({"lessons": "[1]"}, "'lessons'", "not a path"),
    ({"questions": '"../q.toml"'}, "'questions'", "contains '..'"),
    ({"questions": "3"}, "'questions'", "relative path"),
    ({"format": '"1"'}, "'format'", "whole number"),
    ({"format": "0"}, "'format'", "whole number"),
])
def test_malformed_manifest(changes: dict[str, str | None], field: str, words: str) -> None:
    error = invalid(manifest_text(**changes))
    assert field in error.user_message and words in error.user_message, error.user_message


def test_newer_format_says_update_lantern() -> None:
    error = invalid(manifest_text(format=str(COURSE_FORMAT_VERSION + 1), id=None))  # checked before anything else
    assert "newer Lantern" in error.user_message and "Update Lantern" in (error.hint or "")


def test_toml_syntax_error_keeps_line_number() -> None:
    error = invalid('id = "x"\ntitle = "T"\nversion = 1.0.0\n')
    assert "not valid TOML" in error.user_message and "line 3" in error.user_message


@pytest.mark.parametrize(("table", "words"), [
    ('model = "m"\ndimension = 0\nfile = "e.npz"', "dimension' must be a positive"),
    ('model = "m"\ndimension = true\nfile = "e.npz"', "dimension' must be a positive"),
    ('dimension = 3\nfile = "e.npz"', "model' is missing"),
    ('model = "m"\ndimension = 3', "file' is missing"),
    ('model = "m"\ndimension = 3\nfile = "e.json"', "not a .npz file"),
    ('model = "m"\ndimension = 3\nfile = "/abs/e.npz"', "absolute path"),
])
def test_bad_embeddings_table(table: str, words: str) -> None:
    error = invalid(GOOD.split("[[embeddings]]")[0] + "[[embeddings]]\n" + table + "\n")
    assert "embeddings #1" in error.user_message and words in error.user_message, error.user_message


def test_embeddings_must_be_array_of_tables() -> None:
    error = invalid(GOOD.replace("[[embeddings]]", "[embeddings]"))
    assert "[[embeddings]]" in error.user_message


@pytest.mark.parametrize(("path", "ok"), [
    ("lessons/01.md", True), ("a", True), ("dir/", True),
    ("", False), ("/a", False), ("a/../b", False), ("..", False), ("a\\b", False), ("c:a", False),
    ("a\x00b", False), ("a//b", False), ("./a", False), ("a:stream", False),
])
def test_unsafe_path_reason(path: str, ok: bool) -> None:
    assert (unsafe_path_reason(path) is None) is ok


# -- lessons --------------------------------------------------------------------------------------


def lesson(text: str) -> Lesson:
    return parse_lesson(text, lesson_id="05-loops", path="lessons/05-loops.md", content_hash="abc")


def test_lesson_with_front_matter() -> None:
    got = lesson("---\ntitle: Loops\nobjectives:\n  - Use for\n  - Use while\nprerequisites: [04-conditions]\n---\n"
                 "# Loops in Python\n\nText.\n")
    assert got.title == "Loops" and got.objectives == ("Use for", "Use while")
    assert got.prerequisites == ("04-conditions",)
    assert got.body == "# Loops in Python\n\nText.\n"
    assert (got.id, got.path, got.content_hash) == ("05-loops", "lessons/05-loops.md", "abc")


def test_lesson_without_front_matter_uses_h1_outside_code() -> None:
    got = lesson("Intro line.\n\n```python\n# a comment\n```\n\n# Loops #\n\nText.")
    assert got.title == "Loops" and got.objectives == () and got.body.startswith("Intro line.")


def test_lesson_title_falls_back_to_id_and_empty_front_matter() -> None:
    assert lesson("---\n---\nNo heading here.\n## Only a subheading\n").title == "05-loops"


def test_lesson_bom_and_crlf() -> None:
    got = lesson("\ufeff---\r\ntitle: Loops\r\n---\r\nBody\r\n")
    assert got.title == "Loops" and got.body == "Body\n"


@pytest.mark.parametrize(("text", "words"), [
    ("---\ntitle: [unclosed\n---\nx", "not valid YAML (line 2"),
    ("---\n- a\n- b\n---\nx", "must be 'key: value' lines"),
    ("---\ntitle: 12\n---\nx", "'title' must be non-empty text"),
    ("---\nobjectives: Learn loops\n---\nx", "'objectives' must be a list"),
    ("---\nprerequisites: [1, 2]\n---\nx", "'prerequisites' must be a list"),
    ("---\ntitle: Loops\nno closing line", "never closed"),
])
def test_bad_front_matter_names_the_lesson(text: str, words: str) -> None:
    with pytest.raises(CourseInvalid) as caught:
        lesson(text)
    assert caught.value.user_message.startswith("lessons/05-loops.md") and words in caught.value.user_message
    assert caught.value.hint


def test_first_h1_skips_tilde_fences_and_needs_text() -> None:
    assert first_h1("~~~\n# no\n~~~\n#\n# Yes\n") == "Yes"
    assert first_h1("#NoSpace\n## Two") is None


# -- questions ------------------------------------------------------------------------------------


def test_questions() -> None:
    got = parse_questions('[[questions]]\nquestion = "How do I stop a loop?"\nlesson = "05-loops"\n'
                          'section = "stopping-a-loop-early"\nkind = "how-to"\n\n'
                          '[[questions]]\nquestion = "What is a list?"\nlesson = "06-lists"\nsection = "lists"\n',
                          source="questions.toml")
    assert got == (LabelledQuestion("How do I stop a loop?", "05-loops", "stopping-a-loop-early", "how-to"),
                   LabelledQuestion("What is a list?", "06-lists", "lists", ""))


@pytest.mark.parametrize(("text", "words"), [
    ("", "has no [[questions]]"),
    ("questions = 3", "must be [[questions]] tables"),
    ('[[questions]]\nquestion = "q"\nlesson = "l"', "question #1 section' is missing"),
    ('[[questions]]\nquestion = "q"\nlesson = "l"\nsection = "s"\nkind = 1', "question #1 kind' must be text"),
    ("[[questions]\n", "not valid TOML"),
])
def test_bad_questions(text: str, words: str) -> None:
    with pytest.raises(CourseInvalid) as caught:
        parse_questions(text, source="questions.toml")
    assert caught.value.user_message.startswith("questions.toml") and words in caught.value.user_message


# -- cross-checks ---------------------------------------------------------------------------------


def course(*lessons: tuple[str, str], questions: tuple[LabelledQuestion, ...] = ()) -> Course:
    manifest = parse_manifest(manifest_text(lessons=str([f"lessons/{i}.md" for i, _ in lessons])),
                              source="course.toml")
    parsed = tuple(parse_lesson(text, lesson_id=i, path=f"lessons/{i}.md", content_hash="h") for i, text in lessons)
    return Course(manifest=manifest, lessons=parsed, questions=questions)


LOOPS = "---\nprerequisites: [intro]\n---\n# Loops\n\n## Stopping a loop early\n\nbreak.\n"


def test_check_course_accepts_good_course() -> None:
    check_course(course(("intro", "# Intro\n"), ("loops", LOOPS), questions=(
        LabelledQuestion("q", "loops", "stopping-a-loop-early"), LabelledQuestion("q", "loops", "loops"))))


@pytest.mark.parametrize(("lessons", "questions", "words"), [
    ((("loops", LOOPS),), (), "prerequisite 'intro' is not a lesson"),
    ((("intro", "---\nprerequisites: [intro]\n---\n"),), (), "lists itself"),
    ((("a", "---\nprerequisites: [b]\n---\n"), ("b", "---\nprerequisites: [a]\n---\n")), (),
     "in a circle: a -> b -> a"),
    ((("intro", "# Intro\n"),), (LabelledQuestion("q", "nope", "intro"),), "lesson 'nope', which is not"),
    ((("intro", "# Intro\n"),), (LabelledQuestion("q", "intro", "outro"),), "section 'outro', which is not"),
])
def test_check_course_errors(lessons: tuple[tuple[str, str], ...], questions: tuple[LabelledQuestion, ...],
                             words: str) -> None:
    with pytest.raises(CourseInvalid) as caught:
        check_course(course(*lessons, questions=questions))
    assert words in caught.value.user_message and caught.value.hint


def test_check_course_counts_further_problems() -> None:
    with pytest.raises(CourseInvalid) as caught:
        check_course(course(("intro", "# Intro\n"), questions=(
            LabelledQuestion("q", "intro", "a"), LabelledQuestion("q", "intro", "b"))))
    assert "(and 1 more problem)" in caught.value.user_message
    assert len(caught.value.debug_context["problems"]) == 2


# -- ids ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "slug"), [
    ("Python Basics", "python-basics"),
    ("  Lập trình Python cơ bản  ", "lap-trinh-python-co-ban"),
    ("Đường đi", "duong-di"),
    ("Crème brûlée!!", "creme-brulee"),
    ("___", "course"),
    ("日本語", "course"),
    ("a" * 70, "a" * 64),
    ("x" * 63 + " y", "x" * 63),
])
def test_slug_for_id(name: str, slug: str) -> None:
    assert slug_for_id(name) == slug
