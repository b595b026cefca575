"""The deterministic answer-quality metrics of `lantern eval tutor`, per query and aggregated.

Every metric is computed from the answer text, the passages the model was given and the query's
labels, with no model in the loop, so the same answers always give the same numbers (the optional
LLM judge is reported apart, never mixed in). docs/evaluation.md explains each one; in short:

- real answer: a covered question got text that is not empty, not only "[1]", not cut off, and not
  the "not covered" reply;
- key-point recall: share of the reference facts the answer states, lexically (the fact's content
  words, plural-tolerant) and by embedding similarity (the caller passes the similarities);
- citation precision: share of the answer's cited passages that lie in a gold section;
- groundedness: share of the answer's sentences whose content words mostly come from one passage;
- verbatim ratio: share of the answer's word 5-grams copied from the passages;
- refusal: an off-course question is refused (by retrieval or by the model), a covered one is not;
- language match: the answer is in the question's language;
- Socratic adherence: a hint request gets a question or a hint, and not a finished solution.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Literal

from app.core.answer_check import guess_language, looks_like_refusal, prose
from app.core.evaluation.eval_set import EvalQuery
from app.core.evaluation.records import AnswerRecord
from app.core.evaluation.text_match import Vocabulary, content_words, ngrams, point_coverage, words

# A fact counts as stated when half its content words are in the answer: a paraphrase keeps the nouns
# and drops the connectives. Checked against hand-read answers on the tuning split (docs/evaluation.md).
POINT_LEXICAL_MIN = 0.5
# all-MiniLM-L6-v2 cosine between a fact and the closest answer sentence: paraphrases of one fact sit
# around 0.6-0.8, sentences on the same topic but another fact around 0.3-0.5.
POINT_EMBEDDING_MIN = 0.6
SUPPORTED_MIN = 0.6  # a sentence is grounded when 60 % of its content words are in one passage
SUPPORTED_MIN_WORDS = 3  # shorter sentences ("Try it!") say nothing to ground
VERBATIM_N = 5
_NOT_REAL = frozenset({"empty", "marker_only", "cut_off"})
_SENTENCES = re.compile(r"(?<=[.!?。])\s+|\n+")
_FENCED = re.compile(r"```[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
# A hint guides: it asks the learner something or tells them what to try or look at.
_GUIDES = re.compile(
    r"\?|\b(?:try|hint|think about|what happens|what would|notice|look at|consider|check|remember)\b"
    r"|thử|gợi ý|hãy nghĩ|điều gì|chú ý|để ý|kiểm tra|nhớ rằng",
    re.IGNORECASE)
SOLUTION_MIN_NEW_LINES = 3  # a code block with 3+ lines the learner did not write is a finished solution


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCES.split(prose(text)) if s.strip()]


def key_point_recall_lexical(points: Sequence[str], answer: str) -> float | None:
    if not points:
        return None
    return sum(point_coverage(p, answer) >= POINT_LEXICAL_MIN for p in points) / len(points)


def key_point_recall_embedding(similarities: Sequence[float]) -> float | None:
    """`similarities[i]`: the best cosine between key point i and any answer sentence."""
    if not similarities:
        return None
    return sum(s >= POINT_EMBEDDING_MIN for s in similarities) / len(similarities)


def groundedness(answer: str, passages: Sequence[str]) -> float | None:
    """Share of the answer's prose sentences (3+ content words) mostly made of one passage's words."""
    judged = [s for s in sentences(answer) if len(content_words(s)) >= SUPPORTED_MIN_WORDS]
    if not judged or not passages:
        return None
    vocabularies = [Vocabulary(p) for p in passages]
    return sum(any(v.coverage(s) >= SUPPORTED_MIN for v in vocabularies) for s in judged) / len(judged)


def verbatim_ratio(answer: str, passages: Sequence[str]) -> float | None:
    """Share of the answer's prose 5-grams that appear word for word in a passage (code blocks left out:
    copying the lesson's example is fine, pasting its explanation is not an explanation)."""
    grams = ngrams(words(prose(answer)), VERBATIM_N)
    if not grams:
        return None
    theirs = {g for p in passages for g in ngrams(words(prose(p)), VERBATIM_N)}
    return sum(g in theirs for g in grams) / len(grams)


def reveals_solution(answer: str, attempt: str) -> bool:
    """A code block with 3+ non-blank lines that are not in the learner's own attempt."""
    mine = {line.strip() for line in attempt.splitlines() if line.strip()}
    for block in _FENCED.findall(answer):
        new = [line for line in block.splitlines() if line.strip() and line.strip() not in mine]
        if len(new) >= SOLUTION_MIN_NEW_LINES:
            return True
    return False


def socratic(answer: str, attempt: str) -> bool:
    return bool(_GUIDES.search(prose(answer))) and not reveals_solution(answer, attempt)


