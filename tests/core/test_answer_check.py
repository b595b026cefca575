"""The answer-quality check on the failures small models really produce here (issue 16), and on good answers
that must pass untouched."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.answer_check import AnswerVerdict, Problem, check_answer, guess_language

LOOPS = Path(__file__).resolve().parents[2] / "resources/courses/python-from-zero/lessons/05-loops.md"


def section(heading: str) -> str:
    """A real section of the starter course's Loops lesson: the text under `## heading` up to the next heading."""
    text = LOOPS.read_text(encoding="utf-8")
    start = text.index(f"## {heading}\n") + len(heading) + 4
    end = re.compile(r"^#{2,3} ", re.MULTILINE).search(text, start)
    return text[start:end.start() if end else None].strip()


BREAK = section("Stopping a loop early: break")
CONTINUE = section("Skipping a step: continue")
PASSAGES = [BREAK, CONTINUE]
QUESTION = "How do I stop a loop early?"


def check(answer: str, *, question: str = QUESTION, passages=PASSAGES, covered: bool = True,
          finish_reason: str = "stop", question_language: str | None = None) -> AnswerVerdict:
    return check_answer(answer, question=question, passages=passages, covered=covered, finish_reason=finish_reason,
                        question_language=question_language)


GOOD = ("To stop a loop before it would end by itself, use the `break` statement [1]. As soon as Python reaches "
        "`break`, it leaves the loop and carries on with the first line after it, even if a `while` condition is "
        "still true.\n\n```python\nwhile True:\n    word = input(\"Word: \")\n    if word == \"stop\":\n"
        "        break\n```\n\nWhat do you think happens to an outer loop when `break` runs inside an inner one?")


# -- good answers pass ------------------------------------------------------------------------------

def test_a_good_explanation_passes():
    verdict = check(GOOD)
    assert verdict == AnswerVerdict(ok=True, problems=())
    assert verdict.codes == ()


def test_a_good_vietnamese_answer_to_a_vietnamese_question_passes():
    answer = ("Để dừng vòng lặp sớm, bạn dùng lệnh `break` [1]. Khi Python gặp `break`, nó thoát khỏi vòng lặp "
              "ngay lập tức và chạy tiếp dòng đầu tiên sau vòng lặp. Bạn thử đoán xem: trong hai vòng lặp lồng "
              "nhau, `break` thoát khỏi vòng nào?")
    assert check(answer, question="Làm sao để dừng vòng lặp sớm?").ok


def test_a_real_smollm2_explanation_is_only_flagged_as_cut_off():
    # SmolLM2-135M-Instruct Q4_1, greedy, "How do I stop a loop early in Python? Explain break.", 220 tokens:
    # wrong in places, but an explanation in its own words — the check judges form, not correctness.
    answer = ("In Python, a `break` statement is used to exit a loop prematurely. It's often used to exit a loop when "
              "a certain condition is met.\n\nHere's an example:\n\n```python\ni = 0\nwhile True:\n    i += 1\n"
              "    print(i)\n```\n\nWhen `i` reaches 0, the loop will exit immediately, and the program will "
              "terminate.\n\nTo use `break` correctly, you need to use a `break` statement at the end of the loop. "
              "Here's how:\n\n```python\ni = 0\nwhile True:\n    if i == 0:\n        break\n    print(i)\n```\n\n"
              "In this example, when `i` reaches 0, the loop will exit, and the program will terminate.\n\nHowever, "
              "if you're using a `break` statement in a loop that doesn't have a `break` statement, it will exit the "
              "loop immediately.\n\nHere's an example:\n\n```python\ni = 0\nwhile True")
    assert check(answer, finish_reason="length").codes == ("cut_off",)


def test_quoting_one_line_of_the_lesson_is_not_pasting():
    answer = ("The lesson puts it like this: \"The `break` statement ends the loop immediately\". So put `break` "
              "inside an `if` that checks when you are done, and the loop stops there. Which condition would you "
              "check in your program?")
    assert check(answer).ok


# -- empty and marker-only ----------------------------------------------------------------------------

