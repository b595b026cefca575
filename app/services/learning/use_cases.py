"""The quiz use cases the CLI and the GUI share: which sections to ask about, a batch of checked questions,
and answering one (graded, then kept in the learning record with the review it schedules).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from app.core.courses import Course
from app.core.errors import LanternError
from app.core.i18n import _
from app.core.inference import CancelToken, ChatEngine
from app.core.learning.events import QUIZ_ATTEMPT, REVIEW_LOG, AttemptFacts, ReviewFacts, card_id_for
from app.core.learning.generation import SectionSource
from app.core.learning.grading import answer_index
from app.core.learning.quiz import Check, QuestionKind, QuizQuestion
from app.core.markdown_sections import split_sections
from app.services.learning.grading import grade_answer
from app.services.learning.quiz_cache import Generated, QuizCache

MIN_SECTION_CHARS = 200   # shorter sections hold too little to ask about
# Sections that are not material to be quizzed on: the exercise list (hints cover those) and recaps.
_SKIP_ANCHOR_WORDS = ("exercise", "bài-tập", "summary", "tóm-tắt", "recap", "what-you-learned", "next-steps")


@dataclass(frozen=True)
class QuizBatch:
    """The questions to show, and what it took: every generated question, passed or dropped."""

    course_id: str
    lesson_id: str | None
    questions: list[QuizQuestion]
    generated: list[Generated] = field(default_factory=list)
    cached: int = 0
    authored: int = 0
    seconds: float = 0.0
    model_id: str | None = None

    @property
    def dropped(self) -> list[Generated]:
        return [g for g in self.generated if not g.passed]


@dataclass(frozen=True)
class QuizProgress:
    done: int           # questions ready so far (a dropped one does not count)
    total: int          # questions wanted
    section_title: str  # the section a question is being written from


@dataclass(frozen=True)
class Feedback:
    """What the learner sees after answering; `section` and `lesson_id` link the section it comes from."""

    question_id: str
    correct: bool
    score: float
    reason: str
    by: str
    lesson_id: str
    section: str
    section_title: str
    reference: str
    explanation: str
    rating: int
    attempt_id: str


def section_sources(course: Course, lesson_id: str | None = None) -> list[SectionSource]:
    """The sections worth a question, in course order (of one lesson when `lesson_id` is given)."""
    lessons = [course.lesson(lesson_id)] if lesson_id else list(course.lessons)
    if lessons == [None]:
        raise LanternError(_("The course '{course}' has no lesson '{lesson}'.").format(course=course.id,
                                                                                      lesson=lesson_id),
                           hint=_("A lesson id is its file name without .md, such as {example}.").format(
                               example=course.lessons[0].id if course.lessons else "01-first-program"))
    sources = []
    for lesson in lessons:
        assert lesson is not None
        for section in split_sections(lesson.id, lesson.body):
            if section.level == 0 or len(section.text) < MIN_SECTION_CHARS:
                continue
            if any(word in section.anchor for word in _SKIP_ANCHOR_WORDS):
                continue
            sources.append(SectionSource(course_id=course.id, lesson_id=lesson.id, lesson_title=lesson.title,
                                         anchor=section.anchor, title=section.titles[-1] if section.titles else "",
                                         text=section.text, language=course.manifest.language))
    return sources


def kinds_for(source: SectionSource) -> list[QuestionKind]:
    kinds: list[QuestionKind] = ["choice"]
    if source.has_code:
        kinds.append("output")
    kinds.append("short")
    return kinds


def _section(course: Course, lesson_id: str, anchor: str) -> Any:
    lesson = course.lesson(lesson_id)
    if lesson is None:
        return None
    return next((s for s in split_sections(lesson.id, lesson.body) if s.anchor == anchor), None)


def section_text(course: Course, lesson_id: str, anchor: str) -> str:
    found = _section(course, lesson_id, anchor)
    return found.text if found is not None else ""


def section_title(course: Course, lesson_id: str, anchor: str) -> str:
    found = _section(course, lesson_id, anchor)
    return found.titles[-1] if found is not None and found.titles else ""


def model_key(engine: ChatEngine) -> str:
    return engine.capabilities.model_id


def generator_for(services: Any, engine: ChatEngine) -> Any:
    from app.services.learning.quiz_generation import QuizGenerator

    return QuizGenerator(engine, model_key=model_key(engine), cache=QuizCache(services.paths.cache_dir / "quiz"),
                         grade_short=grade_answer)


def _answered_right(services: Any, course_id: str) -> set[str]:
    right = set()
    for event in services.record.events(course_id=course_id, kind=QUIZ_ATTEMPT):
        if event.data.get("correct"):
            right.add(str(event.data.get("question_id", "")))
    return right


def _authored(course: Course, lesson_id: str | None, run_output: Callable[[QuizQuestion], QuizQuestion | None]
              ) -> list[QuizQuestion]:
    chosen = []
    for question in course.quiz:
        if lesson_id and question.lesson_id != lesson_id:
            continue
        if not question.section_title:
            question = replace(question, section_title=section_title(course, question.lesson_id, question.section))
        checked = run_output(question) if question.kind == "output" else question.with_checks(
            [Check("authored", True, "written by the course author")])
        if checked is not None:
            chosen.append(checked)
    return chosen


def _authored_output(question: QuizQuestion) -> QuizQuestion | None:
    """An author's "what does this print?" is run too: the output shown as right is what the code prints."""
    from app.services.learning.sandbox import run_snippet

    result = run_snippet(question.code)
    if not result.ok:
        return None
    printed = result.stdout.rstrip("\n")
    return replace(question, reference=printed, checks=(Check("authored", True, "written by the course author"),
                                                        Check("output_computed", True, "ran in the sandbox")))


