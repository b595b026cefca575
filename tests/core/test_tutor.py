"""The tutor's voice: Socratic vs direct prompts, numbered passages, citations, the not-covered reply."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.core.context_policy import Turn, build_messages
from app.core.courses import CourseChunk
from app.core.tutor import (
    Citation,
    citations,
    cited_numbers,
    not_covered_reply,
    passage_label,
    tutor_prompt,
    tutor_system_prompt,
    wants_direct_answer,
)


def make_chunk(titles: tuple[str, ...], anchors: tuple[str, ...], text: str = "text", *,
               lesson_id: str = "05-loops", lesson_title: str = "Loops", ordinal: int = 0) -> CourseChunk:
    return CourseChunk(lesson_id=lesson_id, ordinal=ordinal, titles=titles, anchors=anchors, text=text,
                       token_count=len(text.split()), lesson_title=lesson_title)


BREAK = make_chunk(("Loops", "Stopping a loop early"), ("loops", "stopping-a-loop-early"),
                   "Use break to leave a loop.")
FOR = make_chunk(("The for loop",), ("the-for-loop",), "A for loop walks a sequence.", ordinal=1)
FILES = make_chunk(("Reading files",), ("reading-files",), "open() returns a file.",
                   lesson_id="07-files", lesson_title="Files")


# --- direct vs Socratic -----------------------------------------------------------------------


@pytest.mark.parametrize("question", [
    "just tell me the answer",
    "Just give me the code for this",
    "show me the solution",
    "Show me the code please",
    "Tell me the answer to exercise 3",
    "I give up, what is it?",
    "can you write the code for a countdown?",
    "what is the full solution?",
])
def test_wants_direct_answer(question):
    assert wants_direct_answer(question)


@pytest.mark.parametrize("question", [
    "how do loops work?",
    "Why does my while loop never end?",
    "What does break do?",
    "Can you give me a hint?",
    "",
])
def test_does_not_want_direct_answer(question):
    assert not wants_direct_answer(question)


def test_system_prompts_differ_and_both_ask_for_citations():
    socratic = tutor_system_prompt("Python Basics")
    direct = tutor_system_prompt("Python Basics", direct=True)
    assert socratic != direct
    for prompt in (socratic, direct):
        assert '"Python Basics"' in prompt
        assert "[1]" in prompt and "square brackets" in prompt
        assert "only from the numbered course material" in prompt
    assert "question" in socratic.lower() and "hint" in socratic.lower()
    assert "do not hand over finished answers" in socratic
    assert "do not hand over" not in direct
    assert "give it clearly and completely" in direct


# --- passages and the prompt ------------------------------------------------------------------


def test_passage_label():
    assert passage_label(BREAK) == "Loops › Stopping a loop early"  # title "Loops" not repeated
    assert passage_label(FOR) == "Loops › The for loop"
    assert passage_label(make_chunk((), ())) == "Loops"
    assert passage_label(make_chunk(("A", "B"), ("a", "b"), lesson_title="")) == "A › B"
    assert passage_label(make_chunk(("  LOOPS ", "x"), ("loops", "x"))) == "Loops › x"


def test_tutor_prompt_numbers_passages_in_final_user_message_only():
    history = (Turn("What is a loop?", "A loop repeats code."),)
    parts = tutor_prompt("How do I stop a loop?", [BREAK, FOR, FILES], course_title="Python Basics",
                         history=history)
    assert parts.system == tutor_system_prompt("Python Basics")
    assert [p.source for p in parts.passages] == [passage_label(c) for c in (BREAK, FOR, FILES)]
    messages = build_messages(parts)
    assert [m.role for m in messages] == ["system", "user", "assistant", "user"]
    final = messages[-1].content
    assert final.startswith("Course material:")
    assert "Question: How do I stop a loop?" in final
    positions = []
    for n, c in enumerate((BREAK, FOR, FILES), start=1):
        marker = f"[{n}] ({passage_label(c)})\n{c.text}"
        assert marker in final
        positions.append(final.index(marker))
    assert positions == sorted(positions)
    assert final.index("Question: How do I stop a loop?") > positions[-1]  # passages first, then the question
    assert "[4]" not in final
    for earlier in messages[:-1]:
        assert not re.search(r"\[\d+\] \(", earlier.content)
        for c in (BREAK, FOR, FILES):
            assert c.text not in earlier.content


def test_tutor_prompt_direct_mode_and_no_passages():
    parts = tutor_prompt("just tell me the answer", [], course_title="C")
    assert parts.system == tutor_system_prompt("C", direct=True)
    assert parts.passages == ()
    assert build_messages(parts)[-1].content == "just tell me the answer"


# --- citations --------------------------------------------------------------------------------


@pytest.mark.parametrize(("answer", "numbers"), [
    ("Use break [1].", [1]),
    ("See [1, 3] and [2].", [1, 3, 2]),
    ("See [1,3].", [1, 3]),
    ("[2] then [1] then [2] again [1, 2]", [2, 1]),
    ("No citations here.", []),
    ("Letters [a] and [] and [1a] and [ 1 ] are not markers.", []),
    ("Adjacent [1][2].", [1, 2]),
    ("Big [12].", [12]),
    ("Zero [0].", [0]),
])
def test_cited_numbers(answer, numbers):
    assert cited_numbers(answer) == numbers


def test_citations_split_valid_and_invalid():
    given_chunks = [BREAK, FOR]
    valid, invalid = citations("Use break [1]; loops [2, 3]; also [0] and [1].", given_chunks)
    assert valid == [Citation(1, BREAK), Citation(2, FOR)]
    assert invalid == [3, 0]
    assert [c.ref for c in valid] == ["05-loops#stopping-a-loop-early", "05-loops#the-for-loop"]
    assert citations("Nothing to cite [1].", []) == ([], [1])


def test_citation_ref_without_anchor_is_lesson_id():
    assert Citation(1, make_chunk((), ())).ref == "05-loops"


@given(st.lists(st.integers(0, 30), max_size=10), st.integers(0, 8))
def test_citations_partition_cited_numbers(numbers, n_given):
    answer = " ".join(f"claim [{n}]." for n in numbers)
    given_chunks = [make_chunk((f"S{i}",), (f"s{i}",), ordinal=i) for i in range(n_given)]
    valid, invalid = citations(answer, given_chunks)
    distinct = list(dict.fromkeys(numbers))
    assert [c.number for c in valid] + invalid == [n for n in distinct if 1 <= n <= n_given] + [
        n for n in distinct if not 1 <= n <= n_given]
    assert all(c.chunk is given_chunks[c.number - 1] for c in valid)


def test_index_expressions_in_code_are_not_citations():
    answer = "Use `nums[1]` for the second item and `x[0]` for the first [2]."
    assert cited_numbers(answer) == [2]


# --- not covered ------------------------------------------------------------------------------


def test_not_covered_reply_without_nearest():
    reply = not_covered_reply("Python Basics")
    assert '"Python Basics"' in reply
    assert "doesn't cover" in reply
    assert "closest" not in reply


def test_not_covered_reply_names_up_to_three_distinct_sections():
    other_break = make_chunk(("Loops", "Stopping a loop early"), ("loops", "stopping-a-loop-early"),
                             "Another chunk of the same section.", ordinal=5)
    fourth = make_chunk(("While loops",), ("while-loops",))
    reply = not_covered_reply("Python Basics", [BREAK, other_break, FOR, FILES, fourth])
    assert '"Python Basics"' in reply
    assert reply.endswith(
        " The closest sections are: Loops › Stopping a loop early; Loops › The for loop; Files › Reading files.")
    assert reply.count("Stopping a loop early") == 1
    assert "While loops" not in reply