@dataclass(frozen=True)
class QueryScore:
    """One (model, query): the labels it is grouped by, then each metric (None: does not apply)."""

    query_id: str
    model_id: str
    type: str
    split: str
    language: str
    cross_lingual: bool  # the question's language is not the course's
    expected: str
    refused: bool  # the course was said not to cover it (by retrieval or by the model)
    real_answer: bool | None  # questions the course covers
    kp_lexical: float | None
    kp_embedding: float | None
    cited: int  # passages the answer cites (inline or attributed)
    cited_in_gold: int
    groundedness: float | None
    verbatim: float | None
    refusal_correct: bool | None  # off-course questions only
    false_refusal: bool | None  # covered questions only
    language_match: bool | None
    socratic: bool | None  # hint requests only
    gold_in_passages: bool | None  # covered questions only: retrieval gave the model a gold section
    time_to_first_token_s: float | None
    total_s: float | None
    tokens_per_second: float | None
    prompt_tokens: int | None
    completion_tokens: int | None
    peak_rss_bytes: int | None
    cost_usd: float
    judge: float | None = None  # the LLM judge's rubric score, 1-5 (only with --judge)


def score_query(query: EvalQuery, record: AnswerRecord, *, course_language: str,
                point_similarities: Sequence[float] | None = None, judge: float | None = None) -> QueryScore:
    covered_question = query.expected != "refuse"
    model_refused = record.generated and looks_like_refusal(record.text)
    refused = not record.covered or model_refused
    answered = record.generated and not model_refused
    texts = [p.text for p in record.passages]
    gold = [(g.lesson, g.section) for g in query.gold]
    cited = record.cited_passages()
    same_language = query.language == course_language
    got_language = guess_language(record.text) if answered else None
    # Key points are in the course's language: on a cross-lingual question neither the lexical match nor
    # the English-only embedder can compare them with the answer, so they are left out there.
    points_apply = covered_question and same_language
    return QueryScore(
        query_id=query.id, model_id=record.model_id, type=query.type, split=query.split, language=query.language,
        cross_lingual=not same_language, expected=query.expected, refused=refused,
        real_answer=(answered and not _NOT_REAL & set(record.problems)) if covered_question else None,
        kp_lexical=(key_point_recall_lexical(query.key_points, record.text) if answered else 0.0)
        if points_apply else None,
        kp_embedding=(key_point_recall_embedding(point_similarities) if answered else 0.0)
        if points_apply and point_similarities is not None else None,
        cited=len(cited) if answered else 0,
        cited_in_gold=sum(any(p.covers(*g) for g in gold) for p in cited) if answered else 0,
        groundedness=groundedness(record.text, texts) if answered else None,
        verbatim=verbatim_ratio(record.text, texts) if answered else None,
        refusal_correct=refused if not covered_question else None,
        false_refusal=refused if covered_question else None,
        language_match=(got_language == query.language) if got_language is not None else None,
        socratic=socratic(record.text, query.attempt or "") if query.expected == "socratic_hint" and answered
        else (False if query.expected == "socratic_hint" else None),
        gold_in_passages=any(p.covers(*g) for p in record.passages for g in gold) if covered_question else None,
        time_to_first_token_s=record.time_to_first_token_s if record.generated else None,
        total_s=record.total_s if record.generated else None,
        tokens_per_second=record.tokens_per_second if record.generated else None,
        prompt_tokens=record.prompt_tokens, completion_tokens=record.completion_tokens,
        peak_rss_bytes=record.peak_rss_bytes, cost_usd=record.cost_usd, judge=judge)


# -- aggregation ----------------------------------------------------------------------------------

Better = Literal["higher", "lower", "none"]


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    better: Better
    unit: str  # "rate" (0-1, shown as %), "score" (0-1), "s", "tok/s", "tokens", "MB", "USD", "1-5"
    # How big a change is worth flagging in a comparison: absolute for rates and scores, relative for
    # times and sizes (noise on a shared CPU is ~10 %).
    tolerance: float
    relative: bool = False


