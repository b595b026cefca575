"""Retrieval eval: which rank finds the labelled section, and recall@1, recall@5, MRR."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.core.courses import CourseChunk, LabelledQuestion
from app.core.retrieval_eval import RetrievalScores, first_relevant_rank, score_ranks


def make_chunk(lesson_id: str, anchors: tuple[str, ...]) -> CourseChunk:
    return CourseChunk(lesson_id=lesson_id, ordinal=0, titles=tuple(a.title() for a in anchors), anchors=anchors,
                       text="t", token_count=1)


def q(text: str = "q", lesson: str = "05-loops", section: str = "loops") -> LabelledQuestion:
    return LabelledQuestion(question=text, lesson=lesson, section=section)


def test_first_relevant_rank_counts_subsections():
    retrieved = [
        make_chunk("06-functions", ("loops",)),  # same anchor, other lesson
        make_chunk("05-loops", ("while",)),  # same lesson, other section
        make_chunk("05-loops", ("loops", "stopping-early")),  # a subsection of "loops"
        make_chunk("05-loops", ("loops",)),
    ]
    assert first_relevant_rank(q(section="loops"), retrieved) == 3
    assert first_relevant_rank(q(section="stopping-early"), retrieved) == 3
    assert first_relevant_rank(q(section="while"), retrieved) == 2
    assert first_relevant_rank(q(lesson="06-functions"), retrieved) == 1


def test_first_relevant_rank_parent_chunk_does_not_cover_subsection():
    retrieved = [make_chunk("05-loops", ("loops",)), make_chunk("05-loops", ("loops", "break"))]
    assert first_relevant_rank(q(section="break"), retrieved) == 2


def test_first_relevant_rank_miss_and_empty():
    assert first_relevant_rank(q(section="recursion"), [make_chunk("05-loops", ("loops",))]) is None
    assert first_relevant_rank(q(), []) is None


def test_first_relevant_rank_without_section_matches_any_chunk_of_the_lesson():
    retrieved = [make_chunk("01-intro", ("a",)), make_chunk("05-loops", ())]
    assert first_relevant_rank(q(section=""), retrieved) == 2


def test_score_ranks_hand_example():
    questions = [q("q1"), q("q2"), q("q3"), q("q4")]
    scores = score_ranks("hybrid", questions, [1, 3, None, 6])
    assert scores.mode == "hybrid"
    assert scores.questions == 4
    assert scores.recall_at_1 == pytest.approx(1 / 4)
    assert scores.recall_at_5 == pytest.approx(2 / 4)
    assert scores.mrr == pytest.approx((1 + 1 / 3 + 0 + 1 / 6) / 4)  # 0.375
    assert scores.missed == ("q3", "q4")
    assert scores.to_dict() == {"mode": "hybrid", "questions": 4, "recall@1": 0.25, "recall@5": 0.5,
                                "mrr": 0.375, "missed_at_5": ["q3", "q4"]}


def test_score_ranks_rank_five_is_found_at_five():
    scores = score_ranks("vector", [q("a"), q("b")], [5, 2])
    assert scores.recall_at_5 == 1.0
    assert scores.recall_at_1 == 0.0
    assert scores.mrr == pytest.approx((1 / 5 + 1 / 2) / 2)
    assert scores.missed == ()


def test_score_ranks_rounds_in_dict():
    scores = score_ranks("bm25", [q("a"), q("b"), q("c")], [1, 3, None])
    assert scores.to_dict()["recall@1"] == 0.3333
    assert scores.to_dict()["mrr"] == 0.4444


def test_score_ranks_mismatched_lengths_raise():
    with pytest.raises(ValueError):
        score_ranks("m", [q()], [])
    with pytest.raises(ValueError):
        score_ranks("m", [], [1])


def test_score_ranks_empty():
    assert score_ranks("m", [], []) == RetrievalScores("m", 0, 0.0, 0.0, 0.0, ())


@given(st.lists(st.one_of(st.none(), st.integers(1, 20)), min_size=1, max_size=30))
def test_score_ranks_bounds(ranks):
    scores = score_ranks("m", [q(f"q{i}") for i in range(len(ranks))], ranks)
    assert 0 <= scores.recall_at_1 <= scores.recall_at_5 <= 1
    assert scores.recall_at_1 <= scores.mrr <= scores.recall_at_5 + sum(1 for r in ranks if r and r > 5) / 6 / len(
        ranks) + 1e-12
    assert len(scores.missed) == round((1 - scores.recall_at_5) * len(ranks))
