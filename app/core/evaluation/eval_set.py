"""The tutoring eval set: one labelled learner query per JSON line (resources/eval/tutor_queries.jsonl).

Each query says what a good tutor does with it (answer, guide with a Socratic hint, or refuse as not
covered), where the course answers it (gold lesson sections, by heading anchor) and which facts a good
answer contains (key points, quoted from the section text in the course's language). The rules that
tie the fields together (an off-course query is refused and has no gold sections, a hint request
carries the learner's attempt, ...) are checked here, so a runner can trust every query it gets.
Pure: the caller reads the file (app/services/evaluation/eval_set.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from app.core.errors import EvalSetInvalid

QueryType = Literal["define", "explain", "summarise", "hint", "quiz", "code", "compare", "design", "off_course"]
Expected = Literal["answer", "socratic_hint", "refuse"]
Split = Literal["tuning", "held_out"]
Language = Literal["en", "vi"]

QUERY_TYPES: tuple[QueryType, ...] = get_args(QueryType)
SPLITS: tuple[Split, ...] = get_args(Split)
# The kinds the seeds send to a cloud model: analysis and planning a 0.5B model does poorly.
HARD_TYPES: frozenset[QueryType] = frozenset({"compare", "design"})

_ID_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,79}$"
_ANCHOR_PATTERN = r"^[^\s#A-Z]+$"  # a GitHub-style anchor: lowercase, no spaces, letters of any script


class GoldSection(BaseModel):
    """A lesson section that answers the query: `lesson#section` as the tutor cites it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lesson: str = Field(min_length=1, description="Lesson id (the lesson file's stem).")
    section: str = Field(pattern=_ANCHOR_PATTERN, description="Heading anchor inside the lesson.")

    @property
    def citation(self) -> str:
        return f"{self.lesson}#{self.section}"


class EvalQuery(BaseModel):
    """One learner query with its labels."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=_ID_PATTERN, description="Stable id, e.g. 'pfz-explain-012'; never reused.")
    course: str = Field(min_length=1, description="Course id the learner is studying.")
    question: str = Field(min_length=3, description="What the learner types.")
    type: QueryType
    difficulty: int = Field(ge=1, le=3, description="1 = lookup, 2 = needs understanding, 3 = needs reasoning.")
    language: Language = Field(description="Language of the question (the answer should match it).")
    gold: tuple[GoldSection, ...] = Field(default=(), description="Sections that answer it; empty for off_course.")
    key_points: tuple[str, ...] = Field(default=(), description="2-5 short facts a good answer contains.")
    expected: Expected
    needs_cloud: bool = Field(description="True where a 0.5B local model cannot be expected to do well.")
    split: Split
    attempt: str | None = Field(default=None, description="The learner's own code or text (hint queries).")

    @model_validator(mode="after")
    def _consistent(self) -> EvalQuery:
        off = self.type == "off_course"
        if off != (self.expected == "refuse"):
            raise ValueError("off_course queries, and only they, have expected = 'refuse'")
        if (self.type == "hint") != (self.expected == "socratic_hint"):
            raise ValueError("hint queries, and only they, have expected = 'socratic_hint'")
        if off and (self.gold or self.key_points):
            raise ValueError("an off_course query has no gold sections and no key points")
        if not off and not self.gold:
            raise ValueError("gold must name at least one lesson section")
        if not off and not 2 <= len(self.key_points) <= 5:
            raise ValueError(f"key_points must have 2 to 5 items, not {len(self.key_points)}")
        if any(not point.strip() for point in self.key_points):
            raise ValueError("key_points must not be empty text")
        if self.type == "hint" and not (self.attempt and self.attempt.strip()):
            raise ValueError("a hint query needs the learner's attempt")
        if self.type != "hint" and self.attempt is not None:
            raise ValueError("only hint queries carry an attempt")
        if len(set(self.gold)) != len(self.gold):
            raise ValueError("gold lists the same section twice")
        return self


def parse_eval_set(lines: Iterable[str], *, source: str = "tutor_queries.jsonl") -> list[EvalQuery]:
    """Parse JSONL text (blank lines allowed); any bad line is an EvalSetInvalid naming its number."""
    queries: list[EvalQuery] = []
    first_line: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        text = line.strip().removeprefix("\ufeff")
        if not text:
            continue
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise EvalSetInvalid(f"{source}, line {number}: not valid JSON ({exc.msg}, column {exc.colno}).",
                                 hint="Each line must be one JSON object.",
                                 debug_context={"line": number}) from exc
        if not isinstance(data, dict):
            raise EvalSetInvalid(f"{source}, line {number}: expected a JSON object, not {type(data).__name__}.",
                                 debug_context={"line": number})
        try:
            query = EvalQuery.model_validate(data)
        except ValidationError as exc:
            raise EvalSetInvalid(f"{source}, line {number}: {_describe(exc)}.",
                                 hint="See resources/eval/README.md for the fields.",
                                 debug_context={"line": number, "id": data.get("id")}) from exc
        if query.id in first_line:
            raise EvalSetInvalid(f"{source}, line {number}: id '{query.id}' is already used on line "
                                 f"{first_line[query.id]}.", hint="Give every query its own id.",
                                 debug_context={"line": number})
        first_line[query.id] = number
        queries.append(query)
    return queries


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:3]:
        where = ".".join(str(p) for p in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    more = f" (and {exc.error_count() - 3} more)" if exc.error_count() > 3 else ""
    return "; ".join(parts) + more
