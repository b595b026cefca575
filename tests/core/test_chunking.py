"""Heading-aware chunking: token budget, coverage, overlap, section boundaries, code blocks, ordinals."""

from __future__ import annotations

import hashlib
import itertools

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from app.core.chunking import ChunkingPolicy, chunk_lesson, chunk_section, heading_path
from app.core.courses import CourseChunk, Lesson, Section
from app.core.markdown_sections import split_sections


def count_words(text: str) -> int:
    return len(text.split())


def lesson(body: str, title: str = "Loops", lesson_id: str = "05-loops") -> Lesson:
    return Lesson(id=lesson_id, title=title, body=body, content_hash="x")


def section(text: str, titles: tuple[str, ...] = ("Part",), anchors: tuple[str, ...] = ("part",)) -> Section:
    return Section("05-loops", titles, anchors, text, len(titles))


def chunk(sec: Section, policy: ChunkingPolicy, title: str = "Lesson") -> list[CourseChunk]:
    return chunk_section(sec, lesson_title=title, count_tokens=count_words, policy=policy)


# Sections made of uniquely numbered words, so which words a chunk holds tells where it came from.
# Heading path for these sections is "Lesson > Part": 3 words, so the text budget is max_tokens - 4.
PATH_WORDS = 3


@st.composite
def prose(draw, max_sentence: int):
    """(section text, words in order): paragraphs of sentences of 1..max_sentence unique words."""
    counter = itertools.count()
    shape = draw(st.lists(st.lists(st.integers(1, max_sentence), min_size=1, max_size=6), min_size=1, max_size=5))
    paragraphs, words = [], []
    for sentence_lengths in shape:
        sentences = []
        for n in sentence_lengths:
            ws = [f"w{next(counter)}" for _ in range(n)]
            words.extend(ws)
            end = draw(st.sampled_from([".", "!", "?", "…"]))
            sentences.append(" ".join(ws) + end)
        paragraphs.append(" ".join(sentences))
    return "\n\n".join(paragraphs), words


def chunk_words(c: CourseChunk) -> list[str]:
    return [w.rstrip(".!?…") for w in c.text.split()]


