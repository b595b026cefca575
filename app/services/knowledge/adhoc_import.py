"""Turn a plain folder of notes (Markdown, HTML, text, PDF) into a course folder.

A learner's own material rarely comes as a course pack; this makes one so the same index, search
and citations work on it. Every file becomes one lesson in natural order ("2 x" before "10 x"); a
file that cannot be read is skipped with a reason instead of failing the whole import.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import tomli_w
import yaml  # type: ignore[import-untyped]  # no types-PyYAML in the environment

from app.core.course_format import ID_HINT, first_h1, is_valid_course_id, parse_lesson, parse_manifest, slug_for_id
from app.core.courses import COURSE_MANIFEST, CourseManifest
from app.core.errors import CourseInvalid, LanternError
from app.core.i18n import N_, _
from app.services.knowledge.course_files import undo_fill

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
    files = _source_files(source)
    converted: list[tuple[str, str, str]] = []  # (relative source path, title, markdown body)
    skipped: list[tuple[str, str]] = []
    for path in files:
        rel = path.relative_to(source).as_posix()
        try:
            lesson_title, body = _convert(path)
        except _Skip as exc:
            skipped.append((rel, str(exc)))
            continue
        converted.append((rel, lesson_title, body))
    if not converted:
        raise CourseInvalid(_("No lessons found in '{source}': no file there could be imported.").format(
                              source=source),
                            hint=_("Lantern can import {supported} files.").format(supported=_(SUPPORTED)),
                            debug_context={"skipped": skipped})
    width = max(2, len(str(len(converted))))
    lessons_dir = dest / "lessons"
    lessons_dir.mkdir(parents=True, exist_ok=True)
    lessons: list[str] = []
    for number, (rel, lesson_title, body) in enumerate(converted, start=1):
        stem = f"{number:0{width}d}-{slug_for_id(Path(rel).stem, fallback='lesson')[:48].strip('-.')}"
        front = yaml.safe_dump({"title": lesson_title, "source": rel}, allow_unicode=True, sort_keys=False)
        (lessons_dir / f"{stem}.md").write_text(f"---\n{front}---\n{body.rstrip()}\n", encoding="utf-8")
        lessons.append(f"lessons/{stem}.md")
    text = tomli_w.dumps({"format": 1, "id": course_id, "title": title, "version": "1.0.0", "language": language,
                          "description": f"Imported from {name}", "lessons": lessons})
    manifest = parse_manifest(text, source=COURSE_MANIFEST)  # the same rules as any other course
    (dest / COURSE_MANIFEST).write_text(text, encoding="utf-8")
    return AdhocResult(manifest=manifest, lessons=tuple(lessons), skipped=tuple(skipped))


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


def _convert(path: Path) -> tuple[str, str]:
    """(title, Markdown body) for one file, or _Skip saying why it cannot be a lesson."""
    suffix = path.suffix.lower()
    if suffix not in MARKDOWN_SUFFIXES | HTML_SUFFIXES | {".txt", ".pdf"}:
        raise _Skip(_("not a supported file type ({suffix})").format(suffix=suffix or _("no extension")))
    try:
        size = path.stat().st_size
        if size > MAX_SOURCE_FILE_BYTES:
            raise _Skip(_("larger than {max_source_file_bytes} MiB").format(
                          max_source_file_bytes=MAX_SOURCE_FILE_BYTES // MiB))
        if suffix == ".pdf":
            return _pdf(path)
        data = path.read_bytes()
    except OSError as exc:
        raise _Skip(_("could not be read ({reason})").format(reason=exc.strerror or exc)) from exc
    fallback = path.stem.replace("_", " ").strip() or path.name
    if suffix in HTML_SUFFIXES:
        return _html(data, fallback)
    text = _utf8(data).replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise _Skip(_("the file is empty"))
    if suffix in MARKDOWN_SUFFIXES:
        return _markdown(text, fallback, path.name)
    return _text(text, fallback)


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
    parts = [f"# {_escape_line(title)}"]
    for number, text in enumerate(pages, start=1):
        if text.strip():
            parts.append(f"## Page {number}\n\n{_escape(text.strip())}")
    return title, "\n\n".join(parts)


# -- HTML -------------------------------------------------------------------------------------------

_BREAK = "\x00"  # the end of a list: the next list starts a new one
_DROPPED = frozenset({"script", "style", "nav", "noscript", "template", "svg"})
_BLOCKS = frozenset({"p", "div", "section", "article", "main", "header", "footer", "aside", "table", "tr",
                     "ul", "ol", "dl", "dt", "dd", "figure", "figcaption", "hr", "form"})


class _HtmlToMarkdown(HTMLParser):
    """Headings, paragraphs, lists and code: the structure sections and chunks are built from."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[str] = []
        self.line: list[str] = []
        self.title = ""
        self.h1 = ""
        self._dropped = 0  # depth inside script/style/nav
        self._in_title = False
        self._pre: list[str] | None = None
        self._heading = 0
        self._lists: list[str] = []  # "ul"/"ol" nesting
        self._counters: list[int] = []
        self._quote = 0
        self._indent = ""  # of the current nested list item

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        if tag in _DROPPED:
            self._dropped += 1
            return
        if self._dropped:
            return
        if self._pre is not None:
            return
        if tag == "pre":
            self._flush()
            self._pre = []
        elif tag == "code":
            self.line.append("`")
        elif tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self._flush()
            self._heading = int(tag[1])
        elif tag in ("ul", "ol"):
            self._flush()
            self._lists.append(tag)
            self._counters.append(0)
        elif tag == "li":
            self._flush()
            if self._counters:
                self._counters[-1] += 1
            ordered = bool(self._lists) and self._lists[-1] == "ol"
            marker = f"{self._counters[-1]}." if ordered else "-"
            self.line.append(marker + " ")
            self._indent = "  " * max(len(self._lists) - 1, 0)
        elif tag == "blockquote":
            self._flush()
            self._quote += 1
        elif tag == "br":
            self._flush(keep_list=True)
        elif tag in ("td", "th"):
            self.line.append(" | ")
        elif tag in _BLOCKS:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag in _DROPPED:
            self._dropped = max(self._dropped - 1, 0)
            return
        if self._dropped:
            return
        if tag == "pre" and self._pre is not None:
            code = "".join(self._pre).strip("\n")
            fence = "````" if "```" in code else "```"
            self.blocks.append(f"{fence}\n{code}\n{fence}")
            self._pre = None
        elif self._pre is not None:
            return
        elif tag == "code":
            self.line.append("`")
        elif tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            text = _squash("".join(self.line))
            self.line = []
            if text:
                self.blocks.append(f"{'#' * (self._heading or int(tag[1]))} {text}")
                if self._heading == 1 and not self.h1:
                    self.h1 = text
            self._heading = 0
        elif tag in ("ul", "ol"):
            self._flush()
            if self._lists:
                self._lists.pop()
                self._counters.pop()
            self.blocks.append(_BREAK)
        elif tag == "blockquote":
            self._flush()
            self._quote = max(self._quote - 1, 0)
        elif tag in _BLOCKS or tag == "li":
            self._flush()

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
            return
        if self._dropped:
            return
        if self._pre is not None:
            self._pre.append(data)
        else:
            self.line.append(data)

    def _flush(self, *, keep_list: bool = False) -> None:
        text = _squash("".join(self.line))
        self.line = []
        indent, self._indent = self._indent, ""
        if not text or text in ("-", "|"):
            return
        if re.match(r"^(-|\d+\.) ", text):
            text = indent + text
        elif not self._heading:
            text = _escape_line(text)
        if self._quote:
            text = "> " * self._quote + text
        self.blocks.append(text)

    def markdown(self) -> str:
        self._flush()
        out: list[str] = []
        after_break = False
        for block in self.blocks:
            if block == _BREAK:
                after_break = True
                continue
            is_item = bool(re.match(r"^(> )*\s*(-|\d+\.) ", block))
            same_list = is_item and not after_break and out and re.match(r"^\n*(> )*\s*(-|\d+\.) ", out[-1])
            out.append(("\n" if same_list else "\n\n") + block if out else block)
            after_break = False
        return "".join(out)


def _squash(text: str) -> str:
    return re.sub(r"[ \t\r\n\f]+", " ", text).strip()


def _html(data: bytes, fallback: str) -> tuple[str, str]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        declared = re.search(rb"""<meta[^>]+charset=["']?([A-Za-z0-9_.:-]+)""", data[:4096], re.IGNORECASE)
        try:
            text = data.decode(declared.group(1).decode("ascii")) if declared else _utf8(data)
        except (LookupError, UnicodeDecodeError) as exc:
            raise _Skip(_("its text encoding cannot be read; save it as UTF-8")) from exc
    parser = _HtmlToMarkdown()
    parser.feed(text)
    parser.close()
    body = parser.markdown().strip()
    if not body:
        raise _Skip(_("the page has no text"))
    title = _squash(parser.title) or parser.h1 or fallback
    if first_h1(body) is None:
        body = f"# {_escape_line(title)}\n\n{body}"
    return title, body
