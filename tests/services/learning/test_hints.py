"""The hint ladder through a chat engine: scripted engines for the guard's corner cases (a model that
always leaks, a diagnosis that is not JSON, a cancel), and a real small model over the eval set's own
hint queries, judged by the eval's quality check and the ladder's leak check."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence

import pytest

from app.core.evaluation.metrics import reveals_solution
from app.core.inference import (
    CancelToken,
    ChatMessage,
    Chunk,
    EngineCapabilities,
    GenerationRequest,
    GenerationStats,
)
from app.core.learning.events import HINT_REQUEST
from app.core.learning.hints import HintLadder, leaks_solution
from app.services.learning.hints import HintService, next_hint, record_hint

EXERCISE = "Ask the user for two numbers and print their sum."
SECTION = "input() always returns a string. Convert the text first with int() or float()."
ATTEMPT = 'a = input("First: ")\nb = input("Second: ")\nprint(a + b)'
SOLUTION = 'a = int(input("First: "))\nb = int(input("Second: "))\nprint(a + b)'
DIAGNOSIS = {"error": "a + b joins two strings", "strategy": "ask about the type", "intention": "see input() is text"}


class ScriptedEngine:
    """A ChatEngine whose reply depends on which step asks (solution, diagnosis, hint, explanation)."""

    def __init__(self, reply: Callable[[str, GenerationRequest], str], *, json_schema: bool = True) -> None:
        self._reply = reply
        self.calls: list[tuple[str, GenerationRequest]] = []
        self._caps = EngineCapabilities("scripted", "scripted", "on-device", 4096, json_schema)

    @property
    def capabilities(self) -> EngineCapabilities:
        return self._caps

    def count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        return sum(len(m.content.split()) for m in messages)

    def stream(self, request: GenerationRequest, cancel: CancelToken | None = None) -> Iterator[Chunk]:
        task = request.messages[-1].content
        step = ("solution" if "write the complete, correct solution" in task else
                "diagnosis" if "decide how to help" in task else
                "explanation" if "explain in two or three sentences" in task else "hint")
        self.calls.append((step, request))
        text = self._reply(step, request)
        stats = GenerationStats("scripted", "scripted", 10, 0, 3, 0.01, 0.01, 0.01, "stop")
        yield Chunk(text, 3, 0.01)
        yield Chunk("", 0, 0.02, finish_reason="stop", stats=stats)

    def steps(self) -> list[str]:
        return [s for s, _r in self.calls]


def scripted(hint: str | Callable[[GenerationRequest], str], *, diagnosis: str | None = None,
             solution: str = SOLUTION) -> Callable[[str, GenerationRequest], str]:
    def reply(step: str, request: GenerationRequest) -> str:
        if step == "solution":
            return json.dumps({"solution": solution})
        if step == "diagnosis":
            return diagnosis if diagnosis is not None else json.dumps(DIAGNOSIS)
        if step == "explanation":
            return "input() gives text, so both values are converted to int before adding.\n```python\nx = 1\n```"
        return hint(request) if callable(hint) else hint
    return reply


def ask(engine, level: int, **kw) -> object:
    return next_hint(engine, EXERCISE, section_text=SECTION, section_title="Turning input into a number",
                     attempt=ATTEMPT, level=level, **kw)


@pytest.mark.parametrize("level", [1, 2, 3])
def test_a_model_that_always_leaks_gets_the_safe_fallback(level):
    engine = ScriptedEngine(scripted(f"Here you go:\n```python\n{SOLUTION}\n```"))
    hint = ask(engine, level)
    assert engine.steps() == ["solution", "diagnosis", "hint", "hint"]  # one stricter retry, then the fallback
    assert "gave too much away" in engine.calls[-1][1].messages[-1].content
    assert hint.fallback and hint.regenerated == 1 and len(hint.leak_reasons) == 2 and hint.leak_checked
    assert leaks_solution(hint.text, attempt=ATTEMPT, solution=SOLUTION) is None
    assert not reveals_solution(hint.text, ATTEMPT)
    assert DIAGNOSIS["error"] in hint.text  # built from the diagnosis
    assert hint.level == level and hint.diagnosis == DIAGNOSIS and hint.solution_used == SOLUTION


def test_a_diagnosis_that_gives_the_answer_away_is_left_out_of_the_fallback():
    leaky = json.dumps({"error": 'write a = int(input("First: "))', "strategy": "s", "intention": "i"})
    hint = ask(ScriptedEngine(scripted(f"Use `{SOLUTION.splitlines()[0]}`", diagnosis=leaky)), 2)
    assert hint.fallback and "int(input" not in hint.text
    assert "Turning input into a number" in hint.text  # the fixed question names the section


def test_a_leaking_first_draft_is_replaced_by_the_stricter_retry():
    drafts = iter([f"Write `{SOLUTION.splitlines()[0]}`.", "What type of value does input() give you back?"])
    hint = ask(ScriptedEngine(scripted(lambda _r: next(drafts))), 1)
    assert hint.text == "What type of value does input() give you back?"
    assert hint.regenerated == 1 and not hint.fallback and "line" in hint.leak_reasons[0]


def test_a_malformed_diagnosis_is_asked_again_then_replaced_by_the_default():
    engine = ScriptedEngine(scripted("What does input() return?", diagnosis='{"error": "a + b joins'))
    hint = ask(engine, 2)
    assert engine.steps() == ["solution", "diagnosis", "diagnosis", "hint"]
    assert not hint.diagnosis_ok and set(hint.diagnosis) == {"error", "strategy", "intention"}
    assert hint.diagnosis["strategy"] and hint.text == "What does input() return?" and not hint.fallback


def test_the_diagnosis_and_solution_use_the_json_schemas_and_greedy_decoding():
    engine = ScriptedEngine(scripted("What does input() return?"))
    ask(engine, 1)
    by_step = dict(engine.calls)
    assert by_step["solution"].output.json_schema["required"] == ["solution"]
    assert set(by_step["diagnosis"].output.json_schema["required"]) == {"error", "strategy", "intention"}
    assert by_step["diagnosis"].sampling.temperature == 0 and by_step["hint"].output.kind == "text"
    hint_prompt = by_step["hint"].messages[-1].content
    assert ATTEMPT in hint_prompt and DIAGNOSIS["error"] in hint_prompt


def test_an_engine_without_schemas_gets_text_and_its_json_is_still_read():
    def reply(step: str, request: GenerationRequest) -> str:
        assert request.output.kind == "text"
        return {"solution": f"Sure: {json.dumps({'solution': SOLUTION})}",
                "diagnosis": f"```json\n{json.dumps(DIAGNOSIS)}\n```"}.get(step, "What does input() return?")
    hint = ask(ScriptedEngine(reply, json_schema=False), 1)
    assert hint.diagnosis_ok and hint.solution_used == SOLUTION


def test_the_ladder_reuses_the_solution_and_level_four_shows_it():
    engine = ScriptedEngine(scripted("What does input() return?"))
    service = HintService(engine)
    ladder = HintLadder("02-values-and-variables/ex-5")
    levels = []
    for _step in range(4):
        hint, ladder = service.hint(ladder, EXERCISE, section_text=SECTION, section_title="t", attempt=ATTEMPT)
        levels.append((hint.level, hint.label))
    assert levels == [(1, "nudge"), (2, "concept"), (3, "worked step"), (4, "solution")]
    assert engine.steps().count("solution") == 1 and ladder.solution == SOLUTION and not ladder.can_escalate
    assert SOLUTION in hint.text and "x = 1" not in hint.text  # the explanation's own code is dropped
    assert hint.text.startswith("input() gives text") and not hint.leak_checked


def test_a_cancelled_hint_is_not_a_step_up_and_is_not_recorded(tmp_path):
    from app.services.storage.learning_record import LearningRecord

    cancel = CancelToken()

    def reply(step: str, request: GenerationRequest) -> str:
        cancel.cancel()
        return json.dumps({"solution": SOLUTION})
    ladder = HintLadder("x/ex-1")
    hint, after = HintService(ScriptedEngine(reply)).hint(ladder, EXERCISE, section_text=SECTION, section_title="t",
                                                          attempt=ATTEMPT, cancel=cancel)
    assert hint.cancelled and hint.text == "" and after == ladder
    record = LearningRecord(tmp_path / "lantern.sqlite3")
    assert record_hint(record, "c", "l", "x/ex-1", "s", ATTEMPT, hint) is None
    assert record.events(kind=HINT_REQUEST) == []


def test_record_hint_writes_the_hint_request_event(tmp_path):
    from app.services.storage.learning_record import LearningRecord

    record = LearningRecord(tmp_path / "lantern.sqlite3")
    hint = ask(ScriptedEngine(scripted("What does input() return?")), 1)
    record_hint(record, "python-from-zero", "02-values-and-variables", "02-values-and-variables/ex-5",
                "turning-input-into-a-number", ATTEMPT, hint)
    [event] = record.events(course_id="python-from-zero", kind=HINT_REQUEST)
    assert event.data["level"] == 1 and event.data["attempt"] == ATTEMPT and event.data["diagnosis"] == DIAGNOSIS
    assert event.data["hint"] == "What does input() return?" and event.data["leak_checked"] is True


def test_levels_outside_the_ladder_are_refused():
    with pytest.raises(ValueError):
        ask(ScriptedEngine(scripted("x")), 5)


# -- a real model over the eval set's hint queries -----------------------------------------------------

REAL_QUERIES = ("pfz-hint-002", "pfz-hint-005", "pfz-hint-012", "pcb-hint-001")


@pytest.mark.slow
def test_a_real_model_never_shows_a_leaking_hint_before_level_four(smollm2_gguf):
    """SmolLM2-135M (small vocabulary: schema decoding stays fast) on four hint queries of both courses
    and both splits: levels 1-3 pass the eval's quality check and the leak check, the diagnosis JSON is
    read, and level 4 shows the reference solution."""
    from app.core.load_plan import LoadPlan
    from app.core.settings import LanternSettings
    from app.services.app_services import AppServices
    from app.services.evaluation.eval_set import load_eval_set
    from app.services.evaluation.hint_eval import run_hint_eval, text_lines
    from app.services.inference.loading import load_llama_chat
    from app.services.paths import resolve_paths

    queries = [q for q in load_eval_set() if q.id in REAL_QUERIES]
    assert len(queries) == len(REAL_QUERIES) and {q.split for q in queries} == {"tuning", "held_out"}
    # One thread: on a shared 2-core box two spinning llama.cpp threads ran 20-40x slower (measured).
    plan = LoadPlan(backend="llama.cpp", context_length=4096, gpu_layers=0, total_layers=30, n_threads=1,
                    n_threads_batch=1)
    engine = load_llama_chat(smollm2_gguf, model_id="smollm2", plan=plan)
    try:
        with AppServices(LanternSettings(n_threads=2), resolve_paths()) as services:
            report = run_hint_eval(services, engine, "smollm2", queries, levels=(1, 2, 3, 4))
    finally:
        engine.close()
    rows = {r["query_id"]: r for r in report["queries"]}
    assert set(rows) == set(REAL_QUERIES)
    by_id = {q.id: q for q in queries}
    for query_id, row in rows.items():
        attempt = by_id[query_id].attempt or ""
        assert [h["level"] for h in row["hints"]] == [1, 2, 3, 4]
        for h in row["hints"][:3]:
            assert h["text"].strip(), (query_id, h)
            assert not reveals_solution(h["text"], attempt), (query_id, h["text"])
            assert leaks_solution(h["text"], attempt=attempt, solution=row["solution"],
                                  exercise=by_id[query_id].question) is None, (query_id, h["text"])
        assert all(set(h["diagnosis"]) == {"error", "strategy", "intention"} for h in row["hints"])
        if row["solution"]:
            assert row["hints"][3]["shows_solution"], (query_id, row["hints"][3]["text"])
    assert report["overall"]["leak_rate"] == 0 and report["overall"]["quality_leak_rate"] == 0
    # The diagnosis step ran through the schema and its JSON was read for most hints (135M parameters
    # sometimes run past the token cap inside a string: those took the level's default strategy).
    assert report["overall"]["diagnosis_failures"] < report["overall"]["hints"] // 2
    assert any(h["diagnosis_ok"] and h["diagnosis"]["error"] for r in rows.values() for h in r["hints"])
    assert any("level 1" in line for line in text_lines(report))