@settings(max_examples=150, deadline=None)
@given(data=st.data(), max_tokens=st.integers(8, 60))
def test_every_chunk_fits_and_all_text_is_kept(data, max_tokens):
    overlap = data.draw(st.integers(0, max_tokens // 2 - 1), label="overlap")
    policy = ChunkingPolicy(max_tokens=max_tokens, overlap_tokens=overlap, min_budget=4)
    text, words = data.draw(prose(max_sentence=3 * max_tokens), label="section")
    chunks = chunk(section(text), policy)

    assert chunks
    for c in chunks:
        assert c.token_count == count_words(c.embed_text)
        assert c.token_count <= max_tokens
        assert c.anchors == ("part",) and c.titles == ("Part",)
        assert c.text.strip() == c.text and c.text
    # Every word of the section is in some chunk, and the chunks read in order.
    seen = [w for c in chunks for w in chunk_words(c)]
    assert set(seen) == set(words)
    first_seen = list(dict.fromkeys(seen))
    assert first_seen == words
    # Each chunk advances: it holds some word the previous one did not.
    for a, b in itertools.pairwise(chunks):
        assert set(chunk_words(b)) - set(chunk_words(a))


@settings(max_examples=120, deadline=None)
@given(data=st.data(), overlap=st.integers(1, 10))
def test_consecutive_chunks_overlap_when_overlap_is_positive(data, overlap):
    max_tokens = data.draw(st.integers(2 * overlap + PATH_WORDS + 1, 2 * overlap + 30), label="max_tokens")
    policy = ChunkingPolicy(max_tokens=max_tokens, overlap_tokens=overlap, min_budget=4)
    # Sentences no longer than the overlap, so the last one of a chunk can always be carried.
    text, _ = data.draw(prose(max_sentence=overlap), label="section")
    chunks = chunk(section(text), policy)
    assume(len(chunks) > 1)
    for a, b in itertools.pairwise(chunks):
        wa, wb = chunk_words(a), chunk_words(b)
        shared = [w for w in wb if w in set(wa)]
        assert shared, (a.text, b.text)
        # The overlap is a tail of the previous chunk that starts the next one, within the budget.
        k = len(shared)
        assert wb[:k] == wa[-k:]
        assert k <= overlap


@settings(max_examples=80, deadline=None)
@given(data=st.data(), max_tokens=st.integers(8, 40))
def test_no_overlap_partitions_the_section(data, max_tokens):
    policy = ChunkingPolicy(max_tokens=max_tokens, overlap_tokens=0, min_budget=4)
    text, words = data.draw(prose(max_sentence=2 * max_tokens), label="section")
    chunks = chunk(section(text), policy)
    for a, b in itertools.pairwise(chunks):
        assert not set(chunk_words(a)) & set(chunk_words(b))
    assert [w for c in chunks for w in chunk_words(c)] == words


def test_budget_accounts_for_heading_path():
    policy = ChunkingPolicy(max_tokens=20, overlap_tokens=0, min_budget=4)
    words = " ".join(f"w{i}" for i in range(16)) + "."
    # Path "Lesson > Part" (3 words): budget 20 - 3 - 1 = 16, so 16 words fit in one chunk...
    assert len(chunk(section(words), policy)) == 1
    # ...and with a deeper path they do not.
    deep = Section("l", ("Part", "Sub", "Subsub"), ("part", "sub", "subsub"), words, 3)
    chunks = chunk(deep, policy)
    assert len(chunks) == 2
    assert all(c.token_count <= 20 for c in chunks)


def test_single_overlong_sentence_is_split_by_words():
    policy = ChunkingPolicy(max_tokens=14, overlap_tokens=2, min_budget=4)
    words = [f"w{i}" for i in range(35)]
    chunks = chunk(section(" ".join(words) + "."), policy)
    assert len(chunks) >= 4  # 35 words, 10 per chunk
    assert all(c.token_count <= 14 for c in chunks)
    assert [w for c in chunks for w in chunk_words(c)] == words  # pieces of one sentence: no overlap


def test_overlong_newline_separated_unit_is_split_too():
    policy = ChunkingPolicy(max_tokens=20, overlap_tokens=4, min_budget=4)
    chunks = chunk(section("\n".join(f"w{i}" for i in range(60))), policy)
    assert all(c.token_count <= 20 for c in chunks), [c.token_count for c in chunks]


CODE = "```python\nfor i in range(3):\n    if i == 1:\n        break\n    print(i)\n```"


def test_code_block_that_fits_stays_whole_in_one_chunk():
    policy = ChunkingPolicy(max_tokens=40, overlap_tokens=4, min_budget=4)
    chunks = chunk(section(f"Here is a loop.\n\n{CODE}\n\nIt prints 0."), policy)
    assert len(chunks) == 1
    assert CODE in chunks[0].text  # lines and indentation intact


def test_code_block_lines_are_joined_by_newlines_not_spaces():
    policy = ChunkingPolicy(max_tokens=200, overlap_tokens=4, min_budget=4)
    text = chunk(section(CODE), policy)[0].text
    assert text == CODE


def test_code_block_with_blank_line_is_one_block():
    code = "```python\nx = 1\n\ny = 2\n```"
    policy = ChunkingPolicy(max_tokens=40, overlap_tokens=4, min_budget=4)
    assert chunk(section(code), policy)[0].text == code


def test_code_block_that_fits_is_not_cut_after_prose():
    policy = ChunkingPolicy(max_tokens=30, overlap_tokens=4, min_budget=4)
    # CODE is 17 words; the budget is 30 - 4 = 26; the prose before it is 15 words.
    prose_text = " ".join(f"p{i}" for i in range(15)) + "."
    chunks = chunk(section(f"{prose_text}\n\n{CODE}"), policy)
    assert all(c.token_count <= 30 for c in chunks)
    assert any(CODE in c.text for c in chunks), [c.text for c in chunks]


BODY = """\
Intro before any heading.

# Loops

Loops repeat work. They run until a condition changes.

## The for loop

A for loop walks a sequence. Each item is bound in turn. The body runs once per item.

## Stopping early

Use break to stop. Use continue to skip an item. Both work in for and while loops.

### Nested loops

break only leaves the innermost loop.

## Empty section

# Functions

def defines a function. return gives back a value.
"""


def test_chunk_lesson_never_mixes_sections_and_numbers_from_zero():
    policy = ChunkingPolicy(max_tokens=16, overlap_tokens=3, min_budget=4)
    doc = lesson(BODY)
    sections = split_sections(doc.id, doc.body)
    chunks = chunk_lesson(doc, count_tokens=count_words, policy=policy)

    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    assert all(c.lesson_id == "05-loops" and c.lesson_title == "Loops" for c in chunks)
    assert all(c.token_count <= 16 for c in chunks)
    # Every chunk's text comes from exactly the section with its anchors.
    by_anchors = {s.anchors: s for s in sections}
    for c in chunks:
        sec = by_anchors[c.anchors]
        assert c.titles == sec.titles
        assert set(c.text.split()) <= set(sec.text.split())
    # Sections with text give chunks; the empty ones give none; reading order is kept.
    anchors_in_order = list(dict.fromkeys(c.anchors for c in chunks))
    assert anchors_in_order == [s.anchors for s in sections if s.text]
    assert ("loops", "empty-section") not in anchors_in_order
    # Nothing from the lesson is lost.
    for s in sections:
        for word in s.text.split():
            assert any(word in c.text.split() for c in chunks if c.anchors == s.anchors)


def test_chunk_hash_is_sha256_of_embed_text():
    chunks = chunk_lesson(lesson(BODY), count_tokens=count_words,
                          policy=ChunkingPolicy(max_tokens=16, overlap_tokens=3, min_budget=4))
    for c in chunks:
        assert c.chunk_hash == hashlib.sha256(c.embed_text.encode("utf-8")).hexdigest()
    assert len({c.chunk_hash for c in chunks}) == len(chunks)


def test_embed_text_prefixes_heading_path():
    chunks = chunk_lesson(lesson(BODY), count_tokens=count_words)
    preamble = chunks[0]
    assert preamble.anchors == () and preamble.embed_text == "Loops\n\nIntro before any heading."
    nested = next(c for c in chunks if c.anchor == "nested-loops")
    # "# Loops" repeats the lesson title, so it is not repeated in the path.
    assert nested.embed_text == "Loops > Stopping early > Nested loops\n\nbreak only leaves the innermost loop."


def test_chunk_section_first_ordinal_and_empty_section():
    policy = ChunkingPolicy()
    sec = section("Some text.")
    assert [c.ordinal for c in chunk_section(sec, lesson_title="L", count_tokens=count_words, policy=policy,
                                             first_ordinal=7)] == [7]
    assert chunk(section("   \n\n  "), policy) == []


def test_default_policy_chunks_a_small_lesson_whole():
    chunks = chunk_lesson(lesson("# Loops\n\nShort.\n"), count_tokens=count_words)
    assert len(chunks) == 1 and chunks[0].text == "Short." and chunks[0].ordinal == 0


@pytest.mark.parametrize(("title", "titles", "path"), [
    ("Loops", ("Loops", "break"), "Loops > break"),
    ("Loops", ("  loops ", "break"), "Loops > break"),  # case and spaces ignored
    ("Loops", ("For loops", "break"), "Loops > For loops > break"),
    ("Loops", ("break", "Loops"), "Loops > break > Loops"),  # only a *first* title equal to the lesson's
    ("Loops", (), "Loops"),
    ("", ("A", "B"), "A > B"),
    ("", (), ""),
])
def test_heading_path(title, titles, path):
    assert heading_path(title, titles) == path


def test_policy_rejects_overlap_of_half_max_or_more():
    ChunkingPolicy(max_tokens=100, overlap_tokens=49)
    ChunkingPolicy(max_tokens=100, overlap_tokens=0)
    with pytest.raises(ValueError):
        ChunkingPolicy(max_tokens=100, overlap_tokens=50)
    with pytest.raises(ValueError):
        ChunkingPolicy(max_tokens=100, overlap_tokens=80)
    with pytest.raises(ValueError):
        ChunkingPolicy(max_tokens=100, overlap_tokens=-1)


def test_default_policy_is_valid():
    policy = ChunkingPolicy()
    assert 0 <= policy.overlap_tokens < policy.max_tokens / 2
