"""Decisions an ad-hoc import makes over all its pages at once, not one file at a time.

- The site name every page's <title> ends with (" — Wickbox 1.0 documentation", " - Lampwright",
  " | ACME Docs") is found as the suffix most titles share, not from a list of generators.
- Lines repeated at the top or bottom of most pages (a running header, "Page 3 of 12", a copyright
  footer) are chrome, not content: across the Markdown/HTML files of a folder, and across the pages
  of one PDF.
- Lesson order follows the site's own table of contents (the index page's links in document order),
  else the numbers in the titles ("1.", "2.", … "16."), else the file names.

Pure functions over strings; adhoc_import.py reads the files and writes the course.
"""

from __future__ import annotations

import posixpath
import re
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TypeVar
from urllib.parse import unquote, urlsplit

T = TypeVar("T")

# A title's parts: "Page — Site", "Page – Site", "Page - Site", "Page | Site", "Page · Site", "Page :: Site".
_SEPARATOR = re.compile(r"\s+(?:—|–|-|\||·|::|»)\s+")
_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s")
_TITLE_NUMBER = re.compile(r"^\s*(\d{1,4}(?:\.\d{1,4})*)[.)]\s+\S")
EDGE_LINES = 3  # how far from the top and bottom of a page a running header or footer sits
INDEX_NAMES = ("index.html", "index.htm")


# -- the site name in the titles ------------------------------------------------------------------


def common_title_suffix(titles: Sequence[str]) -> str:
    """The longest " <sep> Site name" that at least half the titles (and two or more) end with; "" if none.

    A title that is the site name alone (a home page titled "Lampwright") counts as having it.
    """
    present = [t for t in titles if t]
    if len(present) < 2:
        return ""
    counts: Counter[str] = Counter()
    for title in set(present):
        weight = present.count(title)
        for match in _SEPARATOR.finditer(title):
            counts[title[match.start():]] += weight
    best = ""
    for suffix, count in counts.items():
        bare = _SEPARATOR.sub("", suffix, count=1)
        total = count + sum(1 for t in present if t == bare)
        if total * 2 >= len(present) and total >= 2 and len(suffix) > len(best):
            best = suffix
    return best


def strip_title_suffix(title: str, suffix: str) -> str:
    """`title` without the site suffix; "" when the title is the site name alone."""
    if not suffix:
        return title
    if title.endswith(suffix):
        return title[: -len(suffix)].rstrip()
    return "" if title == _SEPARATOR.sub("", suffix, count=1) else title


# -- running headers and footers ------------------------------------------------------------------


def _normal(line: str) -> str:
    """A line as it repeats: page numbers and dates differ, so digits count as one."""
    return re.sub(r"\d+", "0", re.sub(r"\s+", " ", line).strip()).casefold()


def _edge_lines(text: str) -> list[int]:
    """Indexes of the lines a header or footer may be: the first and last few that are text, not code or headings."""
    candidates: list[int] = []
    fence = False
    for number, line in enumerate(text.split("\n")):
        if _FENCE.match(line):
            fence = not fence
            continue
        if fence or not line.strip() or _HEADING.match(line) or not re.search(r"\w", line):
            continue
        candidates.append(number)
    if len(candidates) <= 2 * EDGE_LINES:
        return candidates
    return candidates[:EDGE_LINES] + candidates[-EDGE_LINES:]


def repeated_edge_lines(texts: Sequence[str]) -> frozenset[str]:
    """Normalised lines found near the top or bottom of most texts (at least 3, and over half of them)."""
    if len(texts) < 3:
        return frozenset()
    counts: Counter[str] = Counter()
    for text in texts:
        lines = text.split("\n")
        counts.update({_normal(lines[i]) for i in _edge_lines(text)})
    needed = max(3, len(texts) // 2 + 1)
    return frozenset(line for line, count in counts.items() if count >= needed)


def drop_edge_lines(text: str, repeated: frozenset[str]) -> str:
    """`text` without the repeated header/footer lines near its top and bottom (the same line mid-page stays)."""
    if not repeated:
        return text
    lines = text.split("\n")
    drop = {i for i in _edge_lines(text) if _normal(lines[i]) in repeated}
    kept = "\n".join(line for i, line in enumerate(lines) if i not in drop)
    return re.sub(r"\n{3,}", "\n\n", kept).strip("\n")


# -- lesson order ----------------------------------------------------------------------------------


def resolve_link(page: str, href: str, pages: frozenset[str]) -> str | None:
    """The page of the set (relative posix path) that `href` on `page` points to, or None."""
    parts = urlsplit(href)
    if parts.scheme or parts.netloc or (not parts.path and href.startswith(("#", "?"))):
        return None
    path = unquote(parts.path)
    target = posixpath.normpath(posixpath.join(posixpath.dirname(page), path)) if path else page
    if target.startswith("../") or target == "..":
        return None
    target = "" if target == "." else target
    tries = [target] if target in pages else []
    tries += [posixpath.join(target, name) for name in INDEX_NAMES] + [target + ".html", target + ".htm"]
    return next((t for t in tries if t in pages), None)


def index_page(pages: Sequence[str]) -> str | None:
    """The site's home page: the index.html nearest the top of the folder."""
    found = [p for p in pages if posixpath.basename(p).lower() in INDEX_NAMES]
    return min(found, key=lambda p: (p.count("/"), p)) if found else None


def toc_order(index: str, main_links: Sequence[str], page_links: Sequence[str],
              pages: Sequence[str]) -> list[str] | None:
    """Pages in the order the index page links to them: its content's links (a Sphinx toctree) when they
    reach at least half the other pages, else all its links (a navigation bar, the MkDocs nav).

    The index comes first, pages it does not link to keep their order after the rest; None when the
    index links to no other page (no table of contents to follow).
    """
    known = frozenset(pages)
    others = len(known - {index})

    def linked(hrefs: Sequence[str]) -> list[str]:
        seen: list[str] = []
        for href in hrefs:
            target = resolve_link(index, href, known)
            if target is not None and target != index and target not in seen:
                seen.append(target)
        return seen

    from_content = linked(main_links)
    order = from_content if others and len(from_content) * 2 >= others else linked(page_links)
    if not order:
        return None
    return [index, *order, *(p for p in pages if p != index and p not in order)]


def title_number(title: str) -> tuple[int, ...] | None:
    """(1,) for "1. Introduction", (2, 3) for "2.3. Loops", None for a title without a leading number."""
    found = _TITLE_NUMBER.match(title)
    return tuple(int(part) for part in found.group(1).split(".")) if found else None


def by_title_numbers(items: list[T], title: Callable[[T], str]) -> list[T]:
    """Numbered items sorted by their numbers when at least two and half of all carry one.

    Unnumbered items keep their places; the numbered ones are reordered among the places they hold.
    """
    numbers = [title_number(title(item)) for item in items]
    slots = [i for i, n in enumerate(numbers) if n is not None]
    if len(slots) < 2 or len(slots) * 2 < len(items):
        return list(items)
    ordered = sorted(slots, key=lambda i: numbers[i] or ())
    result = list(items)
    for slot, source in zip(slots, ordered, strict=True):
        result[slot] = items[source]
    return result