@pytest.mark.parametrize("answer", ["", "   \n\t ", "...", "```\n```"])
def test_no_text_is_empty(answer):
    assert check(answer).codes == ("empty",)


@pytest.mark.parametrize("answer", [
    "[1]",  # `lantern ask "How do I stop a loop early?"` with Qwen2.5-Coder-0.5B-Instruct Q4_K_M, 3 tokens
    "[1][2]", "[1], [3].", " [2]\n", "[1, 2]", "See [1].", "Nguồn: [2]"])
def test_citation_markers_alone_are_marker_only(answer):
    verdict = check(answer)
    assert not verdict.ok and verdict.codes == ("marker_only",)
    assert verdict.problems[0].reason


def test_a_short_answer_with_a_marker_is_not_marker_only():
    assert "marker_only" not in check("Use `break` inside an `if` [1].").codes


# -- pasted passage -------------------------------------------------------------------------------

def test_a_passage_pasted_with_its_label_is_flagged():
    # What the starter model did for "How do I read a number the user types?": the passages, labels and all.
    answer = f"[1] Loops › Stopping a loop early: break\n{BREAK}\n\n[2] Loops › Skipping a step: continue\n{CONTINUE}"
    assert check(answer).codes == ("pasted_passage",)


def test_the_prompt_layout_echoed_is_flagged_even_when_short():
    assert "pasted_passage" in check("[1] (Loops › Stopping a loop early: break)\nUse break.").codes
    assert "pasted_passage" in check("Passage [1]: The `break` statement ends the loop immediately.").codes


def test_a_passage_pasted_without_a_label_is_flagged():
    assert check(BREAK).codes == ("pasted_passage",)
    # The prose alone (the model dropped the code), under a one-line intro: still mostly the passage.
    prose = re.sub(r"```.*?```", "", BREAK, flags=re.DOTALL)
    assert "pasted_passage" in check("Here is how:\n\n" + prose).codes


def test_pasting_is_judged_against_the_passages_given():
    assert "pasted_passage" not in check(BREAK, passages=[CONTINUE]).codes


# -- repetition loop ------------------------------------------------------------------------------

def test_a_real_smollm2_word_loop_is_flagged():
    # SmolLM2-135M-Instruct Q4_1, greedy, asked "Làm sao để dừng vòng lặp sớm?": it stuck on one word until
    # the length limit.
    answer = "Làm sao để dừng vòng lặp sửa, và " + "vài " * 62 + "v"
    verdict = check(answer, question="Làm sao để dừng vòng lặp sớm?", finish_reason="length")
    assert verdict.codes == ("repetition_loop", "cut_off")


def test_a_repeated_sentence_is_flagged():
    # The shape of SmolLM2-135M's sentence loops: one sentence, said again and again until the token limit.
    answer = ("A loop is a way to repeat code. " + "The break statement is used to stop the loop when a condition "
              "is met. " * 5 + "The break statement is used")
    assert check(answer, finish_reason="length").codes == ("repetition_loop", "cut_off")


def test_a_repeated_line_of_four_words_is_flagged():
    assert "repetition_loop" in check("Use break to stop.\nUse break to stop.\nUse break to stop.").codes


def test_repeated_code_is_not_a_loop():
    code = "```python\n" + "print('Hip hip hooray!')\n" * 5 + "```"
    assert check(f"You could write the same line several times [1]:\n\n{code}\n\nbut a `for` loop does it "
                 "for you. How would you write that loop with `range()`?").ok


# -- refused although covered -----------------------------------------------------------------------

@pytest.mark.parametrize(("answer", "question"), [
    ("I'm sorry, but the course material doesn't mention how to stop a loop early.", QUESTION),
    ("I don't know.", QUESTION),
    ("The course \"Python from zero\" doesn't cover that, so I can't answer it from the course material.", QUESTION),
    ("Khóa học không đề cập đến điều đó, nên mình không thể trả lời.", "Làm sao để dừng vòng lặp sớm?"),
    ("Mình không biết.", "Làm sao để dừng vòng lặp sớm?")])
def test_a_refusal_when_the_course_covers_it_is_flagged(answer, question):
    assert check(answer, question=question).codes == ("refused_although_covered",)


