"""Turn a plain folder of notes (Markdown, HTML, text, PDF) into a course folder.

A learner's own material rarely comes as a course pack; this makes one so the same index, search
and citations work on it. Every file becomes one lesson; a file that cannot be read is skipped with a
reason instead of failing the whole import. Web pages keep only their main content
(html_content.py); the order is the site's table of contents, else the numbers in the titles, else
natural file order ("2 x" before "10 x"); running headers and footers repeated across the pages are
dropped (site_cleanup.py).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import tomli_w
import yaml  # type: ignore[import-untyped]  # no types-PyYAML in the environment

from app.core.course_format import ID_HINT, first_h1, is_valid_course_id, parse_lesson, parse_manifest, slug_for_id
from app.core.courses import COURSE_MANIFEST, CourseManifest
from app.core.errors import CourseInvalid, LanternError
from app.core.i18n import N_, _
from app.services.knowledge.course_files import undo_fill
from app.services.knowledge.html_content import HtmlPage, decode_html, extract_page
from app.services.knowledge.site_cleanup import (
    by_title_numbers,
    common_title_suffix,
    drop_edge_lines,
    index_page,
    repeated_edge_lines,
    resolve_link,
    strip_title_suffix,
    toc_order,
)

MiB = 1024 * 1024
MAX_SOURCE_FILE_BYTES = 50 * MiB  # a bigger "note" is a book scan or a dump: slow to convert, poor to search
# Walking a whole home folder by mistake would take minutes; a course of notes is far smaller.
MAX_SOURCE_FILES = 5000
MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})
HTML_SUFFIXES = frozenset({".html", ".htm"})
SUPPORTED = N_("Markdown (.md, .markdown), HTML (.html, .htm), text (.txt) and PDF (.pdf)")
_TITLE_MAX = 80  # a first line longer than this is a paragraph, not a title


@dataclass(frozen=True)
class AdhocResult:
    manifest: CourseManifest
    lessons: tuple[str, ...]  # lesson files written, relative to the course folder
    skipped: tuple[tuple[str, str], ...]  # (source file relative to the folder, why it was skipped)


class _Skip(Exception):
    """A file that cannot become a lesson; the import goes on without it."""


@dataclass(frozen=True)
class _Lesson:
    rel: str  # the source file, relative to the folder
    kind: str  # "markdown", "html", "text" or "pdf"
    title: str
    body: str  # Markdown
    page: HtmlPage | None = None  # what the web page held, for the decisions made over all pages


def build_adhoc_course(source: Path, dest: Path, *, course_id: str | None = None, title: str | None = None,
                       language: str = "en") -> AdhocResult:
    """Write a course folder at `dest` (new or empty) from the files under `source`.

    On failure `dest` is left as it was; the caller validates the result with read_course.
    """
    if not source.is_dir():
        raise CourseInvalid(_("'{source}' is not a folder.").format(
                              source=source), hint=_("Choose a folder of notes to import."))
    name = source.resolve().name or "course"
    if course_id is not None and not is_valid_course_id(course_id):
        raise CourseInvalid(_("'{course_id}' cannot be a course id.").format(course_id=course_id), hint=_(ID_HINT))
    existed = dest.exists()
    if existed and any(dest.iterdir()):
        raise ValueError(f"build_adhoc_course needs a new or empty folder, not {dest}")
    try:
        return _build(source, dest, name=name, course_id=course_id or slug_for_id(name),
                      title=title or name, language=language)
    except BaseException:
        undo_fill(dest, existed=existed)
        raise


def _build(source: Path, dest: Path, *, name: str, course_id: str, title: str, language: str) -> AdhocResult:
    converted: list[_Lesson] = []
    skipped: list[tuple[str, str]] = []
    for path in _source_files(source):
        rel = path.relative_to(source).as_posix()
        try:
            converted.append(_convert(path, rel))
        except _Skip as exc:
            skipped.append((rel, str(exc)))
    pages = {lesson.rel: lesson.page for lesson in converted if lesson.page is not None}
    converted = _ordered(_without_running_lines(_tidy_html(converted, skipped)), pages)
    if not converted:
        raise CourseInvalid(_("No lessons found in '{source}': no file there could be imported.").format(
                              source=source),
                            hint=_("Lantern can import {supported} files.").format(supported=_(SUPPORTED)),
                            debug_context={"skipped": skipped})
    width = max(2, len(str(len(converted))))
    lessons_dir = dest / "lessons"
    lessons_dir.mkdir(parents=True, exist_ok=True)
    lessons: list[str] = []
    for number, lesson in enumerate(converted, start=1):
        stem = f"{number:0{width}d}-{slug_for_id(_stem_name(lesson.rel), fallback='lesson')[:48].strip('-.')}"
        front = yaml.safe_dump({"title": lesson.title, "source": lesson.rel}, allow_unicode=True, sort_keys=False)
        (lessons_dir / f"{stem}.md").write_text(f"---\n{front}---\n{lesson.body.rstrip()}\n", encoding="utf-8")
        lessons.append(f"lessons/{stem}.md")
    text = tomli_w.dumps({"format": 1, "id": course_id, "title": title, "version": "1.0.0", "language": language,
                          "description": f"Imported from {name}", "lessons": lessons})
    manifest = parse_manifest(text, source=COURSE_MANIFEST)  # the same rules as any other course
    (dest / COURSE_MANIFEST).write_text(text, encoding="utf-8")
    return AdhocResult(manifest=manifest, lessons=tuple(lessons), skipped=tuple(skipped))


def _stem_name(rel: str) -> str:
    """The name a lesson id is made from: "setup" for "setup/index.html" (MkDocs' folder-per-page URLs)."""
    path = Path(rel)
    return path.parent.name if path.stem.lower() == "index" and path.parent.name else path.stem


def _fallback_title(rel: str) -> str:
    return _stem_name(rel).replace("_", " ").strip() or Path(rel).name


def _without_running_lines(lessons: list[_Lesson]) -> list[_Lesson]:
    """Markdown files lose the lines most of them repeat at their top or bottom (a header, a footer)."""
    repeated = repeated_edge_lines([lesson.body for lesson in lessons if lesson.kind == "markdown"])
    if not repeated:
        return lessons
    return [_Lesson(lesson.rel, lesson.kind, lesson.title, drop_edge_lines(lesson.body, repeated), lesson.page)
            if lesson.kind == "markdown" else lesson for lesson in lessons]


def _source_files(source: Path) -> list[Path]:
    found: list[Path] = []
    for folder, dirs, names in os.walk(source):  # does not follow symlinked folders (no loops)
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found.extend(Path(folder) / n for n in names if not n.startswith("."))
        if len(found) > MAX_SOURCE_FILES:
            raise CourseInvalid(_("'{source}' holds more than {max_source_files} files; that is not a folder of "
                                  "notes.").format(source=source, max_source_files=MAX_SOURCE_FILES),
                                hint=_("Choose the folder that holds just the course material."))
    return sorted(found, key=lambda p: _natural_key(p.relative_to(source).as_posix()))


def _natural_key(rel: str) -> list[tuple[int, int | str]]:
    return [(0, int(part)) if part.isdigit() else (1, part.casefold()) for part in re.split(r"(\d+)", rel) if part]


def _convert(path: Path, rel: str) -> _Lesson:
    """One file as a lesson, or _Skip saying why it cannot be one."""
    suffix = path.suffix.lower()
    if suffix not in MARKDOWN_SUFFIXES | HTML_SUFFIXES | {".txt", ".pdf"}:
        raise _Skip(_("not a supported file type ({suffix})").format(suffix=suffix or _("no extension")))
    try:
        size = path.stat().st_size
        if size > MAX_SOURCE_FILE_BYTES:
            raise _Skip(_("larger than {max_source_file_bytes} MiB").format(
                          max_source_file_bytes=MAX_SOURCE_FILE_BYTES // MiB))
        if suffix == ".pdf":
            return _Lesson(rel, "pdf", *_pdf(path))
        data = path.read_bytes()
    except OSError as exc:
        raise _Skip(_("could not be read ({reason})").format(reason=exc.strerror or exc)) from exc
    fallback = _fallback_title(rel)
    if suffix in HTML_SUFFIXES:
        return _html(data, fallback, rel)
    text = _utf8(data).replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise _Skip(_("the file is empty"))
    if suffix in MARKDOWN_SUFFIXES:
        return _Lesson(rel, "markdown", *_markdown(text, fallback, path.name))
    return _Lesson(rel, "text", *_text(text, fallback))


def _utf8(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _Skip(_("not UTF-8 text (bad byte at position {start}); save it as UTF-8").format(
                      start=exc.start)) from exc


def _markdown(text: str, fallback: str, name: str) -> tuple[str, str]:
    try:  # its own front matter, if any, is kept for the title but not the prerequisites (ids change)
        lesson = parse_lesson(text, lesson_id="", path=name, content_hash="")
    except LanternError as exc:
        raise _Skip(exc.user_message) from exc
    if not lesson.body.strip():
        raise _Skip(_("the file has no text after its front matter"))
    return lesson.title or fallback, lesson.body.strip("\n")


def _text(text: str, fallback: str) -> tuple[str, str]:
    lines = text.strip("\n").split("\n")
    first = lines[0].strip()
    if first and len(first) <= _TITLE_MAX:
        title, rest = first, "\n".join(lines[1:])
    else:
        title, rest = fallback, "\n".join(lines)
    return title, f"# {_escape_line(title)}\n\n{_escape(rest.strip())}"


def _escape(text: str) -> str:
    """Plain text stays plain: a line starting with '#' must not become a heading (a new section)."""
    return "\n".join(_escape_line(line) for line in text.split("\n"))


def _escape_line(line: str) -> str:
    return re.sub(r"^(\s*)#", r"\1\\#", line)


# -- PDF --------------------------------------------------------------------------------------------


def _pdf(path: Path) -> tuple[str, str]:
    import pypdf  # only imports that convert a PDF pay for loading it
    from pypdf.errors import PyPdfError

    try:
        reader = pypdf.PdfReader(path)
        if reader.is_encrypted and not reader.decrypt(""):
            raise _Skip(_("the PDF is password-protected"))
        meta_title = reader.metadata.title if reader.metadata else None
        pages = [(page.extract_text() or "").replace("\x00", "") for page in reader.pages]
    except _Skip:
        raise
    except Exception as exc:  # pypdf reports damaged files with many exception types; all mean "unreadable"
        if isinstance(exc, PyPdfError) and "cryptography" in str(exc).lower():
            raise _Skip(_("the PDF is encrypted in a way this install cannot read ({exc})").format(exc=exc)) from exc
        raise _Skip(_("not a readable PDF ({name}: {exc})").format(name=type(exc).__name__, exc=exc)) from exc
    if not any(text.strip() for text in pages):
        raise _Skip(_("the PDF has no text to extract (a scanned document?)"))
    title = meta_title.strip() if isinstance(meta_title, str) and meta_title.strip() else path.stem
    running = repeated_edge_lines(pages)  # a running header, "Page 3 of 12", a footer
    pages = [drop_edge_lines(text, running) for text in pages]
    parts = [f"# {_escape_line(title)}"]
    for number, text in enumerate(pages, start=1):
        if text.strip():
            parts.append(f"## Page {number}\n\n{_escape(text.strip())}")
    return title, "\n\n".join(parts)


# -- HTML -------------------------------------------------------------------------------------------


def _html(data: bytes, fallback: str, rel: str) -> _Lesson:
    text = decode_html(data)
    if text is None:
        raise _Skip(_("its text encoding cannot be read; save it as UTF-8"))
    page = extract_page(text)
    return _Lesson(rel, "html", page.title or page.h1 or fallback, page.markdown, page)


def _tidy_html(lessons: list[_Lesson], skipped: list[tuple[str, str]]) -> list[_Lesson]:
    """Generated pages out, the site name out of the titles, a heading for a page without one."""
    pages = {lesson.rel: lesson.page for lesson in lessons if lesson.page is not None}
    known = frozenset(pages)
    generated = {target for rel, page in pages.items() for href in page.generated_links
                 if (target := resolve_link(rel, href, known)) is not None}
    # Sphinx copies each page's source next to it (_sources/x.rst.txt): the same lesson twice.
    sources = {lesson.rel for lesson in lessons
               if lesson.page is None and (page_of := _sphinx_source_page(lesson.rel)) and page_of in known}
    suffix = common_title_suffix([page.title for page in pages.values()])
    kept: list[_Lesson] = []
    for lesson in lessons:
        page = lesson.page
        if page is None:
            if lesson.rel in sources:
                skipped.append((lesson.rel, _("the source of a web page in the folder, imported as that page")))
            else:
                kept.append(lesson)
            continue
        if lesson.rel in generated or page.noindex or Path(lesson.rel).stem == "404":
            skipped.append((lesson.rel, _("a page the site generates (search, index or error page), not content")))
            continue
        if not lesson.body.strip():
            skipped.append((lesson.rel, _("the page has no text")))
            continue
        title = strip_title_suffix(page.title, suffix) or page.h1 or _fallback_title(lesson.rel)
        body = lesson.body
        if first_h1(body) is None:
            body = f"# {_escape_line(title)}\n\n{body}"
        kept.append(_Lesson(lesson.rel, lesson.kind, title, body, page))
    return kept


def _sphinx_source_page(rel: str) -> str | None:
    """"usage.html" for "_sources/usage.rst.txt" (Sphinx's copy of a page's source, linked or not)."""
    found = re.match(r"^((?:.*/)?)_sources/(.+?)(?:\.[^./]+)?\.txt$", rel)
    return f"{found.group(1)}{found.group(2)}.html" if found else None


def _ordered(lessons: list[_Lesson], pages: dict[str, HtmlPage]) -> list[_Lesson]:
    """The site's table of contents when it has one, else the numbers in the titles, else file names."""
    index = index_page(list(pages))
    toc = toc_order(index, pages[index].main_links, pages[index].page_links, list(pages)) if index else None
    if toc is not None:
        rank = {rel: number for number, rel in enumerate(toc)}
        position = {lesson.rel: number for number, lesson in enumerate(lessons)}
        return sorted(lessons, key=lambda lesson: rank.get(lesson.rel, len(rank) + position[lesson.rel]))
    return by_title_numbers(lessons, lambda lesson: lesson.title)
