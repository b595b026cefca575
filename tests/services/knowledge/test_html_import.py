"""Ad-hoc imports keep only the content: real Sphinx and MkDocs sites, running headers and footers.

The sites under tests/fixtures/html_sites/ were built by the generators themselves (SOURCE.md there).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from app.core.chunking import chunk_lesson
from app.core.courses import Course, CourseChunk
from app.services.knowledge.adhoc_import import build_adhoc_course
from app.services.knowledge.course_files import read_course
from app.services.knowledge.html_content import extract_page
from app.services.knowledge.site_cleanup import (
    by_title_numbers,
    common_title_suffix,
    resolve_link,
    strip_title_suffix,
    title_number,
)
from tests.services.knowledge.test_course_files import write_tree
from tests.support.pdf_files import write_pdf

SITES = Path(__file__).resolve().parents[2] / "fixtures" / "html_sites"
# Text of the sites' chrome: navigation bars, sidebars, search boxes, footers, prev/next links.
CHROME = ("Navigation", "Quick search", "Search", "Related Topics", "Previous", "Next", "Contents:",
          "Powered by", "Page source", "©", "Documentation overview", "Table of Contents", "Keyboard Shortcuts",
          "Documentation built with", "Toggle navigation", "Go", "¶", "Built with", "Read the Docs", "Edit on")


def imported(source: Path, dest: Path) -> tuple[Course, dict[str, str]]:
    result = build_adhoc_course(source, dest)
    return read_course(dest), dict(result.skipped)


def chunks_of(course: Course) -> list[CourseChunk]:
    return [chunk for lesson in course.lessons
            for chunk in chunk_lesson(lesson, count_tokens=lambda text: len(text.split()))]


def assert_content_only(course: Course, site_name: str) -> None:
    chunks = chunks_of(course)
    assert chunks
    for lesson in course.lessons:
        assert site_name not in lesson.title and "¶" not in lesson.title and " — " not in lesson.title
    for chunk in chunks:
        words = set(chunk.embed_text.replace(":", " ").split())
        for chrome in CHROME:
            found = chrome in words if " " not in chrome and chrome.isalpha() else chrome in chunk.embed_text
            assert not found, f"{chrome!r} in {chunk.lesson_id}#{chunk.anchor}: {chunk.embed_text!r}"
        assert all(site_name not in title and "¶" not in title for title in chunk.titles)


def test_sphinx_site_keeps_only_content_in_toc_order(tmp_path: Path) -> None:
    course, skipped = imported(SITES / "sphinx", tmp_path / "out")
    assert [lesson.title for lesson in course.lessons] == [
        "Wickbox documentation", "1. Introduction", "2. Using Wickbox", "3. Configuration", "10. Appendix"]
    assert [lesson.id for lesson in course.lessons] == ["01-index", "02-intro", "03-usage", "04-config", "05-appendix"]
    assert set(skipped) == {"genindex.html", "search.html"}  # Sphinx's generated pages are not lessons
    assert "generates" in skipped["genindex.html"]
    assert_content_only(course, "Wickbox 1.0 documentation")
    by_id = {lesson.id: lesson for lesson in course.lessons}
    usage = by_id["03-usage"]
    # Headings are sections, anchored on the content's own headings; code blocks survive whole.
    chunks = chunk_lesson(usage, count_tokens=lambda text: len(text.split()))
    assert {chunk.anchor for chunk in chunks} == {"2-using-wickbox", "trimming-a-wick", "checking-the-result"}
    assert ("2. Using Wickbox", "Trimming a wick", "Checking the result") in {c.titles for c in chunks}
    assert ("```python\nfrom wickbox import trim\n\nfor candle in [\"kitchen\", \"desk\"]:\n"
            "    trim(candle, target_mm=6)\n```") in usage.body
    assert "Call `trim` with the target length in millimetres:" in usage.body
    assert "```toml\nschedule = [8, 20]\ntarget_mm = 6\n```" in by_id["04-config"].body
    index = by_id["01-index"].body
    assert index.startswith("# Wickbox documentation\n\nWickbox is a tiny") and "Introduction" not in index  # toctree


@pytest.mark.parametrize(("site", "generated"), [("mkdocs", {"404.html"}),
                                                 ("mkdocs-readthedocs", {"404.html", "search.html"})])
def test_mkdocs_site_keeps_only_content_in_nav_order(tmp_path: Path, site: str, generated: set[str]) -> None:
    course, skipped = imported(SITES / site, tmp_path / "out")
    assert [lesson.title for lesson in course.lessons] == ["Lampwright", "1. Setup", "2. Lighting a lamp",
                                                           "10. Reference"]
    assert [lesson.id for lesson in course.lessons] == ["01-index", "02-setup", "03-lighting", "04-reference"]
    assert [lesson.path for lesson in course.lessons] == [f"lessons/{lid}.md" for lid in
                                                          ("01-index", "02-setup", "03-lighting", "04-reference")]
    assert set(skipped) == generated  # the error page; the search box's results page
    assert_content_only(course, "Lampwright -")
    by_id = {lesson.id: lesson for lesson in course.lessons}
    lighting = chunk_lesson(by_id["03-lighting"], count_tokens=lambda text: len(text.split()))
    assert [c.anchor for c in lighting] == ["2-lighting-a-lamp", "adjusting-the-flame", "when-it-smokes"]
    assert "```bash\nlampwright adjust --height 5mm\n```" in by_id["03-lighting"].body
    assert "```python\ndef soak_minutes(wick_length_cm):\n    return max(10, wick_length_cm * 2)\n```" \
        in by_id["02-setup"].body
    assert "| Paraffin | low |" in by_id["04-reference"].body


def test_without_an_index_the_title_numbers_give_the_order(tmp_path: Path) -> None:
    source = tmp_path / "site"
    shutil.copytree(SITES / "sphinx", source)
    (source / "index.html").unlink()
    course, _ = imported(source, tmp_path / "out")
    # By file name it would be appendix, config, intro, usage.
    assert [lesson.title for lesson in course.lessons] == [
        "1. Introduction", "2. Using Wickbox", "3. Configuration", "10. Appendix"]


def test_without_an_index_or_numbers_file_names_give_the_order(tmp_path: Path) -> None:
    page = "<html><head><title>{t} | Notes</title></head><body><main><h1>{t}</h1><p>About {t}.</p></main></body></html>"
    source = write_tree(tmp_path / "site", {name: page.format(t=title).encode() for name, title in
                                            [("b.html", "Beta"), ("a.html", "Alpha"), ("10-c.html", "Gamma")]})
    course, _ = imported(source, tmp_path / "out")
    assert [lesson.title for lesson in course.lessons] == ["Gamma", "Alpha", "Beta"]  # "10-c" < "a" < "b"


def test_sphinx_page_sources_beside_the_pages_are_not_lessons_twice(tmp_path: Path) -> None:
    source = tmp_path / "site"
    shutil.copytree(SITES / "sphinx", source)
    write_tree(source, {"_sources/usage.rst.txt": (SITES / "src/sphinx/usage.rst").read_bytes(),
                        "notes.txt": b"My notes\nNot linked from any page.\n"})
    course, skipped = imported(source, tmp_path / "out")
    assert "source of a web page" in skipped["_sources/usage.rst.txt"]
    assert [lesson.title for lesson in course.lessons][-1] == "My notes"  # after the table of contents


def test_page_without_generator_markers() -> None:
    html = """<html><head><title>Loops · My site</title></head><body>
      <header><a href="/">My site</a> <a href="/about">About</a></header>
      <div class="sidebar"><h3>On this page</h3><ul><li><a href="#for">for</a></li></ul></div>
      <div id="content"><h1>Loops<a href="#loops">#</a></h1><p>A <b>for</b> loop repeats.</p>
        <h2 id="for">The for loop <a class="headerlink" href="#for">¶</a></h2>
        <pre><code class="language-python">print("```")
