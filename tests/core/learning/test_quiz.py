"""Quiz questions, pure: parsing the model's JSON, the text checks, grading, authored [[quiz]] tables."""

from __future__ import annotations

import json

import pytest

from app.core.errors import CourseInvalid
from app.core.learning.authored import parse_quiz
from app.core.learning.checks import (
    answer_supported,
    distractors_wrong,
    question_well_formed,
    snippet_suitable,
    text_checks,
)
from app.core.learning.generation import (
    GeneratedInvalid,
    SectionSource,
    parse_generated,
    picked_option,
    shuffled_options,
)
from app.core.learning.grading import answer_index, grade_by_words, grade_exact, parse_verdict
from app.core.learning.quiz import QuizQuestion

SECTION = SectionSource(
    course_id="c",
    lesson_id="05-loops",
    lesson_title="Loops",
    anchor="looping-over-a-range",
    title="Looping over a range",
    text="`range()` produces a sequence of numbers. Notice that `range(5)` starts at 0 and stops before 5: it gives "
    "five numbers, 0 to 4.\n\n```python\nfor i in range(5):\n    print(i)\n```\n",
)


def choice(answer: str, wrong: list[str], prompt: str = "Which numbers does range(5) give a loop?") -> QuizQuestion:
    reply = json.dumps(
        {"question": prompt, "answer": answer, "wrong_answers": wrong, "explanation": "it stops before 5"}
    )
    return parse_generated(SECTION, "choice", reply)


def test_parse_choice_shuffles_reproducibly_and_keeps_the_key():
    q1, q2 = choice("0 to 4", ["1 to 5", "0 to 5", "5 only"]), choice("0 to 4", ["1 to 5", "0 to 5", "5 only"])
    assert q1 == q2 and q1.id == q2.id and q1.id.startswith("q-")
    assert q1.options[q1.answer] == "0 to 4" == q1.reference
    positions = {shuffled_options("right", ["a", "b", "c"], seed=f"s{i}")[1] for i in range(40)}
    assert len(positions) == 4  # the right option is not always in the same place


@pytest.mark.parametrize(
    "reply",
    [
        "not json",
        "[1, 2]",
        json.dumps({"question": "Q?", "answer": ""}),
        json.dumps({"question": "What is it?", "answer": "x", "wrong_answers": ["y"]}),
    ],
)
def test_unusable_replies_are_refused(reply):
    with pytest.raises(GeneratedInvalid):
        parse_generated(SECTION, "choice", reply)


def test_text_checks_pass_a_good_question_and_name_each_failure():
    good = choice("starts at 0 and stops before 5", ["starts at 1", "includes 5 itself", "counts down"])
    assert all(c.passed for c in text_checks(good, SECTION)), text_checks(good, SECTION)
    unsupported = choice("it uses a generator object", ["a list", "a tuple", "a set"])
    assert not answer_supported(unsupported, SECTION).passed
    duplicate = choice("0 to 4", ["0 to 4", "1 to 5", "0 to 5"])
    assert "same" in question_well_formed(duplicate).detail
    contains = choice("0 to 4", ["0 to 4 and 5", "1 to 5", "none"])
    assert not question_well_formed(contains).passed
    vague = choice("0 to 4", ["all of the above", "1 to 5", "5"])
    assert not question_well_formed(vague).passed
    also_true = choice("five numbers", ["it starts at 0 and stops before 5", "six numbers", "one number"])
    assert not distractors_wrong(also_true, SECTION).passed
    giveaway = choice("range", ["len", "print", "input"], prompt="What does the range function called range do?")
    assert "its own answer" in question_well_formed(giveaway).detail


def test_snippet_checks():
    assert snippet_suitable("for i in range(3):\n    print(i * 2)", SECTION).passed
    assert not snippet_suitable("name = input()\nprint(name)", SECTION).passed
    assert not snippet_suitable("import random\nprint(random.random())", SECTION).passed
    assert not snippet_suitable("print(", SECTION).passed
    assert not snippet_suitable("x = {1: 2}\nprint(x.keys())", SECTION).passed  # nothing the section uses


def test_second_pass_maps_letters_back_through_the_order():
    assert picked_option('{"answer": "A"}', (2, 0, 1)) == 2
    assert picked_option('{"answer": "c"}', (2, 0, 1)) == 1
    assert picked_option('{"answer": "Z"}', (0, 1, 2)) is None
    assert picked_option("garbage", (0, 1, 2)) is None