def test_a_refusal_when_the_course_does_not_cover_it_is_fine():
    assert check("I don't know.", covered=False).ok


def test_a_long_answer_that_mentions_a_gap_still_teaches():
    answer = ("The course doesn't cover `sys.exit()`, but for a loop you only need `break` [1]. " + GOOD)
    assert "refused_although_covered" not in check(answer).codes


# -- language -------------------------------------------------------------------------------------

def test_a_vietnamese_question_answered_in_english_is_flagged():
    verdict = check(GOOD, question="Làm sao để dừng vòng lặp sớm?")
    assert verdict.codes == ("wrong_language",)
    assert "Vietnamese" in verdict.problems[0].reason


def test_an_english_question_answered_in_vietnamese_is_flagged():
    answer = ("Bạn dùng lệnh `break` để thoát khỏi vòng lặp ngay lập tức, kể cả khi điều kiện của `while` vẫn "
              "còn đúng.")
    assert check(answer).codes == ("wrong_language",)


def test_the_question_language_can_be_given():
    assert check(GOOD, question="?", question_language="vi").codes == ("wrong_language",)
    assert check(GOOD, question="Làm sao để dừng vòng lặp sớm?", question_language="en").ok


def test_too_little_text_to_judge_the_language_is_not_flagged():
    assert check("Dùng `break` [1].", question=QUESTION).ok
    assert check("Use `break` inside an `if` [1].", question="Dừng?").ok


@pytest.mark.parametrize(("text", "expected"), [
    ("Làm sao để đọc một tệp theo từng dòng?", "vi"),
    ("How do I read a file line by line?", "en"),
    ("Dùng `break` để thoát khỏi vòng lặp.\n\n```python\nwhile True:\n    break\n```", "vi"),
    ("```python\nfor i in range(3):\n    print('xin chào thế giới')\n```\nThis loop prints a greeting.", "en"),
    ("ok", None),  # too short
    ("如何提前停止循环？我想知道", None),  # not Latin script
    ("Python là gì? What is Python exactly, please tell me more about it", None),  # mixed
])
def test_guess_language(text, expected):
    assert guess_language(text) == expected


# -- cut off --------------------------------------------------------------------------------------

@pytest.mark.parametrize("finish_reason", ["length", "context_full"])
def test_a_cut_off_answer_is_flagged(finish_reason):
    verdict = check(GOOD[:120], finish_reason=finish_reason)
    assert verdict.codes == ("cut_off",)


def test_a_cancelled_answer_is_not_judged_cut_off():
    assert check(GOOD, finish_reason="cancelled").ok


# -- the verdict ----------------------------------------------------------------------------------

def test_a_verdict_cannot_contradict_itself():
    with pytest.raises(ValueError):
        AnswerVerdict(ok=True, problems=(Problem("empty", "x"),))
    with pytest.raises(ValueError):
        AnswerVerdict(ok=False, problems=())


def test_reasons_are_translated(monkeypatch):
    from app.core import i18n

    i18n.set_catalog("vi", {"the model gave no text": "mô hình không trả về chữ nào"})
    try:
        assert check("").problems[0].reason == "mô hình không trả về chữ nào"
    finally:
        i18n.reset()


words = st.text(alphabet=st.sampled_from(list("abc đàế[]1,. \n`")), max_size=60)


@settings(max_examples=200, deadline=None)
@given(answer=st.one_of(st.text(max_size=400), words), question=st.text(max_size=80),
       passages=st.lists(st.one_of(st.text(max_size=200), words), max_size=4), covered=st.booleans(),
       finish_reason=st.sampled_from(["stop", "length", "context_full", "cancelled", "weird"]),
       question_language=st.sampled_from([None, "vi", "en", "fr"]))
def test_any_text_gets_a_consistent_verdict(answer, question, passages, covered, finish_reason, question_language):
    verdict = check_answer(answer, question=question, passages=passages, covered=covered,
                           finish_reason=finish_reason, question_language=question_language)
    assert verdict.ok == (not verdict.problems)
    assert all(p.reason for p in verdict.problems)
    assert len(set(verdict.codes)) == len(verdict.codes)
