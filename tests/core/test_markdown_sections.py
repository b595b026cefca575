"""Lesson Markdown into sections: GitHub-style anchors, heading paths, fenced code, duplicates."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.markdown_sections import section_anchors, slugify, split_sections

# --- slugify ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("heading", "anchor"), [
    ("Hello, World!", "hello-world"),
    ("Stopping a loop early", "stopping-a-loop-early"),
    ("What's `print()`?", "whats-print"),
    ("snake_case and kebab-case", "snake_case-and-kebab-case"),
    # GitHub drops "&" but keeps both spaces around it, so two dashes.
    ("Loops: for & while", "loops-for--while"),
    ("Step 2 (optional)", "step-2-optional"),
    ("  Padded heading  ", "padded-heading"),
    ("ALL CAPS", "all-caps"),
    ("Déjà vu", "déjà-vu"),
    ("Dừng vòng lặp sớm với `break`", "dừng-vòng-lặp-sớm-với-break"),
    ("Vòng lặp for", "vòng-lặp-for"),
])
def test_slugify_follows_github_rules(heading, anchor):
    assert slugify(heading) == anchor


def test_slugify_normalizes_decomposed_letters_to_nfc():
    decomposed = "Vo\u0300ng la\u0323\u0306p"  # "Vòng lặp" typed with combining marks
    assert slugify(decomposed) == "vòng-lặp"
    assert slugify(decomposed) == slugify("Vòng lặp")


def test_slugify_keeps_combining_marks_like_github():
    assert slugify("हिन्दी") == "हिन्दी"


@given(st.text(max_size=40))
def test_slugify_output_has_no_spaces_or_uppercase_or_punctuation(heading):
    slug = slugify(heading)
    assert " " not in slug
    assert slug == slug.lower()
    assert all(ch.isalnum() or unicodedata.category(ch).startswith("M") or ch in "-_" for ch in slug)


# --- split_sections ---------------------------------------------------------------------------

NESTED = """\
Some words before any heading.

# Loops

Loops repeat code.

## The for loop

A for loop walks a sequence.

### Ranges

range(3) gives 0, 1, 2.

## Stopping early

Use break.

# Functions