for i in range(3):
    print(i)</code></pre>
        <div class="breadcrumbs">Home » Loops</div></div>
      <footer>© 2026 Me</footer></body></html>"""
    page = extract_page(html)
    assert page.title == "Loops · My site" and page.h1 == "Loops"
    assert page.markdown == ("# Loops\n\nA **for** loop repeats.\n\n## The for loop\n\n"
                             "````python\nprint(\"```\")\nfor i in range(3):\n    print(i)\n````")
    assert "/about" in page.page_links and "/about" not in page.main_links


@pytest.mark.parametrize(("titles", "suffix"), [
    (["1. Intro — Wickbox 1.0 documentation", "2. Use — Wickbox 1.0 documentation", "Index"],
     " — Wickbox 1.0 documentation"),
    (["Lampwright", "1. Setup - Lampwright", "2. Lighting - Lampwright"], " - Lampwright"),
    (["Install | ACME Docs", "Use | ACME Docs", "FAQ | ACME Docs", "Changelog"], " | ACME Docs"),
    (["Python - Wikipedia"], ""),  # one page: nothing to compare with
    (["Pre - processing", "Loops", "Classes", "Files"], ""),  # one title with a dash is not a site name
])
def test_common_title_suffix(titles: list[str], suffix: str) -> None:
    assert common_title_suffix(titles) == suffix


def test_strip_title_suffix() -> None:
    assert strip_title_suffix("2. Use — Wickbox 1.0 documentation", " — Wickbox 1.0 documentation") == "2. Use"
    assert strip_title_suffix("Lampwright", " - Lampwright") == ""  # the home page: its h1 names it
    assert strip_title_suffix("Index", " - Lampwright") == "Index"


def test_title_numbers_and_links() -> None:
    assert title_number("16. Appendix") == (16,) and title_number("2.3. Loops") == (2, 3)
    assert title_number("2024 in review") is None and title_number("Intro") is None
    items = ["16. Appendix", "Preface", "1. Start", "9. Later", "4. Middle"]
    assert by_title_numbers(items, str) == ["1. Start", "Preface", "4. Middle", "9. Later", "16. Appendix"]
    assert by_title_numbers(["Intro", "Setup", "3. Only"], str) == ["Intro", "Setup", "3. Only"]
    pages = frozenset({"index.html", "setup/index.html", "a b.html"})
    assert resolve_link("setup/index.html", "..", pages) == "index.html"
    assert resolve_link("index.html", "setup/#fitting", pages) == "setup/index.html"
    assert resolve_link("index.html", "a%20b.html?x=1", pages) == "a b.html"
    assert resolve_link("index.html", "https://example.org/setup/", pages) is None
    assert resolve_link("index.html", "#top", pages) is None
    assert resolve_link("index.html", "../outside.html", pages) is None


# -- running headers and footers -------------------------------------------------------------------


def test_markdown_running_header_and_footer_are_dropped(tmp_path: Path) -> None:
    def note(n: int, body: str) -> bytes:
        return (f"ACME internal, do not share\n\n# Note {n}\n\n{body}\n\n"
                f"Page {n} of 4 · © 2026 ACME\n").encode()

    source = write_tree(tmp_path / "notes", {
        "a.md": note(1, "Loops repeat code.\n\nACME internal, do not share"),  # mid-page: still near the end
        "b.md": note(2, "Break stops a loop.\n\nLonger text here.\n\nMore.\n\nAnd more.\n\n"
                        "ACME internal, do not share\n\nThe end of the middle.\n\nTail one.\n\nTail two."),
        "c.md": note(3, "```\nprint('ACME internal, do not share')\n```"),
        "d.md": note(4, "Files are read with open()."),
    })
    course, _ = imported(source, tmp_path / "out")
    bodies = {lesson.title: lesson.body.strip() for lesson in course.lessons}
    assert bodies["Note 1"] == "# Note 1\n\nLoops repeat code."
    assert bodies["Note 4"] == "# Note 4\n\nFiles are read with open()."
    assert "ACME internal, do not share\n\nThe end of the middle." in bodies["Note 2"]  # mid-page text stays
    assert bodies["Note 3"] == "# Note 3\n\n```\nprint('ACME internal, do not share')\n```"  # code is never touched
    assert not any("© 2026 ACME" in body for body in bodies.values())


def test_two_markdown_files_are_too_few_to_call_a_line_a_header(tmp_path: Path) -> None:
    source = write_tree(tmp_path / "notes", {"a.md": b"Draft\n\n# A\n\nText a.\n",
                                             "b.md": b"Draft\n\n# B\n\nText b.\n"})
    course, _ = imported(source, tmp_path / "out")
    assert all(lesson.body.startswith("Draft") for lesson in course.lessons)


def test_pdf_running_header_and_footer_are_dropped(tmp_path: Path) -> None:
    source = tmp_path / "pdfs"
    source.mkdir()
    body = ["Loops repeat code.", "Break stops a loop.", "Files are read with open()."]
    write_pdf(source / "handbook.pdf", [["Lantern Handbook", text, f"Page {n} of 3"]
                                             for n, text in enumerate(body, start=1)], title="Handbook")
    course, _ = imported(source, tmp_path / "out")
    text = course.lessons[0].body
    assert "## Page 1\n\nLoops repeat code." in text and "## Page 3\n\nFiles are read with open()." in text
    assert "Lantern Handbook" not in text and "of 3" not in text
