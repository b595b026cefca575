"""The shipped tutoring eval set (resources/eval/tutor_queries.jsonl) against the built-in courses.

Besides the schema, these checks keep the labels honest: every gold section is a real heading anchor
(computed with the app's own splitter), every key point's words are found in the text of its gold
sections (a lexical check with a tolerance, strict enough to fail on a wrong gold label: see
test_the_key_point_check_catches_wrong_gold_sections), and the held-out split is a stratified third.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from app.core.errors import EvalSetInvalid
from app.core.evaluation.eval_set import QUERY_TYPES, EvalQuery
from app.core.evaluation.text_match import point_coverage
from app.core.markdown_sections import slugify, split_sections
from app.services.evaluation.eval_set import default_eval_set_path, load_eval_set
from app.services.knowledge.course_files import read_course
from app.services.resources import resource_path

COURSES = ("python-from-zero", "python-co-ban")
POINT_MIN = 0.6  # every key point: at least this share of its content words in the gold text
POINT_GOOD = 0.75  # and nearly all of them (GOOD_SHARE) at least this share
GOOD_SHARE = 0.95


@pytest.fixture(scope="module")
def queries() -> list[EvalQuery]:
    return load_eval_set()


@pytest.fixture(scope="module")
def section_texts() -> dict[tuple[str, str, str], str]:
    """(course, lesson, anchor) -> the section's heading and text with all its subsections."""
    texts: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for course_id in COURSES:
        course = read_course(resource_path("courses", course_id))
        for lesson in course.lessons:
            for section in split_sections(lesson.id, lesson.body):
                for anchor in section.anchors:
                    texts[(course_id, lesson.id, anchor)].append(f"{section.titles[-1]}\n{section.text}")
    return {key: "\n".join(parts) for key, parts in texts.items()}


def _coverage(point: str, gold_text: str) -> float:
    """Share of the point's content words found in the text (plural/suffix-tolerant for long words)."""
    return point_coverage(point, gold_text)


def _gold_text(query: EvalQuery, texts: dict[tuple[str, str, str], str]) -> str:
    return "\n".join(texts.get((query.course, g.lesson, g.section), "") for g in query.gold)


def test_default_path_is_the_shipped_file():
    assert default_eval_set_path() == resource_path("eval", "tutor_queries.jsonl")
    assert default_eval_set_path().is_file()


def test_size_ids_and_one_object_per_line(queries):
    assert len(queries) >= 300
    ids = [q.id for q in queries]
    assert len(set(ids)) == len(ids)
    assert all(q.id.startswith({"python-from-zero": "pfz-", "python-co-ban": "pcb-"}[q.course]) for q in queries)
    lines = [line for line in default_eval_set_path().read_text(encoding="utf-8").split("\n") if line.strip()]
    assert len(lines) == len(queries) and all(isinstance(json.loads(line), dict) for line in lines)


def test_every_gold_section_exists_in_its_course(queries, section_texts):
    missing = [f"{q.id}: {q.course}/{g.citation}" for q in queries for g in q.gold
               if (q.course, g.lesson, g.section) not in section_texts]
    assert not missing, "\n".join(missing)


def test_key_points_are_found_in_the_gold_sections(queries, section_texts):
    weak, scores = [], []
    for q in queries:
        gold = _gold_text(q, section_texts)
        for point in q.key_points:
            score = _coverage(point, gold)
            scores.append(score)
            if score < POINT_MIN:
                weak.append(f"{q.id}: {point!r} ({score:.2f})")
    assert not weak, "key points not in their gold sections:\n" + "\n".join(weak)
    assert sum(s >= POINT_GOOD for s in scores) >= GOOD_SHARE * len(scores)


def test_the_key_point_check_catches_wrong_gold_sections(queries, section_texts):
    """Swap each query's gold for a wrong section, from another lesson or a neighbour in the same lesson
    (never a lesson's top heading, whose text spans the whole lesson): most must fail."""
    order = list(section_texts)  # document order, course by course
    tops = {next(k for k in order if k[:2] == key[:2]) for key in order}
    caught = {"other lesson": [0, 0], "same lesson": [0, 0]}
    for q in queries:
        if not q.gold:
            continue
        first = q.gold[0]
        gold = {(q.course, g.lesson, g.section) for g in q.gold}
        start = order.index((q.course, first.lesson, first.section))
        rotated = [k for k in order[start + 1:] + order[:start] if k not in tops]
        other = next(k for k in rotated if k[0] == q.course and k[1] not in {g.lesson for g in q.gold})
        neighbour = next((k for k in rotated if k[:2] == (q.course, first.lesson) and k not in gold), None)
        for kind, key in (("other lesson", other), ("same lesson", neighbour)):
            if key is None:
                continue
            caught[kind][1] += 1
            caught[kind][0] += any(_coverage(p, section_texts[key]) < POINT_MIN for p in q.key_points)
    assert caught["other lesson"][0] >= 0.9 * caught["other lesson"][1], caught
    assert caught["same lesson"][0] >= 0.75 * caught["same lesson"][1], caught


def test_key_point_counts_and_expected_behaviour(queries):
    for q in queries:
        if q.type == "off_course":
            assert q.expected == "refuse" and not q.gold and not q.key_points and not q.needs_cloud, q.id
        else:
            assert 2 <= len(q.key_points) <= 5 and q.gold, q.id
        assert (q.type == "hint") == (q.expected == "socratic_hint"), q.id
        assert (q.type == "hint") == bool(q.attempt), q.id
        if q.type == "design":
            assert q.needs_cloud, q.id


def test_types_and_languages_are_spread(queries):
    by = Counter((q.type, q.language) for q in queries)
    for query_type in QUERY_TYPES:
        for language in ("en", "vi"):
            assert by[(query_type, language)] >= 3, (query_type, language)
    assert sum(q.type == "off_course" for q in queries) >= 30
    covered = [q for q in queries if q.type != "off_course"]
    assert sum(q.course == "python-from-zero" and q.language == "vi" for q in covered) >= 25
    assert sum(q.course == "python-co-ban" and q.language == "en" for q in covered) >= 10
    assert {q.difficulty for q in queries} == {1, 2, 3}
    assert any(q.needs_cloud for q in queries) and not all(q.needs_cloud for q in queries)


def test_summarise_queries_name_their_section(queries):
    """A summarise request quotes the section's heading; its anchor is the first gold section."""
    for q in (q for q in queries if q.type == "summarise"):
        named = re.search(r"'([^']+)'", q.question)
        assert named, q.id
        assert slugify(named.group(1)) == q.gold[0].section, q.id


def test_held_out_is_a_stratified_third(queries):
    held = [q for q in queries if q.split == "held_out"]
    share = len(held) / len(queries)
    assert share >= 1 / 3
    for key in ("type", "language", "course"):
        groups: dict[str, list[EvalQuery]] = defaultdict(list)
        for q in queries:
            groups[getattr(q, key)].append(q)
        for name, group in groups.items():
            group_share = sum(q.split == "held_out" for q in group) / len(group)
            assert abs(group_share - share) <= 0.10, (key, name, round(group_share, 3))


def test_load_errors_name_the_file_and_line(tmp_path: Path):
    with pytest.raises(EvalSetInvalid, match="Cannot read the eval set"):
        load_eval_set(tmp_path / "missing.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(default_eval_set_path().read_text(encoding="utf-8").split("\n")[0] + "\n{oops\n", encoding="utf-8")
    with pytest.raises(EvalSetInvalid, match=r"bad\.jsonl, line 2: not valid JSON"):
        load_eval_set(bad)
