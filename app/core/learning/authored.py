"""Quiz questions a course author wrote ([[quiz]] tables in the course's questions file), shown before
generated ones. Parsed here, pure, with errors that name the table and the field, like the rest of the
course format (app/core/course_format.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.core.errors import CourseInvalid
from app.core.i18n import _
from app.core.learning.quiz import QUESTION_KINDS, QuizQuestion

EXAMPLE = _('Each [[quiz]] table needs lesson = "05-loops", section = "an-anchor", kind = "choice", '
            'question = "...", and options = [...] with answer = 1 (choice), reference = "..." (short) or '
            'code = "..." (output).')


def _text(table: Mapping[str, Any], key: str, where: str, source: str, *, required: bool = True) -> str:
    value = table.get(key, "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise CourseInvalid(_("{source}: {where} {key} is missing or not text.").format(source=source, where=where,
                                                                                     key=key), hint=EXAMPLE)
    return value


def parse_quiz(tables: Any, *, course_id: str, source: str) -> tuple[QuizQuestion, ...]:
    if not isinstance(tables, list):
        raise CourseInvalid(_("{source}: quiz must be [[quiz]] tables.").format(source=source), hint=EXAMPLE)
    questions: list[QuizQuestion] = []
    for number, table in enumerate(tables, start=1):
        where = f"quiz #{number}"
        if not isinstance(table, Mapping):
            raise CourseInvalid(_("{source}: {where} is not a table.").format(source=source, where=where), hint=EXAMPLE)
        kind = _text(table, "kind", where, source)
        if kind not in QUESTION_KINDS:
            raise CourseInvalid(_("{source}: {where} kind '{kind}' is not one of {kinds}.").format(
                source=source, where=where, kind=kind, kinds=", ".join(QUESTION_KINDS)), hint=EXAMPLE)
        lesson, section = _text(table, "lesson", where, source), _text(table, "section", where, source)
        code = _text(table, "code", where, source, required=kind == "output")
        prompt = _text(table, "question", where, source, required=kind != "output") or "What does this code print?"
        options: tuple[str, ...] = ()
        answer: int | None = None
        reference = _text(table, "reference", where, source, required=kind == "short")
        if kind == "choice":
            raw = table.get("options")
            if not isinstance(raw, list) or not 3 <= len(raw) <= 4 or not all(isinstance(o, str) and o.strip()
                                                                                for o in raw):
                message = _("{source}: {where} needs 3 or 4 options (text).").format(source=source, where=where)
                raise CourseInvalid(message, hint=EXAMPLE)
            options = tuple(o.strip() for o in raw)
            number_ = table.get("answer")
            if isinstance(number_, bool) or not isinstance(number_, int) or not 1 <= number_ <= len(options):
                raise CourseInvalid(_("{source}: {where} answer must be the number of the right option (1-{n}).")
                                    .format(source=source, where=where, n=len(options)), hint=EXAMPLE)
            answer = number_ - 1
            reference = options[answer]
        ident = table.get("id")
        qid = f"a-{course_id}-{ident}" if isinstance(ident, str) and ident.strip() else ""
        questions.append(QuizQuestion(course_id=course_id, lesson_id=lesson.strip(), section=section.strip(), kind=kind,
                                      prompt=prompt.strip(), reference=reference.strip(), options=options,
                                      answer=answer, code=code.strip("\n"),
                                      explanation=_text(table, "explanation", where, source, required=False).strip(),
                                      origin="authored", id=qid))
    return tuple(questions)
