"""The tutor eval's deterministic metrics, targets and comparison, on real lesson text and the failure
strings the small models produce here (issue 16)."""

from __future__ import annotations

import pytest

from app.core.evaluation.eval_set import EvalQuery
from app.core.evaluation.judge import mean_score, parse_judge_score
from app.core.evaluation.metrics import (
    badness,
    groundedness,
    key_point_recall_embedding,
    key_point_recall_lexical,
    percentile,
    reveals_solution,
    score_query,
    socratic,
    summarise,
    verbatim_ratio,
)
from app.core.evaluation.records import AnswerRecord, CitationRecord, PassageRecord
from app.core.evaluation.targets import check_targets, compare
from tests.core.test_answer_check import BREAK, CONTINUE

POINTS = ("break leaves the loop immediately", "the code after the loop runs next")
GOOD = ("Use `break`: it leaves the loop immediately, even when the `while` condition is still true [1]. "
        "After that, the code after the loop runs next. What do you think happens to the lines below `break` "
        "inside the loop?")
PASSAGES = (PassageRecord("05-loops", ("loops", "stopping-a-loop-early-break"), "Loops › break", BREAK),
            PassageRecord("05-loops", ("loops", "skipping-a-step-continue"), "Loops › continue", CONTINUE))


def query(**changes) -> EvalQuery:
    base = dict(id="t-explain-001", course="python-from-zero", question="How do I stop a loop early?", type="explain",
                difficulty=1, language="en", gold=[{"lesson": "05-loops", "section": "stopping-a-loop-early-break"}],
                key_points=list(POINTS), expected="answer", needs_cloud=False, split="tuning")
    base.update(changes)
    return EvalQuery.model_validate(base)


def record(text: str = GOOD, **changes) -> AnswerRecord:
    base = dict(query_id="t-explain-001", model_id="m", text=text, covered=True, passages=PASSAGES,
                citations=(CitationRecord(1, True),), where="on-device", time_to_first_token_s=0.5, total_s=2.0,
                prompt_tokens=700, completion_tokens=60, tokens_per_second=40.0, peak_rss_bytes=500 * 2**20)
    base.update(changes)
    return AnswerRecord(**base)


def test_key_point_recall_counts_stated_facts_only():
    assert key_point_recall_lexical(POINTS, GOOD) == 1.0
    assert key_point_recall_lexical(POINTS, "Loops leave immediately.") == 0.5  # "loop", "leave(s)", "immediately"
    assert key_point_recall_lexical(POINTS, "[1]") == 0.0
    assert key_point_recall_embedding([0.81, 0.42]) == 0.5
    assert key_point_recall_lexical((), GOOD) is None


def test_groundedness_and_verbatim_tell_an_explanation_from_a_paste_and_an_invention():
    assert verbatim_ratio(BREAK, [BREAK]) == pytest.approx(1.0)
    assert verbatim_ratio(GOOD, [BREAK]) < 0.3
    invented = "Python loops stop automatically after one hundred iterations. Recursion is faster than iteration."
    assert groundedness(invented, [BREAK, CONTINUE]) == 0.0
    assert groundedness(BREAK, [BREAK]) == 1.0
    assert groundedness("Yes.", [BREAK]) is None  # nothing to judge


def test_socratic_hint_guides_without_handing_over_the_solution():
    attempt = "for n in range(10):\n    if n == 5:\n        stop"
    hint = "Close! `stop` is not a Python word. Which statement leaves a loop at once? Try it on line 3."
    solution = ("Here is the fixed code:\n```python\nfor n in range(10):\n    print(n)\n    if n == 5:\n"
                "        break\nprint('done')\n```")
    assert socratic(hint, attempt)
    assert reveals_solution(solution, attempt) and not socratic(solution, attempt)
    # Quoting the learner's own lines back is not a solution.
    assert not reveals_solution(f"Look at this part:\n```python\n{attempt}\n```\nWhat does line 3 do?", attempt)


def test_score_of_a_good_cited_answer():
    s = score_query(query(), record(), course_language="en", point_similarities=[0.9, 0.7])
    assert (s.real_answer, s.refused, s.false_refusal, s.refusal_correct) == (True, False, False, None)
    assert (s.kp_lexical, s.kp_embedding, s.cited, s.cited_in_gold) == (1.0, 1.0, 1, 1)
    assert s.gold_in_passages and s.language_match and s.socratic is None
    assert badness(s) == 0


