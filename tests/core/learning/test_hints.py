"""The hint ladder's pure parts: its state, the exercises of the real built-in lessons, the prompts and
the leak check (with the eval set's own hint attempts)."""

from __future__ import annotations

import json

import pytest

from app.core.evaluation.metrics import reveals_solution
from app.core.learning.hints import (
    DIAGNOSIS_SCHEMA,
    HINT_LEVELS,
    SOLUTION_SCHEMA,
    HintContext,
    HintLadder,
    default_diagnosis,
    diagnosis_messages,
    exercises_in,
    explanation_messages,
    hint_messages,
    leaks_solution,
    parse_diagnosis,
    parse_solution,
    solution_block,
    solution_code_lines,
    solution_messages,
    teaching_section,
)
from app.services.evaluation.eval_set import load_eval_set
from app.services.knowledge.course_files import read_course
from app.services.resources import resource_path


@pytest.fixture(scope="module")
def courses():
    return {cid: read_course(resource_path("courses", cid)) for cid in ("python-from-zero", "python-co-ban")}


@pytest.fixture(scope="module")
def hint_queries():
    return [q for q in load_eval_set() if q.type == "hint"]


# -- the ladder -----------------------------------------------------------------------------------------

def test_the_ladder_climbs_one_level_per_request_and_stops_at_the_solution():
    ladder = HintLadder("05-loops/ex-2")
    assert ladder.level == 0 and ladder.next_level == 1 and ladder.can_escalate
    seen = []
    for _step in range(6):
        ladder = ladder.next()
        seen.append(ladder.level)
    assert seen == [1, 2, 3, 4, 4, 4]
    assert not ladder.can_escalate and ladder.next_level == 4


def test_the_ladder_keeps_the_reference_solution_once_made():
    ladder = HintLadder("x/ex-1").next(solution="print(1)")
    assert ladder.solution == "print(1)"
    assert ladder.next().solution == "print(1)"  # the next level reuses it
    assert ladder.next(solution="print(2)").solution == "print(2)"


def test_levels_are_named_and_bounded():
    assert dict(HINT_LEVELS) == {1: "nudge", 2: "concept", 3: "worked step", 4: "solution"}
    with pytest.raises(ValueError):
        HintLadder("x", level=5)


# -- exercises ------------------------------------------------------------------------------------------

def test_every_built_in_lesson_has_its_numbered_exercises(courses):
    for course in courses.values():
        for lesson in course.lessons:
            found = exercises_in(lesson, course_id=course.id)
            assert [e.number for e in found] == list(range(1, len(found) + 1)), lesson.id
            assert len(found) >= 4, lesson.id
            assert all(e.id == f"{lesson.id}/ex-{e.number}" and e.course_id == course.id for e in found)
            assert len({e.id for e in found}) == len(found)


def test_an_exercise_keeps_its_continuation_lines_and_its_section(courses):
    loops = courses["python-from-zero"].lesson("05-loops")
    found = {e.number: e for e in exercises_in(loops)}
    assert found[2].text == ("Ask the user for numbers until they type `0`, then print the total. "
                             "Use `while True` and `break`.")
    assert found[2].section == "exercises" and found[2].lesson_id == "05-loops"
    vong_lap = exercises_in(courses["python-co-ban"].lesson("04-vong-lap"))
    assert vong_lap[0].section == "bài-tập" and vong_lap[0].text.startswith("In các số từ 10 xuống 1")


def test_the_teaching_section_of_an_exercise_is_the_one_about_its_idea(courses):
    loops = courses["python-from-zero"].lesson("05-loops")
    by_number = {e.number: e for e in exercises_in(loops)}
    assert teaching_section(loops, by_number[2]).anchor == "stopping-a-loop-early-break"
    assert teaching_section(loops, by_number[3]).anchor == "skipping-a-step-continue"


def test_a_lesson_without_an_exercise_list_has_none():
    from app.core.courses import Lesson

    lesson = Lesson("x", "X", "# X\n\n## Loops\n\n1. not an exercise list\n", "h")
    assert exercises_in(lesson) == []


# -- schemas and prompts --------------------------------------------------------------------------------

def test_the_diagnosis_is_read_bounded_and_refused_when_malformed():
    good = json.dumps({"error": "e" * 500, "strategy": "ask", "intention": "find it"})
    parsed = parse_diagnosis(good)
    assert parsed is not None and len(parsed["error"]) == DIAGNOSIS_SCHEMA["properties"]["error"]["maxLength"]
    assert parse_diagnosis('{"error": "x", "strategy": "y"') is None           # cut off
    assert parse_diagnosis('{"error": "x", "strategy": "", "intention": "z"}') is None
    assert parse_diagnosis("no json here") is None
    assert set(default_diagnosis(2)) == {"error", "strategy", "intention"}


def test_the_solution_is_read_from_json_or_from_plain_code():
    assert SOLUTION_SCHEMA["required"] == ["solution"]
    assert parse_solution('{"solution": "print(1)\\nprint(2)"}', as_json=True) == "print(1)\nprint(2)"
    assert parse_solution('{"solution": ', as_json=True) is None
    assert parse_solution("Here:\n```python\nx = 1\n```", as_json=False) == "x = 1"


