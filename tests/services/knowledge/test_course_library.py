"""The installed-course library: import (packs, course folders, ad-hoc folders), replace, remove, list."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest

from app.core.errors import CourseInvalid, CourseNotFound
from app.services.knowledge.adhoc_import import build_adhoc_course
from app.services.knowledge.course_library import CourseLibrary, builtin_course_dirs
from tests.services.knowledge.test_course_files import (
    BAD_PACKS,
    course_files,
    make_zip,
    patch_entry,
    tree,
    write_tree,
)
from tests.support.pdf_files import write_pdf


@pytest.fixture
def library(tmp_path: Path) -> CourseLibrary:
    return CourseLibrary(tmp_path / "courses")


def snapshot(courses_dir: Path) -> dict[str, dict[str, bytes]]:
    """Every folder in the courses folder (hidden ones too) with its files."""
    if not courses_dir.exists():
        return {}
    return {child.name: tree(child) for child in sorted(courses_dir.iterdir())}


# -- packs ----------------------------------------------------------------------------------------


def test_import_pack_then_list_get_load(tmp_path: Path, library: CourseLibrary) -> None:
    result = library.import_path(make_zip(tmp_path / "demo.zip", course_files()))
    assert (result.course.id, result.course.title, result.course.lesson_count) == ("demo", "Demo course", 2)
    assert result.replaced is None and not result.adhoc and result.skipped == ()
    assert result.course.root == library.courses_dir / "demo" and not result.course.builtin
    assert [c.id for c in library.list()] == ["demo"]
    assert library.get("demo") == result.course
    assert [lesson.title for lesson in library.load("demo").lessons] == ["Welcome", "Loops"]
    assert [p.name for p in library.courses_dir.iterdir()] == ["demo"]  # no temporary folder left


def test_reimport_of_a_changed_pack_replaces_it(tmp_path: Path, library: CourseLibrary) -> None:
    library.import_path(make_zip(tmp_path / "v1.zip", course_files()))
    files = {**course_files(version="1.1.0"), "lessons/01-intro.md": b"# Intro, rewritten\n"}
    result = library.import_path(make_zip(tmp_path / "v2.zip", files))
    assert result.replaced is not None and result.replaced.version == "1.0.0"
    assert result.course.version == "1.1.0"
    assert library.load("demo").lessons[0].title == "Intro, rewritten"
    assert tree(library.courses_dir / "demo") == files
    assert [p.name for p in library.courses_dir.iterdir()] == ["demo"]


def installed_v1(tmp_path: Path, library: CourseLibrary) -> dict[str, dict[str, bytes]]:
    library.import_path(make_zip(tmp_path / "v1.zip", course_files()))
    return snapshot(library.courses_dir)


@pytest.mark.parametrize("case", list(BAD_PACKS))
def test_refused_pack_leaves_everything_as_it_was(tmp_path: Path, library: CourseLibrary, case: str) -> None:
    before = installed_v1(tmp_path, library)
    extra, words = BAD_PACKS[case]
    pack = make_zip(tmp_path / "bad.zip", [*course_files(version="2.0.0").items(), *extra])
    with pytest.raises(CourseInvalid) as caught:
        library.import_path(pack)
    assert all(w in caught.value.user_message for w in words) and caught.value.hint
    assert snapshot(library.courses_dir) == before


def test_pack_failing_the_full_check_after_extraction_changes_nothing(tmp_path: Path,
                                                                      library: CourseLibrary) -> None:
    before = installed_v1(tmp_path, library)
    files = {**course_files(version="2.0.0"), "lessons/02-loops.md": "# Boucles é".encode("latin-1")}
    with pytest.raises(CourseInvalid, match=r"lessons/02-loops\.md' is not UTF-8"):
        library.import_path(make_zip(tmp_path / "v2.zip", files))
    assert snapshot(library.courses_dir) == before


def test_size_lie_is_stopped_and_changes_nothing(tmp_path: Path, library: CourseLibrary) -> None:
    before = installed_v1(tmp_path, library)
    pack = make_zip(tmp_path / "liar.zip", [*course_files(version="2.0.0").items(),
                                            ("zz/data.bin", bytes(range(256)) * 8192)])
    patch_entry(pack, "zz/data.bin", file_size=1000)
    with pytest.raises(CourseInvalid, match="damaged"):
        library.import_path(pack)
    assert snapshot(library.courses_dir) == before


def test_bomb_into_an_empty_library_leaves_no_folder(tmp_path: Path, library: CourseLibrary) -> None:
    pack = make_zip(tmp_path / "bomb.zip", [*course_files().items(), ("zeros.bin", bytes(20 * 1024 * 1024))])
    with pytest.raises(CourseInvalid, match="compressed more than 200 times"):
        library.import_path(pack)
    assert snapshot(library.courses_dir) == {}


def test_pack_id_cannot_be_overridden(tmp_path: Path, library: CourseLibrary) -> None:
    with pytest.raises(CourseInvalid, match="is the course 'demo'"):
        library.import_path(make_zip(tmp_path / "demo.zip", course_files()), course_id="other")
    assert snapshot(library.courses_dir) == {}
    assert library.import_path(make_zip(tmp_path / "demo.zip", course_files()), course_id="demo").course.id == "demo"


@pytest.mark.parametrize(("name", "content", "words"), [
    ("notes.txt", b"hello", "not a course pack or a folder"),
    ("fake.zip", b"hello", "not a zip file"),
    ("missing.zip", None, "There is no file or folder"),
])
def test_not_importable(tmp_path: Path, library: CourseLibrary, name: str, content: bytes | None, words: str) -> None:
    if content is not None:
        (tmp_path / name).write_bytes(content)
    with pytest.raises(CourseInvalid, match=words):
        library.import_path(tmp_path / name)
    assert snapshot(library.courses_dir) == {}


def test_invalid_course_id_argument(tmp_path: Path, library: CourseLibrary) -> None:
    with pytest.raises(CourseInvalid, match="cannot be a course id"):
        library.import_path(tmp_path, course_id="../escape")


# -- course folders -------------------------------------------------------------------------------


def test_import_course_folder_copies_it(tmp_path: Path, library: CourseLibrary) -> None:
    source = write_tree(tmp_path / "src", {**course_files(), ".git/config": b"x", "lessons/.draft.md": b"x"})
    result = library.import_path(source)
    assert result.course.id == "demo" and not result.adhoc
    assert tree(library.courses_dir / "demo") == course_files()  # hidden files left behind
    assert (source / "course.toml").exists()  # the source is untouched


def test_broken_course_folder_changes_nothing(tmp_path: Path, library: CourseLibrary) -> None:
    before = installed_v1(tmp_path, library)
    source = write_tree(tmp_path / "src", {**course_files(version="2.0.0"),
                                           "questions.toml": b'[[questions]]\nquestion = "q"\n'})
    with pytest.raises(CourseInvalid, match="question #1 lesson' is missing"):
        library.import_path(source)
    assert snapshot(library.courses_dir) == before


# -- ad-hoc folders -------------------------------------------------------------------------------


def notes_folder(root: Path) -> Path:
    write_tree(root, {
        "10-later.md": b"# Later things\n\nBody of later.\n",
        "2-basics.md": b"---\ntitle: The basics\nprerequisites: [nothing-here]\n---\nBasics body.\n",
        "plain.txt": b"Reading files\nOpen a file with open().\n# not a heading\n",
        "page.html": (b"<html><head><title>Web page</title><script>alert(1)</script></head><body>"
                      b"<nav>Home | About</nav><h1>Dictionaries</h1><p>A <b>dict</b> maps keys.</p>"
                      b"<ul><li>keys</li><li>values</li></ul><pre>d = {}\nd['a'] = 1</pre></body></html>"),
        "broken.pdf": b"%PDF-1.4\nthis is not really a pdf",
        "picture.png": b"\x89PNG\r\n",
        "latin1.txt": "caf\xe9".encode("latin-1"),
        ".hidden.md": b"# Hidden\n",
        ".git/HEAD.md": b"# Git\n",
        "sub/3-deeper.markdown": b"# Deeper\n\ntext\n",
    })
    write_pdf(root / "slides.pdf", ["Loops repeat code", "Break stops a loop"], title="Loop slides")
    write_pdf(root / "locked.pdf", ["secret"], password="pw")
    return root


def test_adhoc_import(tmp_path: Path, library: CourseLibrary) -> None:
    result = library.import_path(notes_folder(tmp_path / "My Notes"))
    assert result.adhoc and result.course.id == "my-notes" and result.course.title == "My Notes"
    course = library.load("my-notes")
    assert course.manifest.description == "Imported from My Notes" and course.manifest.version == "1.0.0"
    titles = [lesson.title for lesson in course.lessons]
    assert titles == ["The basics", "Later things", "Web page", "Reading files", "Loop slides", "Deeper"]
    assert [lesson.id for lesson in course.lessons][:2] == ["01-2-basics", "02-10-later"]  # natural order
    by_title = {lesson.title: lesson for lesson in course.lessons}
    assert by_title["The basics"].prerequisites == ()  # ids changed, so foreign prerequisites are dropped
    html = by_title["Web page"].body
    assert "# Dictionaries" in html and "A **dict** maps keys." in html and "- keys\n- values" in html
    assert "```\nd = {}\nd['a'] = 1\n```" in html and "alert" not in html and "Home | About" not in html
    text = by_title["Reading files"].body
    assert text.startswith("# Reading files") and "\\# not a heading" in text
    pdf = by_title["Loop slides"].body
    assert "## Page 1\n\nLoops repeat code" in pdf and "## Page 2\n\nBreak stops a loop" in pdf
    skipped = dict(result.skipped)
    assert set(skipped) == {"broken.pdf", "picture.png", "latin1.txt", "locked.pdf"}
    assert "not a readable PDF" in skipped["broken.pdf"] and "password-protected" in skipped["locked.pdf"]
    assert "not UTF-8" in skipped["latin1.txt"] and "not a supported file type (.png)" in skipped["picture.png"]
    assert [p.name for p in library.courses_dir.iterdir()] == ["my-notes"]


def test_adhoc_import_with_given_id_and_reimport(tmp_path: Path, library: CourseLibrary) -> None:
    source = write_tree(tmp_path / "notes", {"a.md": b"# A\n"})
    assert library.import_path(source, course_id="mine").course.id == "mine"
    (source / "b.md").write_bytes(b"# B\n")
    result = library.import_path(source, course_id="mine")
    assert result.replaced is not None and result.replaced.lesson_count == 1 and result.course.lesson_count == 2


def test_adhoc_folder_without_usable_files(tmp_path: Path, library: CourseLibrary) -> None:
    source = write_tree(tmp_path / "junk", {"a.png": b"x", "b.pdf": b"not a pdf", "c.txt": b"\xff\xfe\xfa"})
    with pytest.raises(CourseInvalid, match="No lessons found") as caught:
        library.import_path(source)
    assert "Markdown (.md, .markdown), HTML (.html, .htm), text (.txt) and PDF (.pdf)" in (caught.value.hint or "")
    assert snapshot(library.courses_dir) == {}


def test_build_adhoc_course_directly(tmp_path: Path) -> None:
    source = write_tree(tmp_path / "Lập trình", {"Bài 1.md": b"# One\n", "empty.md": b"", "x.htm": b"<p></p>"})
    result = build_adhoc_course(source, tmp_path / "out", title="Lập trình Python", language="vi")
    assert result.manifest.id == "lap-trinh" and result.manifest.language == "vi"
    assert result.lessons == ("lessons/01-bai-1.md",)
    assert dict(result.skipped) == {"empty.md": "the file is empty", "x.htm": "the page has no text"}
    assert (tmp_path / "out/lessons/01-bai-1.md").read_text(encoding="utf-8").startswith("---\ntitle: One\n")
    with pytest.raises(CourseInvalid):
        build_adhoc_course(write_tree(tmp_path / "none", {"a.png": b""}), tmp_path / "out2")
    assert not (tmp_path / "out2").exists()


# -- remove, built-ins, list ----------------------------------------------------------------------


def builtin_dir(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "builtin" / "demo", course_files(title="Built-in demo")).parent


def test_remove(tmp_path: Path, library: CourseLibrary) -> None:
    library.import_path(make_zip(tmp_path / "demo.zip", course_files()))
    library.remove("demo")
    assert library.list() == [] and snapshot(library.courses_dir) == {}
    with pytest.raises(CourseNotFound) as caught:
        library.remove("demo")
    assert caught.value.hint == "See `lantern courses list`."


def test_builtin_cannot_be_removed_and_is_shadowed(tmp_path: Path) -> None:
    library = CourseLibrary(tmp_path / "courses", builtin_dirs=[builtin_dir(tmp_path)])
    assert [(c.id, c.title, c.builtin) for c in library.list()] == [("demo", "Built-in demo", True)]
    with pytest.raises(CourseInvalid, match="built-in course and cannot be removed") as caught:
        library.remove("demo")
    assert caught.value.hint
    result = library.import_path(make_zip(tmp_path / "demo.zip", course_files()))
    assert result.replaced is not None and result.replaced.builtin
    assert [(c.title, c.builtin) for c in library.list()] == [("Demo course", False)]
    library.remove("demo")
    assert library.get("demo").builtin  # the built-in one shows again
    assert (tmp_path / "builtin/demo/course.toml").exists()


def test_list_skips_broken_folders_and_sorts_by_title(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    courses = tmp_path / "courses"
    write_tree(courses / "zeta", course_files("zeta", title="A first"))
    write_tree(courses / "alpha", course_files("alpha", title="B second"))
    write_tree(courses / "broken", {"course.toml": b"id = [unclosed"})
    write_tree(courses / "renamed", course_files("other-id"))
    write_tree(courses / "empty", {})
    (courses / "empty").mkdir(exist_ok=True)
    with caplog.at_level(logging.WARNING):
        listed = CourseLibrary(courses).list()
    assert [c.id for c in listed] == ["zeta", "alpha"]
    assert "broken" in caplog.text and "renamed" in caplog.text
    with pytest.raises(CourseInvalid):
        CourseLibrary(courses).get("broken")


def test_get_unknown_or_unsafe_id(library: CourseLibrary) -> None:
    for course_id in ("nope", "../courses", "/etc"):
        with pytest.raises(CourseNotFound) as caught:
            library.get(course_id)
        assert caught.value.hint == "See `lantern courses list`."


def test_stale_leftovers_are_cleaned(tmp_path: Path) -> None:
    courses = tmp_path / "courses"
    write_tree(courses / "kept", course_files("kept"))
    write_tree(courses / ".import-0123456789abcdef", {"course.toml": b"half"})
    write_tree(courses / ".old-01234567-kept", {"course.toml": b"old copy"})  # replaced: drop it
    write_tree(courses / ".old-89abcdef-lost", course_files("lost"))  # nothing in its place: restore it
    write_tree(courses / ".import-fresh", {"x": b""})  # another Lantern may be importing right now
    old = time.time() - 2 * 3600
    for name in (".import-0123456789abcdef", ".old-01234567-kept", ".old-89abcdef-lost"):
        os.utime(courses / name, (old, old))
    library = CourseLibrary(courses)
    assert sorted(p.name for p in courses.iterdir()) == [".import-fresh", "kept", "lost"]
    assert [c.id for c in library.list()] == ["kept", "lost"]


def test_builtin_course_dirs_points_at_resources() -> None:
    dirs = builtin_course_dirs()
    assert dirs and dirs[0].name == "courses" and dirs[0].parent.name == "resources"

