"""The optional LLM judge (`lantern eval tutor --judge MODEL`): a rubric prompt and its score parser.

A judge model is a second opinion, not a measurement: its score depends on the judge, and a small
judge is noisy. So it is asked JUDGE_RUNS times with sampling (different seeds), the mean is reported
as "judge score", and it never enters the deterministic metrics (app.core.evaluation.metrics).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from app.core.evaluation.eval_set import EvalQuery
from app.core.inference import ChatMessage, Sampling

JUDGE_RUNS = 3
JUDGE_TOKENS = 48
JUDGE_VERSION = "judge-1"  # part of the cache key: change it when the rubric changes


def judge_sampling(run: int) -> Sampling:
    return Sampling(temperature=0.7, top_p=0.95, seed=1000 + run)


_RUBRIC = (
    "You grade one answer of a programming tutor. Score it from 1 to 5:\n"
    "5 = correct, explains the idea in its own words, states the reference facts, and (for a hint request) "
    "guides without giving the whole solution; 4 = correct and helpful with a small gap; 3 = partly correct "
    "or mostly copied text; 2 = mostly wrong, off-topic, or in the wrong language; 1 = empty, nonsense, or "
    "a refusal although the facts are given. If the question is not about the course, a polite refusal "
    "scores 5 and any attempt to answer scores 1.\n"
    "Reply with one line: SCORE: <1-5>")


def judge_messages(query: EvalQuery, answer: str) -> tuple[ChatMessage, ...]:
    facts = "\n".join(f"- {p}" for p in query.key_points) or "- (not covered by the course: it should refuse)"
    attempt = f"\n\nLearner's attempt:\n{query.attempt}" if query.attempt else ""
    user = (f"Question ({query.language}): {query.question}{attempt}\n\nReference facts:\n{facts}\n\n"
            f"Tutor's answer:\n{answer.strip() or '(empty)'}\n\nSCORE:")
    return ChatMessage("system", _RUBRIC), ChatMessage("user", user)


_SCORE = re.compile(r"(?:score\s*[:=]?\s*)?\b([1-5])(?:\s*/\s*5)?\b", re.IGNORECASE)


def parse_judge_score(text: str) -> int | None:
    """The first 1-5 in the reply ("SCORE: 4", "4/5", "4"); None when there is none."""
    match = _SCORE.search(text)
    return int(match.group(1)) if match else None


def mean_score(scores: Sequence[int | None]) -> float | None:
    given = [s for s in scores if s is not None]
    return sum(given) / len(given) if given else None