def test_every_prompt_carries_the_exercise_the_section_and_the_attempt_verbatim():
    attempt = 'a = input("First: ")\nb = input("Second: ")\nprint(a + b)'
    ctx = HintContext("Add two numbers", "Turning input into a number", "input() returns a string.", attempt)
    diagnosis = {"error": "a + b joins strings", "strategy": "ask", "intention": "see the type"}
    prompts = [solution_messages(ctx), diagnosis_messages(ctx, 1, "x"), hint_messages(ctx, 2, diagnosis),
               explanation_messages(ctx, "x", diagnosis)]
    systems = {p[0].content for p in prompts}
    assert len(systems) == 1  # one shared prefix: the KV cache is reused between the steps
    for messages in prompts:
        user = messages[-1].content
        assert attempt in user and "Add two numbers" in user and "input() returns a string." in user
    assert "a + b joins strings" in prompts[2][-1].content
    assert "concept" in prompts[2][-1].content
    strict = hint_messages(ctx, 1, diagnosis, stricter="a code block")[-1].content
    assert "gave too much away (a code block)" in strict
    with pytest.raises(ValueError):
        hint_messages(ctx, 4, diagnosis)


def test_an_attempt_with_backticks_gets_a_longer_fence():
    ctx = HintContext("e", "t", "s", "```\nprint(1)\n```")
    assert "````\n```\nprint(1)\n```\n````" in solution_messages(ctx)[-1].content


def test_level_four_shows_code_fenced_and_a_worded_answer_as_it_is():
    assert solution_block("x = 1\nprint(x)") == "```python\nx = 1\nprint(x)\n```"
    assert solution_block("Only diem_thi and _an are valid.") == "Only diem_thi and _an are valid."


# -- the leak check -------------------------------------------------------------------------------------

SEP_ATTEMPT = 'print("09", ":", "45", ":", "30")'
SEP_SOLUTION = 'print("09", "45", "30", sep=":")'
PALINDROME_ATTEMPT = 'word = input("Word: ")\nif word == word[::1]:\n    print("palindrome")'
PALINDROME_SOLUTION = ('word = input("Word: ")\nif word == word[::-1]:\n    print("palindrome")\n'
                       'else:\n    print("not a palindrome")')


@pytest.mark.parametrize("hint", [
    "What does print() put between the items you give it?",
    "Look at the `sep` parameter of print(). What is its default value?",
    "You can change the separator: print('a', 'b', sep='-') prints a-b. What would you put there?",
])
def test_hints_that_guide_do_not_leak(hint):
    assert leaks_solution(hint, attempt=SEP_ATTEMPT, solution=SEP_SOLUTION) is None


@pytest.mark.parametrize("hint", [
    f"Just write `{SEP_SOLUTION}`.",
    "Use print(\"09\", \"45\", \"30\", sep=':') instead.",    # other quotes, other spacing
    f"```python\n{SEP_SOLUTION}\n```",
])
def test_the_whole_solution_leaks(hint):
    assert leaks_solution(hint, attempt=SEP_ATTEMPT, solution=SEP_SOLUTION) == "the whole reference solution"


def test_a_new_line_or_expression_of_the_solution_leaks_but_the_learners_own_lines_do_not():
    line = leaks_solution("Write `if word == word[::-1]:` there.", attempt=PALINDROME_ATTEMPT,
                          solution=PALINDROME_SOLUTION)
    assert line is not None and "word == word[::-1]" in line
    expression = leaks_solution("Change the slice to word[::-1].", attempt=PALINDROME_ATTEMPT,
                                solution=PALINDROME_SOLUTION)
    assert expression is not None and "expression" in expression
    assert leaks_solution("A step of -1 goes backwards: 'abc'[::-1] is 'cba'.", attempt=PALINDROME_ATTEMPT,
                          solution=PALINDROME_SOLUTION) is None
    # Quoting the learner's own code back is not a leak.
    assert leaks_solution('Your line `if word == word[::1]:` compares the word with what?',
                          attempt=PALINDROME_ATTEMPT, solution=PALINDROME_SOLUTION) is None


def test_a_code_block_of_new_lines_leaks_by_the_evals_own_quality_check():
    block = "```python\nfor i in range(3):\n    total = i\n    print(total)\n```"
    assert reveals_solution(block, "")
    assert leaks_solution(block, attempt="", solution=None) == "a code block of 3+ lines the learner did not write"


def test_a_worded_answer_leaks_when_the_hint_says_most_of_it():
    attempt = "Mình nghĩ diem_thi, 2ban và tong-tien đều hợp lệ vì chúng có chữ cái."
    solution = "diem_thi và _an hợp lệ; 2ban bắt đầu bằng chữ số, tong-tien có dấu gạch ngang, class là từ khóa."
    assert solution_code_lines(solution) == []
    assert leaks_solution("Tên biến có được bắt đầu bằng chữ số không?", attempt=attempt, solution=solution) is None
    told = "2ban bắt đầu bằng chữ số, tong-tien có dấu gạch ngang, còn class là từ khóa."
    assert "reference answer" in leaks_solution(told, attempt=attempt, solution=solution)


def test_the_eval_sets_attempts_are_not_leaks_of_themselves(hint_queries):
    """Quoting a learner's whole attempt back never counts, whatever the solution shares with it."""
    assert len(hint_queries) == 47
    for q in hint_queries:
        quoted = f"You wrote:\n```python\n{q.attempt}\n```\nWhat does each line do?"
        assert not reveals_solution(quoted, q.attempt), q.id
        assert leaks_solution(quoted, attempt=q.attempt, solution=q.attempt, exercise=q.question) is None, q.id


def test_the_eval_sets_attempts_against_a_real_fix(hint_queries):
    by_id = {q.id: q for q in hint_queries}
    q = by_id["pfz-hint-002"]
    fix = 'a = int(input("First: "))\nb = int(input("Second: "))\nprint(a + b)'
    assert leaks_solution("What type does input() give you back?", attempt=q.attempt, solution=fix) is None
    assert leaks_solution("Wrap it: a = int(input(\"First: \"))", attempt=q.attempt, solution=fix) is not None
    assert leaks_solution(f"```python\n{fix}\n```", attempt=q.attempt, solution=fix) is not None
