"""Grading: multiple choice and code output exactly, short answers against the reference with a rubric.

The model only ever grades a short answer, and only after the exact cases are ruled out: an empty
answer is wrong and an answer equal to the reference is right without asking it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from app.core.evaluation.text_match import Vocabulary, content_words, words
from app.core.i18n import _
from app.core.inference import ChatMessage
from app.core.learning.quiz import QuizQuestion

GRADER_VERSION = "grade-1"
VERDICT_SCORES = {"correct": 1.0, "partly": 0.5, "wrong": 0.0}
LEXICAL_CORRECT_MIN = 0.8  # without a model: share of the reference's content words the answer has
# "I don't know" is an honest answer, not a wrong one to argue with: graded without the model, which a
# 0.5B model once marked right.
_NO_IDEA = re.compile(r"(i )?(really )?(do ?n[o']t|dont) know|no idea|not sure|i'?m not sure|i am not sure|idk|\?+|"
                      r"(tôi )?không (biết|rõ|chắc)|chịu", re.IGNORECASE)

VERDICT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"verdict": {"type": "string", "enum": list(VERDICT_SCORES)},
                   "reason": {"type": "string", "minLength": 3, "maxLength": 160}},
    "required": ["verdict", "reason"],
}


@dataclass(frozen=True)
class Grade:
    correct: bool
    score: float
    reason: str
    by: str  # "exact" | "model" | "words": how it was decided, shown in --json


def grade_exact(question: QuizQuestion, answer: str) -> Grade | None:
    """The grade when no model is needed (every choice and output question, and the clear short cases)."""
    if question.kind == "choice":
        chosen = answer_index(question, answer)
        right = question.options[question.answer or 0]
        if chosen is None:
            return Grade(False, 0.0, _("No option chosen. The answer is \"{right}\".").format(right=right), "exact")
        if chosen == question.answer:
            return Grade(True, 1.0, _("\"{right}\" is the right answer.").format(right=right), "exact")
        return Grade(False, 0.0, _("The answer is \"{right}\".").format(right=right), "exact")
    if question.kind == "output":
        from app.core.learning.output_match import same_output

        if same_output(answer, question.reference):
            return Grade(True, 1.0, _("That is exactly what it prints."), "exact")
        printed = question.reference.rstrip()
        return Grade(False, 0.0, _("It prints:\n{output}").format(output=printed), "exact")
    if not content_words(answer) or _NO_IDEA.fullmatch(answer.strip().rstrip(".!")):
        return Grade(False, 0.0, _("No answer given. A good answer: {reference}").format(reference=question.reference),
                     "exact")
    if words(answer) == words(question.reference):
        return Grade(True, 1.0, _("That is the reference answer."), "exact")
    return None


def answer_index(question: QuizQuestion, answer: str) -> int | None:
    """An option picked by its number ("2"), letter ("b") or text."""
    text = answer.strip().rstrip(").").strip()
    if text.isdigit() and 1 <= int(text) <= len(question.options):
        return int(text) - 1
    if len(text) == 1 and text.upper() in "ABCD"[:len(question.options)]:
        return "ABCD".index(text.upper())
    for i, option in enumerate(question.options):
        if words(option) == words(text):
            return i
    return None


def grade_by_words(question: QuizQuestion, answer: str) -> Grade:
    """The fallback when no model can grade (none installed, or it failed): the reference's facts present."""
    share = Vocabulary(answer).coverage(question.reference)
    if share >= LEXICAL_CORRECT_MIN:
        return Grade(True, 1.0, _("Your answer has the key facts."), "words")
    if share >= 0.5:
        return Grade(False, 0.5, _("A full answer: \"{reference}\".").format(reference=question.reference),
                     "words")
    return Grade(False, 0.0, _("A good answer: \"{reference}\".").format(reference=question.reference),
                 "words")


def grading_messages(question: QuizQuestion, answer: str, section_text: str) -> tuple[ChatMessage, ...]:
    """The rubric: meaning, not wording; a partly right answer is "partly"; the reason is one line."""
    user = (f"Section:\n{section_text.strip()}\n\nQuestion: {question.prompt}\nReference answer: {question.reference}\n"
            f"Learner's answer: {answer.strip()}\n\n"
            "Grade the learner's answer against the reference, using the section.\n"
            "- correct: it means the same as the reference (other words are fine).\n"
            "- partly: it has part of the reference's meaning, or is right but vague.\n"
            "- wrong: it contradicts the reference or the section, or misses the point.\n"
            "Reply with JSON: {\"verdict\": \"correct|partly|wrong\", "
            "\"reason\": \"<one short sentence to the learner>\"}.")
    return (ChatMessage("system", "You grade short answers in a programming course, fairly and briefly. "
                                  "Reply with JSON only."), ChatMessage("user", user))


def parse_verdict(text: str) -> Grade | None:
    try:
        data = json.loads(text)
        verdict = str(data["verdict"]).strip().lower()
        reason = " ".join(str(data.get("reason", "")).split())
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if verdict not in VERDICT_SCORES:
        return None
    score = VERDICT_SCORES[verdict]
    return Grade(score == 1.0, score, reason or verdict, "model")
