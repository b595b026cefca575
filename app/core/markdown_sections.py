"""Split a lesson's Markdown into sections by heading, with GitHub-style anchors for citations.

markdown-it-py (CommonMark) finds the headings, so `#` lines inside fenced code, setext headings
and inline formatting in heading text are handled as any Markdown viewer would; the section text is
then cut from the source lines, so it stays the author's Markdown.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from typing import Any

from app.core.courses import Section


def _slug_char(ch: str) -> bool:
    # Letters, marks (Devanagari vowel signs, combining accents) and digits of any script, as GitHub keeps.
    return ch in "-_ " or unicodedata.category(ch)[0] in "LMN"


def slugify(heading: str) -> str:
    """GitHub's anchor rule: lowercase, drop everything but letters, digits, spaces, '-' and '_',
    then spaces become '-'. Letters of any script stay ("vòng-lặp-for")."""
    text = unicodedata.normalize("NFC", heading).strip().lower()
    return "".join(ch for ch in text if _slug_char(ch)).replace(" ", "-")


@lru_cache(maxsize=1)
def _parser() -> Any:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark")


def heading_text(inline: Any) -> str:
    """The visible text of a heading's inline token (link targets and markup dropped)."""
    parts = [" " if child.type == "softbreak" else child.content
             for child in (inline.children or []) if child.type in ("text", "code_inline", "softbreak")]
    return "".join(parts).strip() if parts else inline.content.strip()


def split_sections(lesson_id: str, body: str) -> list[Section]:
    """Every heading's section in document order; text before the first heading is a level-0 section.
    Sections with no text of their own (a heading directly followed by a subheading) are kept, so
    every anchor a citation may use exists."""
    # markdown-it counts lines by "\n" only (after normalising "\r\n"); str.splitlines() would also
    # break at form feeds and U+2028, and the line numbers would no longer match.
    body = body.replace("\r\n", "\n").replace("\r", "\n")
    lines = body.split("\n")
    tokens = _parser().parse(body)
    headings: list[tuple[int, int, int, str]] = []  # (start line, end line, level, text)
    for i, token in enumerate(tokens):
        if token.type == "heading_open" and token.map and token.level == 0:
            headings.append((token.map[0], token.map[1], int(token.tag[1]), heading_text(tokens[i + 1])))

    sections: list[Section] = []
    first = headings[0][0] if headings else len(lines)
    preamble = "\n".join(lines[:first]).strip()
    if preamble:
        sections.append(Section(lesson_id, (), (), preamble, 0))

    used: set[str] = set()
    stack: list[tuple[int, str, str]] = []  # (level, title, anchor) of the open headings
    for n, (_start, end, level, title) in enumerate(headings):
        base = anchor = slugify(title) or "section"
        n_repeat = 0
        while anchor in used:  # GitHub numbers repeats "-1", "-2", ... skipping anchors already taken
            n_repeat += 1
            anchor = f"{base}-{n_repeat}"
        used.add(anchor)
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, title, anchor))
        stop = headings[n + 1][0] if n + 1 < len(headings) else len(lines)
        text = "\n".join(lines[end:stop]).strip()
        sections.append(Section(lesson_id, tuple(t for _, t, _ in stack), tuple(a for _, _, a in stack), text, level))
    return sections


def section_anchors(lesson_id: str, body: str) -> set[str]:
    return {anchor for section in split_sections(lesson_id, body) for anchor in section.anchors}