def quiz_for(services: Any, course_id: str, *, lesson_id: str | None = None, count: int = 5,
             engine: ChatEngine | None = None, kinds: Sequence[QuestionKind] | None = None,
             include_authored: bool = True, include_answered: bool = False, use_cache: bool = True,
             progress: Callable[[QuizProgress], None] | None = None,
             cancel: CancelToken | None = None) -> QuizBatch:
    """Up to `count` checked questions: the author's first, then generated ones, round-robin over sections
    (one kind per section per round) so a short quiz spans the lesson. Questions the learner already
    answered correctly come last (they return through review)."""
    if count < 1:
        raise LanternError(_("A quiz needs at least one question."), hint=_("Use --count 1 or more."))
    course = services.library.load(course_id)
    right = set() if include_answered else _answered_right(services, course_id)
    shown: list[QuizQuestion] = []
    if include_authored:
        shown = [q for q in _authored(course, lesson_id, _authored_output) if q.id not in right][:count]
    authored = len(shown)
    sources = section_sources(course, lesson_id)
    plan: list[tuple[SectionSource, QuestionKind]] = []
    for round_ in range(3):
        for source in sources:
            wanted = [k for k in kinds_for(source) if kinds is None or k in kinds]
            if round_ < len(wanted):
                plan.append((source, wanted[round_]))
    generated: list[Generated] = []
    cached = 0
    model_id = None
    started = time.monotonic()
    if len(shown) < count and plan:
        if engine is None:
            raise LanternError(_("Writing quiz questions needs a chat model."),
                               hint=_("Install one with `lantern models install-starter`, or choose one in the app."))
        generator = generator_for(services, engine)
        model_id = generator.model_key
        seen = {q.id for q in shown}
        for source, kind in plan:
            if len(shown) >= count or (cancel is not None and cancel.cancelled):
                break
            if progress is not None:
                progress(QuizProgress(min(len(shown), count), count, source.title))
            result, hit = generator.generate(source, kind, cancel=cancel, use_cache=use_cache)
            if cancel is not None and cancel.cancelled:
                break
            cached += hit
            generated.append(result)
            if result.passed and result.question is not None and result.question.id not in seen | right:
                shown.append(result.question)
                seen.add(result.question.id)
    return QuizBatch(course_id=course_id, lesson_id=lesson_id, questions=shown, generated=generated, cached=cached,
                     authored=authored, seconds=time.monotonic() - started,
                     model_id=model_id)


def answer_question(services: Any, question: QuizQuestion, answer: str, *, engine: ChatEngine | None = None,
                    hints_used: int = 0, source: str = "quiz", cancel: CancelToken | None = None) -> Feedback:
    """Grade `answer`, then keep the attempt and the FSRS review it makes in one transaction (a crash
    right after keeps both or neither). The learner's answer is kept even if grading needed a fallback."""
    from app.core.learning.review import rating_for

    course = services.library.load(question.course_id)
    text = section_text(course, question.lesson_id, question.section)
    grade = grade_answer(question, answer, text, engine, cancel)
    if question.kind == "choice":  # kept as the option's text: what was picked reads without the question
        picked = answer_index(question, answer)
        answer = question.options[picked] if picked is not None else answer
    rating = rating_for(grade.correct, grade.score, hints_used)
    reviewed_at = datetime.now(UTC).isoformat(timespec="microseconds")
    stored = question.to_json()
    stored.pop("checks", None)
    attempt = AttemptFacts(question_id=question.id, section=question.section, kind=question.kind, answer=answer,
                           correct=grade.correct, score=grade.score, reason=grade.reason, question=stored,
                           hints_used=hints_used, source=source)
    review = ReviewFacts(card_id=card_id_for(question.course_id, question.id), question_id=question.id,
                         section=question.section, rating=rating, reviewed_at=reviewed_at)
    events = services.record.record_events([
        (QUIZ_ATTEMPT, question.course_id, question.lesson_id, attempt.data()),
        (REVIEW_LOG, question.course_id, question.lesson_id, review.data()),
    ])
    return Feedback(question_id=question.id, correct=grade.correct, score=grade.score, reason=grade.reason,
                    by=grade.by, lesson_id=question.lesson_id, section=question.section,
                    section_title=question.section_title, reference=question.reference,
                    explanation=question.explanation, rating=rating, attempt_id=events[0].id)
