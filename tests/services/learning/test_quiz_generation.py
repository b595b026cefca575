"""Quiz generation and answering: the checks drop what they should, output comes from a real sandboxed run,
the cache answers repeats, an answer lands in the learning record with its review; and one pass through the
real Qwen2.5-Coder-0.5B model."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from app.core.inference import Chunk, EngineCapabilities, GenerationRequest
from app.core.learning.events import QUIZ_ATTEMPT, REVIEW_LOG
from app.core.learning.generation import SectionSource
from app.core.learning.quiz import QuizQuestion
from app.services.learning.grading import grade_answer
from app.services.learning.quiz_cache import QuizCache
from app.services.learning.quiz_generation import QuizGenerator

SECTION = SectionSource(
    course_id="python-from-zero", lesson_id="05-loops", lesson_title="Loops", anchor="looping-over-a-range",
    title="Looping over a range",
    text="`range()` produces a sequence of numbers. Notice that `range(5)` starts at 0 and stops before 5: it "
         "gives five numbers, 0 to 4.\n\n```python\nfor i in range(5):\n    print(i)\n```\n")
CHOICE_REPLY = json.dumps({"question": "Where does range(5) start and stop?",
                           "answer": "starts at 0 and stops before 5",
                           "wrong_answers": ["starts at 1 and stops at 5", "starts at 5", "stops after 5"],
                           "explanation": "range(5) gives 0 to 4."})


@dataclass
class ScriptedEngine:
    """Replies by what the request asks: writing (the task line), the second pass, or grading."""

    write: str = CHOICE_REPLY
    pick: str | None = None  # the option text the second pass names; None = the key
    verdict: str = '{"verdict": "correct", "reason": "same meaning"}'
    requests: list[GenerationRequest] = field(default_factory=list)

    @property
    def capabilities(self) -> EngineCapabilities:
        return EngineCapabilities("scripted", "test", "on-device", 4096, json_schema=True)

    def count_tokens(self, messages: object) -> int:
        return 10

    def stream(self, request: GenerationRequest, cancel: object = None) -> Iterator[Chunk]:
        self.requests.append(request)
        user = request.messages[-1].content
        if "which ONE option is correct" in user:
            lines = [line for line in user.splitlines() if line[:3] in ("A) ", "B) ", "C) ", "D) ")]
            want = self.pick or json.loads(self.write)["answer"]
            letter = next(line[0] for line in lines if line[3:] == want)
            text = json.dumps({"answer": letter})
        elif "Grade the learner's answer" in user:
            text = self.verdict
        elif "answer this question" in user:
            text = "It starts at 0 and stops before 5."
        else:
            text = self.write
        yield Chunk(text=text, tokens=len(text.split()), elapsed_s=0.01)
        yield Chunk(text="", tokens=0, elapsed_s=0.01, finish_reason="stop")


def generator(engine: ScriptedEngine, tmp_path, **kwargs) -> QuizGenerator:
    return QuizGenerator(engine, model_key="scripted", cache=QuizCache(tmp_path / "quiz"), grade_short=grade_answer,
                         **kwargs)


def test_a_checked_choice_question_passes_and_is_cached(tmp_path):
    engine = ScriptedEngine()
    gen = generator(engine, tmp_path)
    result, hit = gen.generate(SECTION, "choice")
    assert not hit and result.passed, result.checks
    names = [c.name for c in result.checks]
    assert names == ["schema", "well_formed", "on_topic", "own_words", "answer_supported", "distractors_wrong",
                     "second_pass"]
    asked = len(engine.requests)
    assert asked == 3  # written once, answered blind twice (two option orders)
    again, hit = gen.generate(SECTION, "choice")
    assert hit and again.question == result.question and again.checks == result.checks
    assert len(engine.requests) == asked
    # Another model or a changed section is another key.
    other = QuizGenerator(engine, model_key="other", cache=QuizCache(tmp_path / "quiz"), grade_short=grade_answer)
    assert other.cache_key(SECTION, "choice") != gen.cache_key(SECTION, "choice")


def test_a_question_the_model_answers_differently_is_dropped(tmp_path):
    result, _ = generator(ScriptedEngine(pick="starts at 5"), tmp_path).generate(SECTION, "choice")
    assert not result.passed
    failed = [c for c in result.checks if not c.passed]
    assert [c.name for c in failed] == ["second_pass"] and "starts at 5" in failed[0].detail


def test_a_reply_that_is_not_a_question_is_dropped_without_more_model_calls(tmp_path):
    engine = ScriptedEngine(write='{"question": "Q", "answer": ""}')
    result, _ = generator(engine, tmp_path).generate(SECTION, "choice")
    assert result.question is None and result.checks[0].name == "schema" and len(engine.requests) == 1


def test_output_is_what_the_code_prints_in_the_sandbox_not_what_the_model_says(tmp_path):
    code = "for i in range(1, 4):\n    print(i * 10)"
    engine = ScriptedEngine(write=json.dumps({"code": code, "explanation": "the model claims it prints 1 2 3"}))
    result, _ = generator(engine, tmp_path).generate(SECTION, "output")
    assert result.passed, result.checks
    assert result.question is not None and result.question.reference == "10\n20\n30"
    assert "output_computed" in [c.name for c in result.checks]


@pytest.mark.parametrize("code, why", [("while True:\n    print(range(1))", "did not run cleanly"),
                                       ("print(range(3)[7])", "IndexError"),
                                       ("print(input())", "uses input")])
def test_snippets_that_fail_or_hang_are_dropped(tmp_path, code, why):
    engine = ScriptedEngine(write=json.dumps({"code": code, "explanation": "x"}))
    result, _ = generator(engine, tmp_path).generate(SECTION, "output")
    assert not result.passed
    assert any(why in c.detail for c in result.checks if not c.passed), result.checks


def test_short_answer_second_pass_uses_the_grader(tmp_path):
    write = json.dumps({"question": "Where does range(5) start and stop?",
                        "answer": "range(5) starts at 0 and stops before 5", "explanation": "x"})
    passed, _ = generator(ScriptedEngine(write=write), tmp_path / "a").generate(SECTION, "short")
    assert passed.passed, passed.checks
    refused, _ = generator(ScriptedEngine(write=write, verdict='{"verdict": "wrong", "reason": "no"}'),
                           tmp_path / "b").generate(SECTION, "short")
    assert not refused.passed and refused.checks[-1].name == "second_pass"


def test_a_damaged_cache_file_is_a_miss(tmp_path):
    engine = ScriptedEngine()
    gen = generator(engine, tmp_path)
    gen.generate(SECTION, "choice")
    key = gen.cache_key(SECTION, "choice")
    path = tmp_path / "quiz" / key[:2] / f"{key}.json"
    path.write_text("{half", encoding="utf-8")
    result, hit = gen.generate(SECTION, "choice")
    assert not hit and result.passed


def test_answering_keeps_the_attempt_and_its_review_together():
    from app.services.app_services import AppServices
    from app.services.learning.review_queue import ReviewQueue
    from app.services.learning.use_cases import answer_question, quiz_for
    from app.services.settings_store import load_settings, paths_for

    settings = load_settings()
    with AppServices(settings, paths_for(settings)) as services:
        batch = quiz_for(services, "python-from-zero", lesson_id="05-loops", count=2, kinds=["choice"])
        assert batch.authored == 2 and batch.generated == []  # the course's own questions come first: no model
        question = batch.questions[0]
        wrong = str((question.answer or 0) % len(question.options) + 2 if question.answer != len(question.options) - 1
                    else 1)
        feedback = answer_question(services, question, wrong)
        assert not feedback.correct and feedback.rating == 1 and feedback.section == question.section
        attempts = services.record.events(kind=QUIZ_ATTEMPT)
        reviews = services.record.events(kind=REVIEW_LOG)
        assert [e.id for e in attempts] == [feedback.attempt_id]
        assert attempts[0].data["answer"] == question.options[int(wrong) - 1]
        assert attempts[0].data["question"]["prompt"] == question.prompt
        assert reviews[0].data["card_id"] == f"python-from-zero/{question.id}"
        due = ReviewQueue(services.record).due("python-from-zero")
        assert due == [] or due[0].question.id == question.id  # "Again" is due in minutes
        # Answered right, it no longer comes first in a new quiz.
        answer_question(services, question, str((question.answer or 0) + 1))
        again = quiz_for(services, "python-from-zero", lesson_id="05-loops", count=2, kinds=["choice"])
        assert question.id not in [q.id for q in again.questions[:1]]


@pytest.mark.slow
def test_the_real_model_writes_checked_questions(qwen_gguf, tmp_path):
    """The real starter model: each kind produces a question or a named failed check, never a crash, and an
    output question's answer is what the code really prints."""
    from app.core.load_plan import LoadPlan
    from app.services.inference.loading import load_llama_chat
    from app.services.learning.sandbox import run_snippet

    plan = LoadPlan(backend="llama.cpp", context_length=4096, gpu_layers=0, total_layers=24, n_threads=2,
                    n_threads_batch=2)
    backend = load_llama_chat(qwen_gguf, model_id="qwen", plan=plan)
    try:
        gen = QuizGenerator(backend, model_key="qwen", cache=QuizCache(tmp_path / "quiz"), grade_short=grade_answer)
        results = [gen.generate(SECTION, kind)[0] for kind in ("choice", "output", "short")]
    finally:
        backend.close()
    for result in results:
        assert result.checks and result.checks[0].name == "schema"
        failed = [c for c in result.checks if not c.passed]
        assert result.passed or (failed and failed[0].detail), result.checks
        if result.passed and result.kind == "output":
            assert isinstance(result.question, QuizQuestion)
            assert run_snippet(result.question.code).stdout.rstrip("\n") == result.question.reference
    assert any(r.question is not None for r in results)  # the schema makes the replies parse


