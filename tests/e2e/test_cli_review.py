"""`lantern review` end to end: events written with the real LearningRecord in a temp LANTERN_HOME, the
command run as a subprocess, answers typed on its stdin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.core.learning.events import QUIZ_ATTEMPT, REVIEW_LOG, AttemptFacts, ReviewFacts, card_id_for
from app.core.learning.quiz import QuizQuestion
from app.core.learning.review import GOOD, HARD
from app.services.paths import resolve_paths
from app.services.storage.learning_record import LearningRecord

ROOT = Path(__file__).resolve().parents[2]
COURSE, LESSON = "python-from-zero", "05-loops"  # the built-in course: grading reads the section's text
SECTION = "counting-with-for-loops"

CHOICE = QuizQuestion(COURSE, LESSON, SECTION, "choice", "How many times does `for n in range(3):` run its body?",
                      "3", options=("3", "2", "4"), answer=0, section_title="Counting with for loops",
                      origin="authored", id="q-range-times")
OUTPUT = QuizQuestion(COURSE, LESSON, SECTION, "output", "What does this print?", "0\n1\n2\n",
                      code="for n in range(3):\n    print(n)\n", section_title="Counting with for loops",
                      origin="authored", id="q-range-print")
SHORT = QuizQuestion(COURSE, LESSON, SECTION, "short", "What does `range(3)` give a for loop?",
                     "The numbers 0, 1 and 2, one at a time.", section_title="Counting with for loops",
                     origin="authored", id="q-range-short")


def review(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app", "review", *args], input=stdin, capture_output=True,
                          text=True, timeout=180, cwd=ROOT, env=dict(os.environ))


def answered_before(record: LearningRecord, question: QuizQuestion, days_ago: list[float], rating: int) -> None:
    """Past quiz answers to `question`, each with its review, as the quiz would have written them."""
    shown = {k: v for k, v in question.to_json().items() if k != "checks"}
    for days in days_ago:
        at = (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="microseconds")
        record.record_event(QUIZ_ATTEMPT, COURSE, LESSON, AttemptFacts(
            question.id, SECTION, question.kind, "earlier answer", True, 1.0, question=shown).data())
        record.record_event(REVIEW_LOG, COURSE, LESSON, ReviewFacts(
            card_id_for(COURSE, question.id), question.id, SECTION, rating, at).data())


@pytest.fixture
def due_three():
    record = LearningRecord(resolve_paths().database_file)
    try:
        answered_before(record, CHOICE, [30, 29.99], GOOD)   # learnt a month ago: due for a while
        answered_before(record, OUTPUT, [20, 19.99], GOOD)
        answered_before(record, SHORT, [10, 9.99], HARD)
    finally:
        record.close()


def events(kind: str) -> list:
    record = LearningRecord(resolve_paths().database_file)
    try:
        return record.events(kind=kind)
    finally:
        record.close()


def test_json_lists_the_due_questions_and_the_stats(due_three):
    done = review("--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert [d["card"] for d in data["due"]] == [card_id_for(COURSE, q.id) for q in (CHOICE, OUTPUT, SHORT)]
    first = data["due"][0]
    assert (first["prompt"], first["lesson"], first["section"], first["kind"], first["state"]) == (
        CHOICE.prompt, LESSON, SECTION, "choice", "review")
    assert first["options"] == ["3", "2", "4"]
    assert datetime.fromisoformat(first["due"]) < datetime.now(UTC)
    assert data["skipped"] == 0
    stats = data["stats"]
    assert stats["cards"] == 3 and stats["due_now"] == 3
    assert stats["mastery"][LESSON] == {"mastery": 1.0, "sections": 1, "attempts": 6}
    assert len(stats["attempts_per_day"]) == 30 and stats["streak_days"] == 1  # the events were written today

    other = json.loads(review("--json", "--course", "another-course").stdout)
    assert other["due"] == [] and other["stats"]["cards"] == 0


def test_answering_on_stdin_records_and_reschedules(due_three):
    # A choice by its number, then end of input: the session stops cleanly.
    done = review(stdin="1\n")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert CHOICE.prompt in out and "  1. 3" in out and "  2. 2" in out
    assert "[right]" in out and f"({LESSON}#{SECTION})" in out
    assert OUTPUT.prompt in out  # shown next, then input ended
    assert "Stopped; 1 answered." in out
    assert "No chat model is installed" in done.stderr  # a short answer is due: grading falls back to words
    attempts = events(QUIZ_ATTEMPT)
    assert len(attempts) == 7 and attempts[-1].data["source"] == "review" and attempts[-1].data["correct"]
    reviews = events(REVIEW_LOG)
    assert len(reviews) == 7 and reviews[-1].data["card_id"] == card_id_for(COURSE, CHOICE.id)
    assert reviews[-1].data["rating"] == GOOD

    queue = json.loads(review("--json").stdout)["due"]
    assert [d["card"] for d in queue] == [card_id_for(COURSE, q.id) for q in (OUTPUT, SHORT)]

    # The output question over several lines (ended by an empty line), then the short answer: done.
    done = review(stdin="0\n1\n2\n\nThe numbers 0, 1 and 2, one at a time.\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("[right]") == 2, done.stdout
    assert "Done; 2 answered." in done.stdout
    assert json.loads(review("--json").stdout)["due"] == []
    assert [e.data["source"] for e in events(QUIZ_ATTEMPT)][-2:] == ["review", "review"]


def test_nothing_due():
    done = review()
    assert done.returncode == 0, done.stderr
    assert "Nothing is due for review." in done.stdout


@pytest.mark.slow
def test_a_due_short_answer_is_graded_with_the_installed_chat_model(smollm2_gguf):
    """A real small GGUF (SmolLM2-135M) is loaded because a short answer is due, and only then."""
    assert review("--json").returncode == 0  # the home exists before the model is imported
    imported = subprocess.run([sys.executable, "-m", "app", "models", "import", str(smollm2_gguf)],
                              capture_output=True, text=True, timeout=180, cwd=ROOT, env=dict(os.environ))
    assert imported.returncode == 0, imported.stderr
    record = LearningRecord(resolve_paths().database_file)
    try:
        answered_before(record, SHORT, [10, 9.99], HARD)
    finally:
        record.close()
    done = review(stdin="It hands the loop zero, then one, then two.\n")  # other words: the model grades
    assert done.returncode == 0, done.stderr
    assert "No chat model is installed" not in done.stderr
    assert any(v in done.stdout for v in ("[right]", "[partly]", "[wrong]")), done.stdout
    assert "Done; 1 answered." in done.stdout
    [*_, last] = events(QUIZ_ATTEMPT)
    assert last.data["source"] == "review" and last.data["question_id"] == SHORT.id
    assert last.data["answer"] == "It hands the loop zero, then one, then two."
