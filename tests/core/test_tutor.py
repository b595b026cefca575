"""The tutor's voice: Socratic vs direct prompts, numbered passages, citations, the not-covered reply."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.core.context_policy import Turn, build_messages
from app.core.courses import CourseChunk
from app.core.tutor import (
    CITE_REMINDER,
    DEFAULT_RECIPE,
    PROMPT_VERSION,
    RECIPES,
    Citation,
    attribute,
    citations,
    cited_numbers,
    not_covered_reply,
    passage_label,
    question_language,
    tutor_prompt,
    tutor_system_prompt,
    wants_direct_answer,
    wants_hint,
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
    "don't tell me the answer, just a hint",
    "please do not give me the solution",
    "",
])
def test_does_not_want_direct_answer(question):
    assert not wants_direct_answer(question)


def test_tutor_1_system_prompts_differ_and_both_ask_for_citations():
    socratic = tutor_system_prompt("Python Basics", recipe=RECIPES["tutor-1"])
    direct = tutor_system_prompt("Python Basics", direct=True, recipe=RECIPES["tutor-1"])
    assert socratic != direct
    for prompt in (socratic, direct):
        assert '"Python Basics"' in prompt
        assert "[1]" in prompt and "square brackets" in prompt
        assert "only from the numbered course material" in prompt
    assert "question" in socratic.lower() and "hint" in socratic.lower()
    assert "do not hand over finished answers" in socratic
    assert "do not hand over" not in direct
    assert "give it clearly and completely" in direct


def test_current_prompt_ends_with_the_question_and_names_the_answer_language():
    """tutor-2 (issue 16): no cite instruction a 0.5B model echoes as "[1]"; citations are attributed
    afterwards; the answer language is the question's."""
    assert DEFAULT_RECIPE.version == PROMPT_VERSION and not DEFAULT_RECIPE.cite_reminder
    socratic = tutor_system_prompt("Python Basics", language="vi")
    direct = tutor_system_prompt("Python Basics", direct=True, language="en")
    assert socratic != direct and '"Python Basics"' in socratic
    assert "[1]" not in socratic and "Answer in Vietnamese" in socratic and "Answer in English" in direct
    assert "question or hint" in socratic and "whole solution" in socratic and "whole solution" not in direct
    parts = tutor_prompt("How do I stop a loop?", [BREAK], course_title="Python Basics", language="en")
    assert build_messages(parts)[-1].content.endswith("Question: How do I stop a loop?")
    old = tutor_prompt("How do I stop a loop?", [BREAK], course_title="Python Basics", recipe=RECIPES["tutor-1"])
    assert build_messages(old)[-1].content.endswith(CITE_REMINDER)


def test_question_language_falls_back_to_the_course():
    assert question_language("Làm sao để đọc một tệp theo từng dòng?", "en") == "vi"
    assert question_language("How do I read a file line by line?", "vi") == "en"
    assert question_language("break?", "vi") == "vi"


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
    assert parts.question == "How do I stop a loop?"
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


def test_attribution_names_the_one_passage_the_answer_draws_on():
    loops = make_chunk(("Loops", "Stopping a loop early"), ("loops", "stopping-a-loop-early"),
                       "Use break to leave a loop at once; the code after the loop runs next.")
    exercises = make_chunk(("Exercises",), ("exercises",), "Write a loop that asks for words and stops on quit; "
                           "then use break and continue in one loop.", ordinal=2)
    answer = "Use break: it leaves the loop at once, and the code after the loop runs next."
    assert [(c.number, c.inline) for c in attribute(answer, [exercises, loops])] == [(2, False)]
    assert [c.number for c in attribute(answer, [exercises, loops], mode="all")] == [1, 2]  # tutor-1 to 3
    assert attribute("Yes.", [loops]) == []
    assert attribute("Something about dictionaries and keys entirely.", [loops]) == []


def test_hint_requests_get_the_hint_style():
    assert wants_hint("exercise 4, just a hint please") and wants_hint("why?\n\n```\nprint(x)\n```")
    assert not wants_hint("how do loops work?") and not wants_hint("just give me the code, no hint")
    recipe = RECIPES["tutor-4"]
    hint = tutor_prompt("a hint please", [BREAK], course_title="C", recipe=recipe).system
    assert "Do not write the corrected code" in hint
    assert "Do not write the corrected code" not in tutor_prompt("what is break?", [BREAK], course_title="C",
                                                                 recipe=recipe).system


def test_a_cross_lingual_question_ends_with_a_line_in_its_language():
    vi = tutor_prompt("Làm sao để dừng vòng lặp?", [BREAK], course_title="C", language="vi", course_language="en")
    assert build_messages(vi)[-1].content.endswith("Hãy trả lời bằng tiếng Việt.")
    same = tutor_prompt("How do I stop a loop?", [BREAK], course_title="C", language="en", course_language="en")
    assert "Please answer" not in build_messages(same)[-1].content
    old = tutor_prompt("Làm sao để dừng vòng lặp?", [BREAK], course_title="C", language="vi", course_language="en",
                       recipe=RECIPES["tutor-3"])
    assert "Hãy trả lời" not in build_messages(old)[-1].content