def test_cached_questions_meet_todays_text_checks_without_the_model(tmp_path, monkeypatch):
    """Text checks run again on a cache hit: a stricter check drops a cached question with no model call, and
    a question it let through keeps the model's verdict from the cache."""
    from app.core.learning import checks

    engine = ScriptedEngine()
    gen = generator(engine, tmp_path)
    first, _ = gen.generate(SECTION, "choice")
    assert first.passed
    asked = len(engine.requests)
    monkeypatch.setattr(checks, "ANSWER_SUPPORT_MIN", 1.01)  # nothing is supported well enough now
    stricter, hit = gen.generate(SECTION, "choice")
    assert hit and [c.name for c in stricter.checks if not c.passed] == ["answer_supported"]
    monkeypatch.undo()
    again, hit = gen.generate(SECTION, "choice")
    assert hit and again.passed and [c.name for c in again.checks] == [c.name for c in first.checks]
    assert len(engine.requests) == asked


def test_comments_are_taken_out_of_output_snippets(tmp_path):
    code = "print(7 // 2)   # 3  floor division\n# a note\nprint('#')  # '#' in a string stays"
    engine = ScriptedEngine(write=json.dumps({"code": code, "explanation": "x"}))
    result, _ = generator(engine, tmp_path).generate(SECTION, "output")
    assert result.question is not None and result.question.code == "print(7 // 2)\n\nprint('#')"
