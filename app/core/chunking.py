"""Heading-aware chunking of lessons, by tokens, with overlap.

Each section (app.core.markdown_sections) is chunked on its own, so a chunk never spans two
headings and its heading path is exact for citations. Within a section the text is cut into units
(sentences of prose, lines of code; a fenced code block is one block), packed greedily up to the
budget; the next chunk starts with the last units of the previous one, up to `overlap_tokens`, so
an answer that straddles a cut is still found whole in one chunk. A unit longer than the budget is
split by words.

The budget is `max_tokens` minus the heading path, because the embedded text is
"Lesson > Section > Subsection" + the chunk (CourseChunk.embed_text): the path gives short chunks
their topic, which all-MiniLM-style embedders need (they see nothing else of the lesson).
Tokens are counted by the caller's `count_tokens` (the embedding model's tokenizer, without its
special tokens): chunk sizes then match what the embedder will really see.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from app.core.courses import CourseChunk, Lesson, Section
from app.core.markdown_sections import split_sections

CountTokens = Callable[[str], int]

# A sentence ends at . ! ? or … followed by white space (good enough for English and Vietnamese
# prose; code never goes through this).
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")
_FENCE = re.compile(r"^\s{0,3}(```|~~~)")


@dataclass(frozen=True)
class ChunkingPolicy:
    # all-MiniLM-L6-v2 reads at most 256 tokens; 160 leaves room for the heading path and keeps a
    # chunk to about one idea, which is what a citation should point at.
    max_tokens: int = 160
    overlap_tokens: int = 32
    min_budget: int = 32  # even under a very long heading path

    def __post_init__(self) -> None:
        if not 0 <= self.overlap_tokens < self.max_tokens // 2:
            raise ValueError("overlap_tokens must be at least 0 and under half of max_tokens")


@dataclass(frozen=True)
class _Unit:
    text: str
    sep: str  # what joins it to the unit before it: "\n\n" (new block), " " (prose), "\n" (code)
    tokens: int


def _blocks(text: str) -> Iterator[tuple[str, bool]]:
    """(block, is_code): blocks are split at blank lines, except inside fenced code."""
    current: list[str] = []
    in_fence = False
    for line in text.splitlines():
        if _FENCE.match(line):
            if not in_fence and current:
                yield "\n".join(current), False
                current = []
            current.append(line)
            if in_fence:
                yield "\n".join(current), True
                current = []
            in_fence = not in_fence
            continue
        if not in_fence and not line.strip():
            if current:
                yield "\n".join(current), False
                current = []
            continue
        current.append(line)
    if current:
        yield "\n".join(current), in_fence


def _units(text: str, count: CountTokens, budget: int) -> list[_Unit]:
    units: list[_Unit] = []
    for block, is_code in _blocks(text):
        if is_code and count(block) <= budget:  # a code block that fits stays whole, fences included
            units.append(_Unit(block, "\n\n", count(block)))
            continue
        pieces = block.splitlines() if is_code else [s for s in _SENTENCE_END.split(block) if s]
        for i, piece in enumerate(pieces):
            sep = "\n\n" if i == 0 else ("\n" if is_code else " ")
            units.append(_Unit(piece, sep, count(piece)))
    return units


def _split_long(unit: _Unit, budget: int, count: CountTokens) -> list[_Unit]:
    """Cut a unit longer than the budget into word runs that fit (a minified line, a huge sentence)."""
    words = unit.text.split()
    out: list[_Unit] = []
    start = 0
    while start < len(words):
        lo, hi = start + 1, len(words)
        while lo < hi:  # the longest run from `start` that fits; at least one word
            mid = (lo + hi + 1) // 2
            if count(" ".join(words[start:mid])) <= budget:
                lo = mid
            else:
                hi = mid - 1
        piece = " ".join(words[start:lo])
        out.append(_Unit(piece, unit.sep if not out else " ", count(piece)))
        start = lo
    return out


def _join(units: list[_Unit]) -> str:
    return "".join(u.text if i == 0 else u.sep + u.text for i, u in enumerate(units)).strip()


def _pack(units: list[_Unit], budget: int, overlap: int) -> list[list[_Unit]]:
    chunks: list[list[_Unit]] = []
    current: list[_Unit] = []
    used = 0
    for unit in units:
        if current and used + unit.tokens > budget:
            chunks.append(current)
            carry: list[_Unit] = []
            carried = 0
            for prev in reversed(current[1:]):  # never carry the whole chunk: each chunk must advance
                if carried + prev.tokens > overlap:
                    break
                carry.insert(0, prev)
                carried += prev.tokens
            while carry and carried + unit.tokens > budget:
                carried -= carry.pop(0).tokens
            current, used = carry, carried
        current.append(unit)
        used += unit.tokens
    if current:
        chunks.append(current)
    return chunks


def heading_path(lesson_title: str, titles: tuple[str, ...]) -> str:
    """"Lesson > Section > Subsection", without repeating a first heading that is the lesson title."""
    if titles and titles[0].strip().lower() == lesson_title.strip().lower():
        titles = titles[1:]
    return " > ".join(t for t in (lesson_title, *titles) if t)


def chunk_section(section: Section, *, lesson_title: str, count_tokens: CountTokens,
                  policy: ChunkingPolicy, first_ordinal: int = 0) -> list[CourseChunk]:
    if not section.text.strip():
        return []
    path = heading_path(lesson_title, section.titles)
    budget = max(policy.min_budget, policy.max_tokens - (count_tokens(path) + 1 if path else 0))
    units: list[_Unit] = []
    for unit in _units(section.text, count_tokens, budget):
        units.extend(_split_long(unit, budget, count_tokens) if unit.tokens > budget else [unit])
    chunks = []
    for n, packed in enumerate(_pack(units, budget, policy.overlap_tokens)):
        chunk = CourseChunk(
            lesson_id=section.lesson_id, ordinal=first_ordinal + n, titles=section.titles,
            anchors=section.anchors, text=_join(packed), token_count=0, lesson_title=lesson_title)
        embed_text = chunk.embed_text
        chunks.append(CourseChunk(
            lesson_id=chunk.lesson_id, ordinal=chunk.ordinal, titles=chunk.titles, anchors=chunk.anchors,
            text=chunk.text, token_count=count_tokens(embed_text), lesson_title=lesson_title,
            chunk_hash=hashlib.sha256(embed_text.encode("utf-8")).hexdigest()))
    return chunks


def chunk_lesson(lesson: Lesson, *, count_tokens: CountTokens,
                 policy: ChunkingPolicy | None = None) -> list[CourseChunk]:
    """Every chunk of a lesson, in reading order, numbered from 0."""
    policy = policy or ChunkingPolicy()
    chunks: list[CourseChunk] = []
    for section in split_sections(lesson.id, lesson.body):
        chunks.extend(chunk_section(section, lesson_title=lesson.title, count_tokens=count_tokens,
                                    policy=policy, first_ordinal=len(chunks)))
    return chunks
