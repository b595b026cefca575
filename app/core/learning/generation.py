"""What the on-device model is asked to write for a quiz, and how its JSON becomes a QuizQuestion.

One request per (section, kind), greedy and constrained by a JSON Schema, so the same model writes
the same question for the same section on every run (the cache key says which model and prompt).
The model writes the correct answer and the wrong ones separately, not an index: a 0.5B model
points at the wrong option far more often than it states the wrong fact. The options are shuffled
here, seeded by the question, so the right one is not always first.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import re
import tokenize
from dataclasses import dataclass
from typing import Any

from app.core.inference import ChatMessage
from app.core.learning.quiz import QuestionKind, QuizQuestion

# Part of every cache key: change it whenever a prompt or schema below changes. KIND_VERSIONS adds a
# version per kind, so a change to how one kind is read regenerates only that kind. (Text checks need no
# version: they are run again on every cached question, app/services/learning/quiz_generation.py.) The
# schemas' length bounds are not sent to the model, which would slow llama.cpp's grammar ~20x;
# checks.question_well_formed applies them.
PROMPT_VERSION = "quiz-5"
KIND_VERSIONS: dict[str, str] = {"choice": "1", "short": "1", "output": "1"}

OUTPUT_PROMPT = "What does this code print?"
_PY_FENCE = re.compile(r"```(?:python|py|pycon)?[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)


@dataclass(frozen=True)
class SectionSource:
    """The section a question is written from: its text is the only ground truth a question may use."""

    course_id: str
    lesson_id: str
    lesson_title: str
    anchor: str
    title: str
    text: str
    language: str = "en"

    @property
    def code_blocks(self) -> list[str]:
        return [m.group(1) for m in _PY_FENCE.finditer(self.text)]

    @property
    def has_code(self) -> bool:
        return any(block.strip() for block in self.code_blocks)

    def digest(self) -> str:
        return hashlib.sha256(f"{self.title}\n{self.text}".encode()).hexdigest()[:16]


def _string(max_length: int, min_length: int = 1) -> dict[str, Any]:
    return {"type": "string", "minLength": min_length, "maxLength": max_length}


SCHEMAS: dict[QuestionKind, dict[str, Any]] = {
    "choice": {
        "type": "object",
        "properties": {"question": _string(160, 10), "answer": _string(70),
                       "wrong_answers": {"type": "array", "items": _string(70), "minItems": 3, "maxItems": 3},
                       "explanation": _string(160)},
        "required": ["question", "answer", "wrong_answers", "explanation"],
    },
    "short": {
        "type": "object",
        "properties": {"question": _string(160, 10), "answer": _string(100), "explanation": _string(160)},
        "required": ["question", "answer", "explanation"],
    },
    "output": {
        "type": "object",
        "properties": {"code": _string(300, 5), "explanation": _string(160)},
        "required": ["code", "explanation"],
    },
}

# One system message for writing, answering and grading: every request about a section starts with the
# same tokens (this message, then the section), so llama.cpp reuses that prefix from its cache instead
# of reading the section again for each check.
SYSTEM = ("You write and answer quiz questions for a beginners' programming course. Use only facts stated in "
          "the section you are given, never outside knowledge. Reply with JSON only.")

_TASKS: dict[QuestionKind, str] = {
    "choice": ("Task: write ONE multiple-choice question about an idea, rule or fact this section explains (not "
               "about what some code prints).\n"
               "- \"answer\": the correct answer in at most 8 words, as the section states it.\n"
               "- \"wrong_answers\": three different answers, each at most 8 words, that are WRONG according to "
               "the section but look plausible to a beginner. Never a second correct answer.\n"
               "- \"explanation\": one sentence from the section that shows why the answer is right.\n"
               "The question must make sense on its own: never refer to \"the code above\", \"this snippet\" or "
               "\"the lesson\"."),
    "short": ("Task: write ONE short-answer question about an idea, rule or fact this section explains (not about "
              "what some code prints). The answer must be a phrase the section states.\n"
              "- \"answer\": the model answer, 4 to 12 words taken from the section.\n"
              "- \"explanation\": one sentence from the section that shows why.\n"
              "The question must make sense on its own: never refer to \"the code above\", \"this snippet\" or "
              "\"the lesson\"."),
    "output": ("Task: write a SHORT Python program (2 to 6 lines) that uses what this section teaches and prints "
               "something, for the question \"What does this code print?\". No input(), no files, no imports, "
               "no randomness. It must print at most 4 short lines.\n"
               "- \"code\": the program.\n"
               "- \"explanation\": one sentence on the idea from the section it tests."),
}


def section_prefix(source: SectionSource) -> str:
    return f"Section \"{source.title}\" of the lesson \"{source.lesson_title}\":\n\n{source.text.strip()}\n\n"


def generation_messages(source: SectionSource, kind: QuestionKind) -> tuple[ChatMessage, ...]:
    return ChatMessage("system", SYSTEM), ChatMessage("user", section_prefix(source) + _TASKS[kind])


def without_comments(code: str) -> str:
    """The snippet without its # comments: a model copying the lesson's example copies the comments that
    give the output away ("print(7 // 2)   # 3"). Code that does not tokenize is left as it is (the
    snippet check then refuses it)."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(code).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return code
    lines = code.splitlines()
    for token in reversed(tokens):
        if token.type == tokenize.COMMENT:
            row, col = token.start
            lines[row - 1] = lines[row - 1][:col].rstrip()
    return "\n".join(line for line in lines if line.strip() or not line)


