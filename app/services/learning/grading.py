"""Grade one answer: exactly where the answer is exact, with the model and a rubric for short answers, and
by the reference's words when no model can grade (none loaded, or its reply was unusable)."""

from __future__ import annotations

import logging

from app.core.inference import GREEDY, CancelToken, ChatEngine, GenerationRequest, collect, json_output
from app.core.learning.grading import (
    VERDICT_SCHEMA,
    Grade,
    grade_by_words,
    grade_exact,
    grading_messages,
    parse_verdict,
)
from app.core.learning.quiz import QuizQuestion

log = logging.getLogger(__name__)


def grade_answer(question: QuizQuestion, answer: str, section_text: str, engine: ChatEngine | None,
                 cancel: CancelToken | None = None) -> Grade:
    exact = grade_exact(question, answer)
    if exact is not None:
        return exact
    if engine is None:
        return grade_by_words(question, answer)
    request = GenerationRequest(messages=grading_messages(question, answer, section_text[:3500]), sampling=GREEDY,
                                max_tokens=96, output=json_output(VERDICT_SCHEMA))
    try:
        text, _final = collect(engine.stream(request, cancel))
    except Exception as exc:
        log.warning("the model could not grade a short answer (%s); grading by the reference's words", exc)
        return grade_by_words(question, answer)
    grade = parse_verdict(text)
    if grade is None:
        log.warning("unusable grading reply %r; grading by the reference's words", text[:200])
        return grade_by_words(question, answer)
    return grade