def test_grading_exact_and_by_words():
    q = choice("0 to 4", ["1 to 5", "0 to 5", "5 only"])
    right = q.answer or 0
    assert grade_exact(q, str(right + 1)).correct
    assert grade_exact(q, "ABCD"[right]).correct and grade_exact(q, "0 to 4").correct
    wrong = (right + 1) % len(q.options)
    assert not grade_exact(q, str(wrong + 1)).correct
    assert answer_index(q, "9") is None and not grade_exact(q, "9").correct
    out = QuizQuestion(
        "c", "l", "s", "output", "What does this code print?", "0\n1", code="for i in range(2): print(i)"
    )
    assert grade_exact(out, "0\n1\n\n").correct and grade_exact(out, "0  \r\n1").correct
    assert not grade_exact(out, "0 1").correct
    short = QuizQuestion("c", "l", "s", "short", "What does range(5) give?", "the numbers 0 to 4")
    assert grade_exact(short, "   ").score == 0 and grade_exact(short, "The numbers 0 to 4.").correct
    assert grade_exact(short, "five numbers from zero") is None  # the model decides this one
    for no_idea in ("I don't know", "not sure.", "idk", "?", "Tôi không biết"):
        assert grade_exact(short, no_idea).score == 0, no_idea
    assert grade_by_words(short, "numbers 0 up to 4").correct
    assert not grade_by_words(short, "a list").correct


def test_parse_verdict():
    assert parse_verdict('{"verdict": "partly", "reason": "vague"}').score == 0.5
    assert parse_verdict('{"verdict": "correct", "reason": "yes"}').correct
    assert parse_verdict('{"verdict": "maybe", "reason": "?"}') is None
    assert parse_verdict("nope") is None


def test_authored_tables():
    tables = [
        {
            "lesson": "05-loops",
            "section": "s",
            "kind": "choice",
            "question": "Q?",
            "options": ["a", "b", "c"],
            "answer": 2,
            "id": "q1",
        },
        {"lesson": "05-loops", "section": "s", "kind": "output", "code": "print(1)"},
        {"lesson": "05-loops", "section": "s", "kind": "short", "question": "Why?", "reference": "because"},
    ]
    parsed = parse_quiz(tables, course_id="c", source="questions.toml")
    assert [q.kind for q in parsed] == ["choice", "output", "short"]
    assert parsed[0].answer == 1 and parsed[0].reference == "b" and parsed[0].id == "a-c-q1"
    assert parsed[1].prompt == "What does this code print?" and parsed[1].origin == "authored"
    for bad in (
        {**tables[0], "answer": 4},
        {**tables[0], "options": ["a"]},
        {**tables[0], "kind": "essay"},
        {**tables[2], "reference": ""},
        {**tables[1], "code": ""},
    ):
        with pytest.raises(CourseInvalid) as info:
            parse_quiz([bad], course_id="c", source="questions.toml")
        assert "questions.toml" in info.value.user_message and "quiz #1" in info.value.user_message


def test_short_answers_must_be_a_phrase_the_section_states():
    from app.core.learning.checks import short_answer_stated

    def short(reference: str) -> QuizQuestion:
        return QuizQuestion("c", "05-loops", "s", "short", "Where does range(5) start and stop?", reference)

    assert short_answer_stated(short("it starts at 0 and stops before 5"), SECTION).passed
    assert not short_answer_stated(short("5"), SECTION).passed  # a bare number
    assert not short_answer_stated(short("0 to 4"), SECTION).passed  # mostly numbers
    assert not short_answer_stated(short("it gives numbers from a generator object"), SECTION).passed


def test_options_listed_with_the_answer_and_copied_questions_are_refused():
    from app.core.learning.checks import in_own_words

    falsy = SectionSource(course_id="c", lesson_id="04", lesson_title="Conditions", anchor="truthiness",
                          title="Truthiness", text="An `if` condition does not have to be `True` or `False` exactly. "
                          "Python treats some values as **falsy**: `False`, `0`, `0.0`, the empty string and `None`.")
    listed = parse_generated(falsy, "choice", json.dumps({"question": "Which value does Python treat as falsy?",
                                                          "answer": "None", "wrong_answers": ["0", "1", "7"],
                                                          "explanation": "x"}))
    assert "together with the answer" in distractors_wrong(listed, falsy).detail
    fine = parse_generated(falsy, "choice", json.dumps({"question": "Which value does Python treat as falsy?",
                                                        "answer": "None", "wrong_answers": ["1", "7", "42"],
                                                        "explanation": "x"}))
    assert distractors_wrong(fine, falsy).passed
    bent = parse_generated(falsy, "short", json.dumps({
        "question": "Why can an if condition be something other than True or False?", "answer": "x y z",
        "explanation": "x"}))
    assert in_own_words(bent, falsy).passed  # a question may share words with the text
    copied = parse_generated(falsy, "short", json.dumps({
        "question": "What does an if condition does not have to be True or False exactly mean?", "answer": "x",
        "explanation": "x"}))
    assert not in_own_words(copied, falsy).passed
