"""Quiz questions: the type every part of the loop shares, the JSON Schema the model writes them in,
and a stable id so attempts, reviews and the cache name the same question on every device."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

QuestionKind = Literal["choice", "short", "output"]
QUESTION_KINDS: tuple[QuestionKind, ...] = ("choice", "short", "output")
Origin = Literal["authored", "generated"]


@dataclass(frozen=True)
class Check:
    """One check a question went through before it may be shown; `detail` says why it passed or failed."""

    name: str      # "schema", "answer_supported", "distractors_wrong", "second_pass", "output_computed", ...
    passed: bool
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "detail": self.detail}


@dataclass(frozen=True)
class QuizQuestion:
    """One question about one section of a lesson.

    choice: `options` (3–4) and `answer` (the index of the correct one); `reference` is its text.
    short:  `reference` is the model answer a grader compares with.
    output: `code` is the snippet and `reference` its real standard output (computed by running it,
            never taken from the model); the learner types what it prints.
    """

    course_id: str
    lesson_id: str
    section: str            # the section's anchor
    kind: QuestionKind
    prompt: str
    reference: str
    options: tuple[str, ...] = ()
    answer: int | None = None
    code: str = ""
    explanation: str = ""   # why the answer is right, shown with the feedback
    section_title: str = ""
    origin: Origin = "generated"
    checks: tuple[Check, ...] = ()
    id: str = field(default="")

    def __post_init__(self) -> None:
        if not self.id:
            object.__setattr__(self, "id", question_id(self))

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def with_checks(self, checks: Sequence[Check]) -> QuizQuestion:
        return replace(self, checks=tuple(checks))

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "course_id": self.course_id, "lesson_id": self.lesson_id, "section": self.section,
                "section_title": self.section_title, "kind": self.kind, "prompt": self.prompt,
                "options": list(self.options), "answer": self.answer, "reference": self.reference,
                "code": self.code, "explanation": self.explanation, "origin": self.origin,
                "checks": [c.to_json() for c in self.checks]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> QuizQuestion:
        answer = data.get("answer")
        return cls(course_id=str(data["course_id"]), lesson_id=str(data["lesson_id"]), section=str(data["section"]),
                   section_title=str(data.get("section_title", "")), kind=data["kind"], prompt=str(data["prompt"]),
                   options=tuple(str(o) for o in data.get("options", ())),
                   answer=int(answer) if answer is not None else None, reference=str(data.get("reference", "")),
                   code=str(data.get("code", "")), explanation=str(data.get("explanation", "")),
                   origin=data.get("origin", "generated"),
                   checks=tuple(Check(str(c["name"]), bool(c["passed"]), str(c.get("detail", "")))
                                for c in data.get("checks", ())),
                   id=str(data.get("id", "")))


def question_id(q: QuizQuestion) -> str:
    """A content hash: the same question generated on two devices (or read from a course) has one id."""
    payload = json.dumps([q.course_id, q.lesson_id, q.section, q.kind, q.prompt, list(q.options), q.code],
                         ensure_ascii=False)
    return "q-" + hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]