class GeneratedInvalid(ValueError):
    """The model's JSON does not make a question (the reason is kept as the failed "schema" check)."""


def _clean(value: Any) -> str:
    return re.sub(r"\s+", " ", str(value or "")).strip()


def shuffled_options(correct: str, wrong: list[str], *, seed: str) -> tuple[tuple[str, ...], int]:
    """The options in an order fixed by `seed` (the same on every device), and where the correct one went."""
    options = [correct, *wrong]
    order = list(range(len(options)))
    random.Random(hashlib.sha256(seed.encode()).digest()).shuffle(order)
    return tuple(options[i] for i in order), order.index(0)


def parse_generated(source: SectionSource, kind: QuestionKind, text: str) -> QuizQuestion:
    """The model's reply as a question (its `reference` for "output" is filled in later, by running the code)."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise GeneratedInvalid(f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise GeneratedInvalid("not a JSON object")
    def make(**fields: Any) -> QuizQuestion:
        return QuizQuestion(course_id=source.course_id, lesson_id=source.lesson_id, section=source.anchor,
                            section_title=source.title, kind=kind, explanation=_clean(data.get("explanation")),
                            **fields)

    if kind == "output":
        code = without_comments(str(data.get("code") or "")).strip("\n")
        if not code.strip():
            raise GeneratedInvalid("no code")
        return make(prompt=OUTPUT_PROMPT, reference="", code=code)
    prompt, answer = _clean(data.get("question")), _clean(data.get("answer"))
    if not prompt or not answer:
        raise GeneratedInvalid("no question or no answer")
    if kind == "short":
        return make(prompt=prompt, reference=answer)
    wrong = [_clean(w) for w in data.get("wrong_answers") or [] if _clean(w)]
    if len(wrong) < 2:
        raise GeneratedInvalid("fewer than two wrong answers")
    options, index = shuffled_options(answer, wrong[:3], seed=f"{source.course_id}/{source.anchor}/{prompt}")
    return make(prompt=prompt, reference=answer, options=options, answer=index)


# -- the second pass: the model answers its own question from the section, blind to the key ----------

_LETTERS = "ABCD"


def answer_schema(n_options: int) -> dict[str, Any]:
    return {"type": "object", "properties": {"answer": {"type": "string", "enum": list(_LETTERS[:n_options])}},
            "required": ["answer"]}


def second_pass_messages(source: SectionSource, question: QuizQuestion,
                         order: tuple[int, ...]) -> tuple[ChatMessage, ...]:
    """Ask which option is correct with the options in `order` (a permutation), so a model that always
    says "A" cannot pass, and an option that is also correct shows up as a disagreement."""
    lines = [f"{_LETTERS[i]}) {question.options[j]}" for i, j in enumerate(order)]
    user = (section_prefix(source) + f"Task: answer this question.\nQuestion: {question.prompt}\n" + "\n".join(lines)
            + "\n\nAccording to the section, which ONE option is correct? Reply with JSON: {\"answer\": \"<letter>\"}.")
    return ChatMessage("system", SYSTEM), ChatMessage("user", user)


def picked_option(text: str, order: tuple[int, ...]) -> int | None:
    """The original index of the option the second pass picked, or None if its reply names none."""
    try:
        letter = str(json.loads(text).get("answer", "")).strip().upper()[:1]
    except (ValueError, AttributeError):
        return None
    position = _LETTERS.find(letter) if letter else -1
    return order[position] if 0 <= position < len(order) else None


def short_answer_messages(source: SectionSource, question: QuizQuestion) -> tuple[ChatMessage, ...]:
    user = section_prefix(source) + f"Task: answer this question in one short sentence.\nQuestion: {question.prompt}"
    return ChatMessage("system", SYSTEM), ChatMessage("user", user)
