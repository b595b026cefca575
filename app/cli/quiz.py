"""`lantern quiz`: checked questions on a course (or one lesson), answered in the terminal.

Each answer is graded and kept in the learning record at once (with the review it schedules), so
stopping halfway — Ctrl-C, a closed terminal, a crash — loses no answer already given. `--json`
lists the questions that would be shown, each with its checks and source section, and how many
generated questions were dropped, without asking anything.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from app.core.errors import LanternError
from app.core.i18n import _

KIND_CHOICES = ("choice", "short", "output")


def register(sub: Any, *, models_sub: Any) -> None:
    quiz = sub.add_parser("quiz", help="quiz yourself on a course: checked questions, graded answers",
                          description="Show up to --count questions on a course or one lesson: the course author's "
                          "first, then questions the on-device model writes from the lesson sections. Each generated "
                          "question is checked before it is shown (its answer is in the section, no wrong option is "
                          "also right, the model answers it the same way twice, code output comes from really "
                          "running the code in a sandbox); questions that fail are dropped. Answers are graded and "
                          "kept in your learning record, and schedule reviews (`lantern review`).")
    quiz.add_argument("--course", required=True, metavar="ID", help="the course (see `lantern courses list`)")
    quiz.add_argument("--lesson", metavar="ID", help="only this lesson (its file name without .md)")
    quiz.add_argument("--count", type=int, default=5, metavar="N", help="how many questions (default: 5)")
    quiz.add_argument("--kinds", metavar="KIND[,KIND…]",
                      help="only these kinds: choice (multiple choice), short (short answer), output "
                           "(what does this code print?)")
    quiz.add_argument("--model", metavar="ID", help="the chat model that writes and grades questions "
                                                    "(default: the 'chat_model' setting)")
    quiz.add_argument("--no-cache", action="store_true", help="write the questions again even if cached")
    quiz.add_argument("--json", action="store_true",
                      help="print the questions with their checks and the dropped count as JSON; ask nothing")


def _kinds(text: str | None) -> list[Any] | None:
    if not text:
        return None
    kinds = [k.strip() for k in text.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in KIND_CHOICES]
    if unknown:
        raise LanternError(_("Unknown question kind(s): {kinds}.").format(kinds=", ".join(unknown)),
                           hint=_("Use choice, short or output."))
    return kinds


def batch_json(batch: Any) -> dict[str, Any]:
    dropped = batch.dropped
    reasons: dict[str, int] = {}
    for g in dropped:
        failed = next((c.name for c in g.checks if not c.passed), "unknown")
        reasons[failed] = reasons.get(failed, 0) + 1
    fresh = [g.seconds for g in batch.generated if g.seconds > 0]
    return {"course_id": batch.course_id, "lesson_id": batch.lesson_id, "model": batch.model_id,
            "shown": len(batch.questions), "authored": batch.authored, "generated": len(batch.generated),
            "dropped": len(dropped), "dropped_by_check": reasons, "cached": batch.cached,
            "seconds_per_generated_question": round(sum(fresh) / len(fresh), 2) if fresh else None,
            "questions": [{**q.to_json(), "source": {"lesson_id": q.lesson_id, "section": q.section,
                                                     "title": q.section_title}} for q in batch.questions]}


def _read_answer(question: Any) -> str | None:
    """One line; an "output" answer may span lines and ends with an empty line. None at end of input."""
    if question.kind != "output":
        line = sys.stdin.readline()
        return None if line == "" else line.rstrip("\n")
    lines: list[str] = []
    while True:
        line = sys.stdin.readline()
        if line == "":
            return "\n".join(lines) if lines else None
        if line.strip() == "" and lines:
            return "\n".join(lines)
        lines.append(line.rstrip("\n"))


def show_question(n: int, total: int, question: Any) -> None:
    print(f"\n[{n}/{total}] {question.prompt}")
    if question.code:
        print("\n" + "\n".join("    " + line for line in question.code.splitlines()) + "\n")
    for i, option in enumerate(question.options, start=1):
        print(f"  {i}. {option}")
    if question.kind == "choice":
        print(_("Your answer (the option's number):"), end=" ", flush=True)
    elif question.kind == "output":
        print(_("What it prints (end with an empty line):"))
    else:
        print(_("Your answer:"), end=" ", flush=True)


def show_feedback(feedback: Any) -> None:
    mark = _("Right") if feedback.correct else (_("Partly right") if feedback.score > 0 else _("Not right"))
    print(f"{mark}. {feedback.reason}")
    if feedback.explanation:
        print(f"  {feedback.explanation}")
    print("  " + _("From: {title} ({lesson}#{section})").format(title=feedback.section_title or feedback.section,
                                                              lesson=feedback.lesson_id, section=feedback.section))


class LazyEngine:
    """The chat model, loaded the first time something needs it: a quiz of authored choice questions
    needs no model at all, so none is loaded (and none needs to be installed)."""

    def __init__(self, services: Any, model: str | None) -> None:
        self.services, self.model = services, model
        self._loaded: Any = None

    def _engine(self) -> Any:
        if self._loaded is None:
            self._loaded = self.services.open_chat(self.services.chat_model(self.model))
        return self._loaded.backend

    @property
    def capabilities(self) -> Any:
        return self._engine().capabilities

    def stream(self, request: Any, cancel: Any = None) -> Any:
        return self._engine().stream(request, cancel)

    def count_tokens(self, messages: Any) -> int:
        return int(self._engine().count_tokens(messages))

    def close(self) -> None:
        if self._loaded is not None:
            self._loaded.backend.close()


def cmd_quiz(args: argparse.Namespace) -> int:
    from app.cli import open_services
    from app.cli.progress import ProgressBar
    from app.services.learning.use_cases import answer_question, quiz_for

    if args.count < 1 or args.count > 100:
        raise LanternError(_("--count must be between 1 and 100."), hint=_("The default is 5."))
    kinds = _kinds(args.kinds)
    with open_services(args) as services:
        course = services.pick_course(args.course)
        engine = LazyEngine(services, args.model)
        bar = ProgressBar(_("Writing questions"), amount=lambda n: f"{n}")

        def progress(p: Any) -> None:
            bar.update(p.done, p.total, p.section_title)

        try:
            try:
                batch = quiz_for(services, course.id, lesson_id=args.lesson, count=args.count, engine=engine,
                                 kinds=kinds, use_cache=not args.no_cache, progress=progress)
            finally:
                bar.close()
            if args.json:
                print(json.dumps(batch_json(batch), indent=1, ensure_ascii=False))
                return 0
            if not batch.questions:
                print(_("No question passed the checks for this part of the course ({dropped} dropped).").format(
                    dropped=len(batch.dropped)))
                return 1
            right = answered = 0
            for n, question in enumerate(batch.questions, start=1):
                show_question(n, len(batch.questions), question)
                answer = _read_answer(question)
                if answer is None:
                    print()
                    break
                feedback = answer_question(services, question, answer,
                                           engine=engine if question.kind == "short" else None)
                answered += 1
                right += feedback.correct
                show_feedback(feedback)
            print("\n" + _("{right} of {answered} right. Your answers are saved; `lantern review` brings back what "
                           "is due.").format(right=right, answered=answered))
            return 0
        finally:
            engine.close()


HANDLERS = {"quiz": cmd_quiz}