def test_score_of_the_failures_seen_here():
    marker = score_query(query(), record("[1]", problems=("marker_only",)), course_language="en")
    assert marker.real_answer is False and marker.kp_lexical == 0.0
    cut = score_query(query(), record(GOOD, problems=("cut_off",), finish_reason="length"), course_language="en")
    assert cut.real_answer is False
    wrong_cite = score_query(query(), record(citations=(CitationRecord(2, True),)), course_language="en")
    assert (wrong_cite.cited, wrong_cite.cited_in_gold) == (1, 0)
    not_covered = score_query(query(), record("The course doesn't cover that.", covered=False, passages=(),
                                              citations=()), course_language="en")
    assert not_covered.false_refusal and not_covered.real_answer is False and not_covered.time_to_first_token_s is None
    model_refused = score_query(query(), record("I don't know, the course does not cover it."), course_language="en")
    assert model_refused.refused and model_refused.real_answer is False
    assert badness(marker) > badness(wrong_cite) > 0


def test_off_course_refusal_and_cross_lingual_questions():
    off = query(id="t-off-001", type="off_course", expected="refuse", gold=[], key_points=[])
    refused = record("The course doesn't cover that.", covered=False)
    assert score_query(off, refused, course_language="en").refusal_correct
    answered = score_query(off, record(), course_language="en")
    assert answered.refusal_correct is False and answered.real_answer is None and badness(answered) >= 3
    vi = query(id="t-vi-001", language="vi", question="Làm sao để dừng vòng lặp sớm?")
    s = score_query(vi, record("Dùng lệnh `break` để thoát khỏi vòng lặp ngay lập tức, rồi chương trình chạy tiếp."),
                    course_language="en", point_similarities=[0.1, 0.1])
    # English key points cannot be matched against a Vietnamese answer: left out, not scored zero.
    assert s.cross_lingual and s.kp_lexical is None and s.kp_embedding is None
    assert s.language_match and s.gold_in_passages
    english = score_query(vi, record(), course_language="en")
    assert english.language_match is False


def test_summary_percentiles_and_micro_averaged_citations():
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 50) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0, 100.0], 95) == 100.0
    assert percentile([], 50) is None
    scores = [score_query(query(), record(citations=(CitationRecord(1, True), CitationRecord(2, True))),
                          course_language="en"),
              score_query(query(id="t-explain-002"), record(total_s=4.0), course_language="en")]
    s = summarise(scores)
    assert s["queries"] == 2 and s["citation_precision"] == pytest.approx(2 / 3)
    assert s["total_p50_s"] == 2.0 and s["total_p95_s"] == 4.0
    assert s["peak_memory_mb"] == 500 and s["cost_per_1000_usd"] == 0
    assert "judge_score" not in s  # only with --judge
    assert summarise([])["real_answer_rate"] is None


def test_targets_say_by_how_much_they_are_missed():
    checks = {c.metric: c for c in check_targets(
        {"real_answer_rate": 0.90, "citation_precision": 0.95, "refusal_accuracy": 1.0,
         "gold_in_passages_cross_lingual": None, "kp_recall_lexical": 0.5},
        baseline_held_out={"kp_recall_lexical": 0.3})}
    assert checks["real_answer_rate"].met is False and checks["real_answer_rate"].gap == pytest.approx(0.05)
    assert checks["citation_precision"].met and checks["citation_precision"].gap == 0
    assert checks["gold_in_passages_cross_lingual"].met is None
    assert checks["kp_recall_lexical gain"].met  # 0.5 >= 0.3 * 4/3


def test_comparison_flags_regressions_beyond_the_noise():
    old = {"m": {"held_out": {"real_answer_rate": 0.90, "total_p50_s": 2.0, "kp_recall_lexical": 0.40}}}
    new = {"m": {"held_out": {"real_answer_rate": 0.80, "total_p50_s": 2.1, "kp_recall_lexical": 0.50}},
           "other": {"held_out": {"real_answer_rate": 1.0}}}
    verdicts = {c.metric: c.verdict for c in compare(new, old)}
    assert verdicts == {"real_answer_rate": "regression", "total_p50_s": "same", "kp_recall_lexical": "improvement"}


def test_judge_score_parsing():
    assert parse_judge_score("SCORE: 4") == 4
    assert parse_judge_score("I would give it 3/5 because") == 3
    assert parse_judge_score("no idea") is None
    assert mean_score([4, None, 5]) == 4.5 and mean_score([None]) is None


def test_record_round_trips_through_json():
    r = record(problems=("cut_off",), error=None)
    assert AnswerRecord.from_dict(r.to_dict()) == r