def makes one.
"""


def test_heading_paths_and_anchors_nest_and_pop():
    sections = split_sections("05-loops", NESTED)
    assert [(s.titles, s.anchors, s.level) for s in sections] == [
        ((), (), 0),
        (("Loops",), ("loops",), 1),
        (("Loops", "The for loop"), ("loops", "the-for-loop"), 2),
        (("Loops", "The for loop", "Ranges"), ("loops", "the-for-loop", "ranges"), 3),
        # a later ## pops the ### and the previous ##
        (("Loops", "Stopping early"), ("loops", "stopping-early"), 2),
        # a later # pops everything
        (("Functions",), ("functions",), 1),
    ]
    assert all(s.lesson_id == "05-loops" for s in sections)
    assert [s.anchor for s in sections] == ["", "loops", "the-for-loop", "ranges", "stopping-early", "functions"]


def test_section_text_is_own_text_without_heading_line():
    sections = split_sections("l", NESTED)
    assert [s.text for s in sections] == [
        "Some words before any heading.",
        "Loops repeat code.",
        "A for loop walks a sequence.",
        "range(3) gives 0, 1, 2.",
        "Use break.",
        "def makes one.",
    ]
    for s in sections:
        assert not s.text.startswith("#")


def test_skipped_level_nests_under_nearest_shallower_heading():
    sections = split_sections("l", "# A\n\n### C\n\nc\n\n## B\n\nb\n")
    assert [s.anchors for s in sections] == [("a",), ("a", "c"), ("a", "b")]


def test_hash_lines_inside_fenced_code_are_not_headings():
    body = "# Comments\n\n```python\n# this is a comment\nx = 1  # inline\n```\n\n~~~\n## still code\n~~~\n\nAfter.\n"
    sections = split_sections("l", body)
    assert [s.anchors for s in sections] == [("comments",)]
    text = sections[0].text
    assert "# this is a comment" in text
    assert "## still code" in text
    assert text.endswith("After.")


def test_indented_code_hash_line_is_not_a_heading():
    sections = split_sections("l", "# Real\n\nText:\n\n    # not a heading\n")
    assert [s.anchors for s in sections] == [("real",)]
    assert "# not a heading" in sections[0].text


def test_duplicate_headings_are_numbered_like_github():
    body = "# Example\n\none\n\n# Example\n\ntwo\n\n## Example\n\nthree\n"
    sections = split_sections("l", body)
    assert [s.anchor for s in sections] == ["example", "example-1", "example-2"]
    assert sections[2].anchors == ("example-1", "example-2")
    assert [s.text for s in sections] == ["one", "two", "three"]


def test_generated_duplicate_anchor_does_not_collide_with_a_real_heading():
    sections = split_sections("l", "# Foo\n\na\n\n# Foo\n\nb\n\n# Foo 1\n\nc\n")
    anchors = [s.anchor for s in sections]
    assert len(set(anchors)) == 3, anchors


def test_preamble_is_level_zero_section_and_only_when_nonblank():
    with_preamble = split_sections("l", "Intro line.\n\n# Title\n\nBody.\n")
    assert with_preamble[0].level == 0
    assert with_preamble[0].titles == () and with_preamble[0].anchors == ()
    assert with_preamble[0].text == "Intro line."
    assert split_sections("l", "\n\n   \n# Title\n\nBody.\n")[0].anchors == ("title",)
    assert [s.level for s in split_sections("l", "# Title\n\nBody.\n")] == [1]


def test_body_without_headings_is_one_preamble_section():
    sections = split_sections("l", "Just text.\n\nMore text.\n")
    assert len(sections) == 1
    assert sections[0].level == 0
    assert sections[0].text == "Just text.\n\nMore text."
    assert split_sections("l", "") == []


def test_empty_sections_are_kept():
    sections = split_sections("l", "# Loops\n## break\n\nStops the loop.\n## continue\n")
    assert [(s.anchor, s.text) for s in sections] == [
        ("loops", ""), ("break", "Stops the loop."), ("continue", "")]


def test_setext_heading_and_inline_markup():
    body = "Loops\n=====\n\ntext\n\n## Using [`break`](https://example.org) *early*\n\nmore\n"
    sections = split_sections("l", body)
    assert [s.titles for s in sections] == [("Loops",), ("Loops", "Using break early")]
    assert [s.anchor for s in sections] == ["loops", "using-break-early"]
    assert sections[0].text == "text"  # neither the title nor its ===== underline


def test_headings_inside_blockquotes_are_not_sections():
    sections = split_sections("l", "# Top\n\n> # Quoted\n> text\n")
    assert [s.anchor for s in sections] == ["top"]
    assert "# Quoted" in sections[0].text


def test_crlf_line_endings():
    sections = split_sections("l", "Intro\r\n# A\r\na text\r\n## B\r\nb text\r\n")
    assert [(s.anchors, s.text) for s in sections] == [((), "Intro"), (("a",), "a text"), (("a", "b"), "b text")]


@pytest.mark.parametrize("odd", ["\u2028", "\x0c", "\x85"])
def test_unicode_line_separators_do_not_shift_sections(odd):
    sections = split_sections("l", f"Intro{odd}more\n# A\ntext\n")
    assert [s.anchors for s in sections] == [(), ("a",)]
    assert "more" in sections[0].text
    assert sections[1].text == "text"


def test_section_anchors_collects_every_level():
    assert section_anchors("l", NESTED) == {"loops", "the-for-loop", "ranges", "stopping-early", "functions"}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 6), st.booleans()), min_size=1, max_size=12))
def test_heading_path_is_chain_of_open_shallower_headings(spec):
    """Property: each section's path is its nearest ancestors (strictly shallower, most recent), and every
    paragraph lands in exactly its own section."""
    lines = []
    for i, (level, has_text) in enumerate(spec):
        lines.append(f"{'#' * level} Heading {i}")
        lines.append("")
        if has_text:
            lines.append(f"para{i} words here")
            lines.append("")
    sections = split_sections("l", "\n".join(lines))
    assert len(sections) == len(spec)
    stack: list[tuple[int, str]] = []
    for i, ((level, has_text), section) in enumerate(zip(spec, sections, strict=True)):
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, f"heading-{i}"))
        assert section.level == level
        assert section.anchors == tuple(a for _, a in stack)
        assert section.titles[-1] == f"Heading {i}"
        assert section.text == (f"para{i} words here" if has_text else "")