METRICS: tuple[Metric, ...] = (
    Metric("real_answer_rate", "Real answers", "higher", "rate", 0.02),
    Metric("kp_recall_lexical", "Key-point recall (lexical)", "higher", "score", 0.02),
    Metric("kp_recall_embedding", "Key-point recall (embedding)", "higher", "score", 0.02),
    Metric("citation_precision", "Citation precision", "higher", "score", 0.02),
    Metric("cited_answer_rate", "Answers with a citation", "higher", "rate", 0.02),
    Metric("groundedness", "Groundedness", "higher", "score", 0.02),
    Metric("verbatim_ratio", "Verbatim copy ratio", "lower", "score", 0.02),
    Metric("refusal_accuracy", "Refusal accuracy (off-course)", "higher", "rate", 0.02),
    Metric("false_refusal_rate", "False refusals (covered)", "lower", "rate", 0.02),
    Metric("language_match", "Language match", "higher", "rate", 0.02),
    Metric("socratic_adherence", "Socratic adherence (hints)", "higher", "rate", 0.02),
    Metric("gold_in_passages", "Gold section in passages", "higher", "rate", 0.02),
    Metric("gold_in_passages_cross_lingual", "Gold in passages (cross-lingual)", "higher", "rate", 0.02),
    Metric("ttft_p50_s", "Time to first token p50", "lower", "s", 0.10, relative=True),
    Metric("ttft_p95_s", "Time to first token p95", "lower", "s", 0.10, relative=True),
    Metric("total_p50_s", "Total time p50", "lower", "s", 0.10, relative=True),
    Metric("total_p95_s", "Total time p95", "lower", "s", 0.10, relative=True),
    Metric("tokens_per_second", "Generation speed", "higher", "tok/s", 0.10, relative=True),
    Metric("prompt_tokens_mean", "Tokens in (mean)", "none", "tokens", 0.10, relative=True),
    Metric("completion_tokens_mean", "Tokens out (mean)", "none", "tokens", 0.10, relative=True),
    Metric("peak_memory_mb", "Peak memory", "lower", "MB", 0.10, relative=True),
    Metric("cost_per_1000_usd", "Cost per 1,000 queries", "lower", "USD", 0.01, relative=True),
)
JUDGE_METRIC = Metric("judge_score", "LLM judge score (rubric, 1-5)", "higher", "1-5", 0.2)
METRIC_BY_KEY = {m.key: m for m in (*METRICS, JUDGE_METRIC)}


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0-100): always one of the measured values."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def _mean(values: Iterable[float | bool | None]) -> float | None:
    present = [float(v) for v in values if v is not None]
    return sum(present) / len(present) if present else None


def _present(scores: Sequence[QueryScore], pick: Callable[[QueryScore], float | None]) -> list[float]:
    return [v for s in scores if (v := pick(s)) is not None]


def summarise(scores: Sequence[QueryScore]) -> dict[str, float | int | None]:
    """Every metric over `scores` (one model's, or one type's), plus `queries`."""
    cited = sum(s.cited for s in scores)
    answered_covered = [s for s in scores if s.real_answer is not None and not s.refused]
    ttft = _present(scores, lambda s: s.time_to_first_token_s)
    total = _present(scores, lambda s: s.total_s)
    rss = _present(scores, lambda s: s.peak_rss_bytes)
    judged = [s.judge for s in scores if s.judge is not None]
    out: dict[str, float | int | None] = {
        "queries": len(scores),
        "real_answer_rate": _mean(s.real_answer for s in scores),
        "kp_recall_lexical": _mean(s.kp_lexical for s in scores),
        "kp_recall_embedding": _mean(s.kp_embedding for s in scores),
        # Micro-averaged: every citation the learner sees counts once.
        "citation_precision": sum(s.cited_in_gold for s in scores) / cited if cited else None,
        "cited_answer_rate": _mean(s.cited > 0 for s in answered_covered) if answered_covered else None,
        "groundedness": _mean(s.groundedness for s in scores),
        "verbatim_ratio": _mean(s.verbatim for s in scores),
        "refusal_accuracy": _mean(s.refusal_correct for s in scores),
        "false_refusal_rate": _mean(s.false_refusal for s in scores),
        "language_match": _mean(s.language_match for s in scores),
        "socratic_adherence": _mean(s.socratic for s in scores),
        "gold_in_passages": _mean(s.gold_in_passages for s in scores),
        "gold_in_passages_cross_lingual": _mean(s.gold_in_passages for s in scores if s.cross_lingual),
        "ttft_p50_s": percentile(ttft, 50), "ttft_p95_s": percentile(ttft, 95),
        "total_p50_s": percentile(total, 50), "total_p95_s": percentile(total, 95),
        "tokens_per_second": _mean(s.tokens_per_second for s in scores),
        "prompt_tokens_mean": _mean(s.prompt_tokens for s in scores),
        "completion_tokens_mean": _mean(s.completion_tokens for s in scores),
        "peak_memory_mb": max(rss) / 2**20 if rss else None,
        "cost_per_1000_usd": 1000 * sum(s.cost_usd for s in scores) / len(scores) if scores else None,
    }
    if judged:
        out[JUDGE_METRIC.key] = sum(judged) / len(judged)
    return out


def badness(score: QueryScore) -> float:
    """How bad one answer is, for the report's "worst answers" (higher is worse; 0 is a good answer)."""
    bad = 0.0
    if score.refusal_correct is False:
        bad += 3  # answered an off-course question
    if score.false_refusal:
        bad += 3
    if score.real_answer is False and not score.false_refusal:
        bad += 3
    if score.kp_lexical is not None:
        bad += 1 - score.kp_lexical
    if score.cited:
        bad += 1 - score.cited_in_gold / score.cited
    if score.language_match is False:
        bad += 1
    if score.socratic is False:
        bad += 1
    if score.verbatim is not None and score.verbatim > 0.5:
        bad += score.verbatim
    return bad


SCORE_FIELDS = tuple(f.name for f in fields(QueryScore))
