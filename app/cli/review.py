"""`lantern review [--course ID] [--json]`: answer the quiz questions the review schedule says are due.

The queue is replayed from the learning record (app/services/learning/review_queue.py), so it is the
same on every synced device. Each answer is graded and recorded like a quiz answer (source "review"),
which also moves the question's place in the schedule. A chat model is loaded only when a due question
is a short answer (the others are graded exactly); without one, short answers are graded by words.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from app.core.errors import LanternError
from app.core.i18n import _


def register(sub: Any, *, models_sub: Any) -> None:
    review = sub.add_parser("review", help="answer the quiz questions due for review (spaced repetition)",
                            description="Show each quiz question that is due again and grade your answer; the "
                            "answer moves the question's next review (FSRS). Type the number of an option, or your "
                            "answer; for 'what does it print' questions end with an empty line. An empty answer "
                            "counts as 'I don't know'. Ctrl-D stops.")
    review.add_argument("--course", metavar="ID", default=None, help="only this course's questions")
    review.add_argument("--json", action="store_true",
                        help="print the due questions and the learning statistics as JSON (answers nothing)")


def item_json(item: Any) -> dict[str, Any]:
    q = item.question
    return {"card": item.card_id, "question_id": q.id, "course": item.course_id, "lesson": item.lesson_id,
            "section": item.section, "section_title": q.section_title, "kind": q.kind, "prompt": q.prompt,
            "options": list(q.options), "code": q.code, "due": item.due.isoformat(), "state": item.state}


def cmd_review(args: argparse.Namespace) -> int:
    from app.cli import open_services
    from app.core.learning.stats import stats_json
    from app.services.learning.review_queue import ReviewQueue

    with open_services(args) as services:
        reviews = ReviewQueue(services.record)
        queue = reviews.queue(args.course)
        if args.json:
            print(json.dumps({"course": args.course, "due": [item_json(i) for i in queue.items],
                              "skipped": queue.skipped, "stats": stats_json(reviews.stats(args.course))},
                             indent=2, ensure_ascii=False))
            return 0
        if queue.skipped:
            print(_("{n} due question(s) cannot be shown (their text has not reached this device yet).").format(
                n=queue.skipped), file=sys.stderr)
        if not queue.items:
            stats = reviews.stats(args.course)
            print(_("Nothing is due for review. Due later this week: {n}.").format(n=stats.due_this_week))
            return 0
        answered, finished = _session(services, queue.items)
        if not finished:
            print(_("Stopped; {n} answered.").format(n=answered))
            return 0
        stats = reviews.stats(args.course)
        print(_("Done; {n} answered. Due again today: {today}; later this week: {week}.").format(
            n=answered, today=stats.due_today, week=stats.due_this_week))
    return 0


def _session(services: Any, items: list[Any]) -> tuple[int, bool]:
    """Ask each item; returns (how many were answered, whether the queue was finished)."""
    from app.services.learning.use_cases import answer_question

    engine = _grader(services) if any(item.question.kind == "short" for item in items) else None
    answered = 0
    try:
        for number, item in enumerate(items, 1):
            _show(item, number, len(items))
            try:
                text = _read_answer(item.question.kind)
            except KeyboardInterrupt:
                print()
                return answered, False
            if text is None:
                return answered, False
            feedback = answer_question(services, item.question, text, engine=engine, source="review")
            answered += 1
            _show_feedback(feedback)
    finally:
        if engine is not None:
            engine.close()
    return answered, True


def _grader(services: Any) -> Any:
    """The chat engine that grades short answers, or None (then they are graded by their key words)."""
    try:
        loaded = services.open_chat(services.chat_model(None))
    except LanternError as exc:
        print(exc.user_message, file=sys.stderr)
        print(_("Short answers are graded by their key words instead."), file=sys.stderr)
        return None
    if loaded.notice:
        print(loaded.notice, file=sys.stderr)
    return loaded.backend


def _show(item: Any, number: int, total: int) -> None:
    q = item.question
    where = f"{item.lesson_id}#{item.section}"
    title = f"{q.section_title} ({where})" if q.section_title else where
    print()
    print(f"[{number}/{total}] {title}")
    print(q.prompt)
    if q.kind == "output" and q.code:
        print()
        for line in q.code.rstrip("\n").splitlines():
            print("    " + line)
        print()
        print(_("Type what it prints, then an empty line:"))
    elif q.kind == "choice":
        for i, option in enumerate(q.options, 1):
            print(f"  {i}. {option}")
        print(_("Your answer (the option's number):"))
    else:
        print(_("Your answer:"))
    sys.stdout.flush()


def _read_answer(kind: str) -> str | None:
    """One line (a choice or a short answer) or lines up to an empty one (an output); None at end of input."""
    first = sys.stdin.readline()
    if first == "":
        return None
    if kind != "output" or first.strip() == "":
        return first.rstrip("\r\n")
    lines = [first.rstrip("\r\n")]
    while True:
        line = sys.stdin.readline()
        if line == "" or line.strip() == "":  # end of input after some lines: those are the answer
            return "\n".join(lines)
        lines.append(line.rstrip("\r\n"))


def _show_feedback(feedback: Any) -> None:
    verdict = _("[right]") if feedback.correct else _("[partly]") if feedback.score >= 0.5 else _("[wrong]")
    print(f"{verdict} {feedback.reason}")
    reference = (feedback.reference or "").strip()
    if not feedback.correct and reference and reference not in feedback.reason:
        print(_("Answer: {reference}").format(reference=reference))
    where = f"{feedback.lesson_id}#{feedback.section}"
    print(_("From: {section}").format(section=f"{feedback.section_title} ({where})" if feedback.section_title
                                      else where))


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {"review": cmd_review}
