"""The eval-set schema: what a valid query line is, and errors that name the bad line."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from app.core.errors import EvalSetInvalid, LanternError
from app.core.evaluation.eval_set import QUERY_TYPES, EvalQuery, parse_eval_set


def _query(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": "pfz-explain-001", "course": "python-from-zero", "question": "why is range(5) missing 5?",
        "type": "explain", "difficulty": 1, "language": "en",
        "gold": [{"lesson": "05-loops", "section": "looping-over-a-range"}],
        "key_points": ["range(5) starts at 0 and stops before 5", "five numbers, 0 to 4"],
        "expected": "answer", "needs_cloud": False, "split": "tuning",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def _line(**changes: object) -> str:
    return json.dumps(_query(**changes), ensure_ascii=False)


def test_parses_queries_and_skips_blank_lines():
    lines = [_line(), "", "   ", _line(id="pcb-hint-001", course="python-co-ban", type="hint", language="vi",
                                     expected="socratic_hint", attempt="for i in range(5) print(i)",
                                     gold=[{"lesson": "04-vong-lap", "section": "lặp-với-range"}])]
    queries = parse_eval_set(lines)
    assert [q.id for q in queries] == ["pfz-explain-001", "pcb-hint-001"]
    first, hint = queries
    assert isinstance(first, EvalQuery) and first.gold[0].citation == "05-loops#looping-over-a-range"
    assert first.attempt is None and hint.attempt == "for i in range(5) print(i)"
    assert hint.gold[0].section == "lặp-với-range"


def test_off_course_query_needs_no_gold_or_key_points():
    [query] = parse_eval_set([_line(type="off_course", expected="refuse", gold=[], key_points=[])])
    assert query.type == "off_course" and query.gold == () and query.key_points == ()


def test_every_type_is_known():
    assert set(QUERY_TYPES) == {"define", "explain", "summarise", "hint", "quiz", "code", "compare", "design",
                                "off_course"}


def test_bad_json_names_the_line():
    with pytest.raises(EvalSetInvalid, match=r"line 3: not valid JSON") as info:
        parse_eval_set([_line(), "", '{"id": "x",'], source="q.jsonl")
    assert isinstance(info.value, ValueError) and isinstance(info.value, LanternError)
    assert info.value.user_message.startswith("q.jsonl, line 3")
    assert info.value.debug_context["line"] == 3


def test_a_line_that_is_not_an_object_names_the_line():
    with pytest.raises(EvalSetInvalid, match=r"line 2: expected a JSON object, not list"):
        parse_eval_set([_line(), "[1, 2]"])


@pytest.mark.parametrize(("changes", "message"), [
    ({"difficulty": 4}, r"difficulty"),
    ({"type": "lookup"}, r"type"),
    ({"language": "fr"}, r"language"),
    ({"split": "test"}, r"split"),
    ({"question": None}, r"question: Field required"),
    ({"id": "Has Spaces"}, r"id"),
    ({"extra": 1}, r"extra"),
    ({"key_points": ["only one"]}, r"key_points must have 2 to 5 items, not 1"),
    ({"key_points": ["a", "b", "c", "d", "e", "f"]}, r"2 to 5 items, not 6"),
    ({"gold": []}, r"gold must name at least one lesson section"),
    ({"gold": [{"lesson": "05-loops", "section": "Has Caps"}]}, r"gold\.0\.section"),
    ({"expected": "refuse"}, r"off_course queries, and only they"),
    ({"type": "off_course", "expected": "refuse"}, r"no gold sections and no key points"),
    ({"type": "off_course"}, r"off_course queries, and only they"),
    ({"type": "hint", "expected": "socratic_hint"}, r"needs the learner's attempt"),
    ({"type": "hint"}, r"hint queries, and only they"),
    ({"attempt": "x = 1"}, r"only hint queries carry an attempt"),
    ({"gold": [{"lesson": "05-loops", "section": "loops"}, {"lesson": "05-loops", "section": "loops"}]},
     r"same section twice"),
])
def test_invalid_fields_name_the_line_and_the_problem(changes, message):
    with pytest.raises(EvalSetInvalid, match=r"line 2: .*" + message):
        parse_eval_set([_line(id="ok-001"), _line(**changes)])


def test_duplicate_ids_name_both_lines():
    with pytest.raises(EvalSetInvalid, match=r"line 4: id 'pfz-explain-001' is already used on line 1"):
        parse_eval_set([_line(), _line(id="other-001"), "", _line()])


def test_queries_are_frozen():
    [query] = parse_eval_set([_line()])
    with pytest.raises(ValidationError, match="frozen"):
        query.difficulty = 3  # type: ignore[misc]
