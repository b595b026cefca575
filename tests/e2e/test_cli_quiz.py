"""`lantern quiz` end to end: the course author's questions need no model; an answer given before the app is
killed mid-quiz is in the learning record, with its review; `--json` lists checks and sources."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

from app.core.learning.events import QUIZ_ATTEMPT, REVIEW_LOG
from app.services.paths import resolve_paths
from app.services.storage.learning_record import LearningRecord

ROOT = Path(__file__).resolve().parents[2]
QUIZ = [sys.executable, "-m", "app", "quiz", "--course", "python-from-zero", "--lesson", "05-loops", "--count", "3"]


def read_until(proc: subprocess.Popen[str], marker: str, timeout: float = 60) -> str:
    """Stdout until `marker` shows (the prompt lines are flushed), without blocking past `timeout`."""
    assert proc.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    seen = ""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"no {marker!r} in {seen!r}"
        if selector.select(left):
            chunk = os.read(proc.stdout.fileno(), 4096).decode()
            assert chunk, f"the quiz ended before {marker!r}: {seen!r}"
            seen += chunk
    return seen


def test_an_answer_survives_the_app_being_killed_mid_quiz():
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(QUIZ, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT, env=env)
    try:
        first = read_until(proc, "Your answer (the option's number):")
        assert "[1/3] Which numbers does `range(5)` give a for loop?" in first
        assert proc.stdin is not None
        proc.stdin.write("1\n")  # "0, 1, 2, 3, 4"
        proc.stdin.flush()
        after = read_until(proc, "[2/3]")
        assert "Right" in after and "From: Looping over a range (05-loops#looping-over-a-range)" in after
        proc.send_signal(signal.SIGKILL)  # mid-quiz: question 2 is on the screen, unanswered
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    record = LearningRecord(resolve_paths().database_file)
    try:
        attempts = record.events(kind=QUIZ_ATTEMPT)
        reviews = record.events(kind=REVIEW_LOG)
    finally:
        record.close()
    assert len(attempts) == 1 and attempts[0].data["answer"] == "0, 1, 2, 3, 4" and attempts[0].data["correct"] is True
    assert attempts[0].lesson_id == "05-loops" and attempts[0].data["section"] == "looping-over-a-range"
    assert len(reviews) == 1 and reviews[0].data["question_id"] == attempts[0].data["question_id"]
    assert reviews[0].data["rating"] == 3  # Good: scheduled for review in days


def test_json_lists_the_questions_with_checks_and_sources_and_asks_nothing():
    done = subprocess.run([*QUIZ, "--json"], capture_output=True, text=True, timeout=120, cwd=ROOT,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["shown"] == 3 and report["authored"] == 3 and report["dropped"] == 0 and report["model"] is None
    output = next(q for q in report["questions"] if q["kind"] == "output")
    assert output["reference"] == "10\n7\n4\n1"  # computed by running the author's code
    assert {c["name"] for c in output["checks"]} == {"authored", "output_computed"}
    assert all(q["source"]["lesson_id"] == "05-loops" and q["source"]["section"] for q in report["questions"])


def test_bad_arguments_are_explained():
    done = subprocess.run([sys.executable, "-m", "app", "quiz", "--course", "python-from-zero", "--kinds", "essay"],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 1 and "Unknown question kind" in done.stderr and "Hint:" in done.stderr
    done = subprocess.run([sys.executable, "-m", "app", "quiz", "--course", "python-from-zero", "--lesson", "99-nope"],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 1 and "no lesson '99-nope'" in done.stderr
