"""One rung of the hint ladder, through any chat engine: solution → diagnosis → hint → leak check.

1. A hidden reference solution (JSON `{"solution": ...}`), made once per exercise; the caller keeps it
   (`Hint.solution_used`, `HintLadder.solution`) and passes it back for the next level.
2. The diagnosis (JSON, schema-constrained, greedy): what is wrong in the learner's attempt, which
   strategy this level uses, what the hint should achieve. Unreadable JSON is asked for once more, then
   replaced by the level's default strategy (the hint is still written, `diagnosis_ok` says so).
3. The hint for the level from the exercise, section, attempt and diagnosis (plain text).
4. Levels 1-3: `leaks_solution`. A leaking hint is written again once with a stricter instruction; if
   that leaks too, a safe hint built from the diagnosis is shown, and if even that leaks, a fixed
   question. A hint that leaks is never shown before level 4. Level 4 is the model's explanation with
   the reference solution under it.

Nothing is recorded here: `record_hint` writes the `hint.request` event for the CLI and the GUI.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from app.core.answer_check import prose
from app.core.i18n import _
from app.core.inference import (
    GREEDY,
    TEXT,
    CancelToken,
    ChatEngine,
    ChatMessage,
    GenerationRequest,
    OutputFormat,
    Sampling,
    collect,
    json_output,
)
from app.core.learning.events import HINT_REQUEST, HintFacts
from app.core.learning.hints import (
    DIAGNOSIS_SCHEMA,
    HINT_LEVELS,
    MAX_LEVEL,
    SOLUTION_LEVEL,
    SOLUTION_SCHEMA,
    HintContext,
    HintLadder,
    default_diagnosis,
    diagnosis_messages,
    explanation_messages,
    hint_messages,
    leaks_solution,
    parse_diagnosis,
    parse_solution,
    request_schema,
    solution_block,
    solution_messages,
)
from app.core.think_filter import ThinkFilter

SOLUTION_TOKENS = 256
# Schema-constrained decoding costs a pass of the grammar over the whole vocabulary per token in
# llama-cpp-python (~1 s a token for Qwen2.5's 152k vocabulary on a busy 2-core box), so the diagnosis is
# asked for in short fields and capped; the hint itself is free text.
DIAGNOSIS_TOKENS = 120
HINT_TOKENS = {1: 80, 2: 128, 3: 160, 4: 128}
# Hints are prose: greedy keeps the eval repeatable, a light repeat penalty keeps a small model out of loops.
HINT_SAMPLING = Sampling(temperature=0.0, repeat_penalty=1.1)


@dataclass(frozen=True)
class Hint:
    """One hint as shown, and how it came to be (for the learning record and the eval)."""

    level: int
    label: str                  # the level's name, translated ("nudge", ...)
    text: str
    diagnosis: Mapping[str, str]
    leak_checked: bool          # levels 1-3 passed leaks_solution; level 4 is the solution itself
    regenerated: int            # drafts written again because they leaked (0 or 1)
    solution_used: str          # the hidden reference solution: pass it back for the next level
    fallback: bool = False      # the safe hint built from the diagnosis was shown instead of the model's
    diagnosis_ok: bool = True   # the diagnosis JSON was read (False: the level's default strategy was used)
    leak_reasons: tuple[str, ...] = ()  # what the check found in each rejected draft
    seconds: float = 0.0
    cancelled: bool = False

    @property
    def shown_level_text(self) -> str:
        return _("Hint {level} of {top} ({label})").format(level=self.level, top=MAX_LEVEL, label=self.label)


class _Steps:
    """The model calls of one hint, sharing one engine, cancel token and context."""

    def __init__(self, engine: ChatEngine, ctx: HintContext, cancel: CancelToken | None) -> None:
        self.engine, self.ctx, self.cancel = engine, ctx, cancel
        self.schemas = bool(getattr(engine.capabilities, "json_schema", False))

    @property
    def cancelled(self) -> bool:
        return self.cancel is not None and self.cancel.cancelled

    def run(self, messages: tuple[ChatMessage, ...], *, max_tokens: int, output: OutputFormat = TEXT,
            sampling: Sampling = HINT_SAMPLING) -> str:
        request = GenerationRequest(messages=messages, sampling=sampling, max_tokens=max_tokens, output=output)
        text, _final = collect(self.engine.stream(request, self.cancel))
        visible = ThinkFilter()  # the llama.cpp backend hides reasoning already; another engine may not
        return (visible.feed(text) + visible.finish()).strip()

    def json(self, messages: tuple[ChatMessage, ...], schema: Mapping[str, Any], *, max_tokens: int) -> str:
        # An engine that cannot follow a schema gets the same prompt as text; the parsers find the object.
        output = json_output(request_schema(schema)) if self.schemas else TEXT
        return self.run(messages, max_tokens=max_tokens, output=output, sampling=GREEDY)

    def solution(self) -> str:
        solution = parse_solution(self.json(solution_messages(self.ctx), SOLUTION_SCHEMA,
                                            max_tokens=SOLUTION_TOKENS), as_json=True)
        if solution is None and not self.cancelled:  # cut off or not JSON: ask for plain code instead
            solution = parse_solution(self.run(solution_messages(self.ctx, as_json=False), max_tokens=SOLUTION_TOKENS,
                                               sampling=GREEDY), as_json=False)
        return solution or ""

    def diagnosis(self, level: int, solution: str) -> tuple[dict[str, str], bool]:
        messages = diagnosis_messages(self.ctx, level, solution)
        for tokens in (DIAGNOSIS_TOKENS, DIAGNOSIS_TOKENS * 2):  # a retry with room, in case it was cut off
            parsed = parse_diagnosis(self.json(messages, DIAGNOSIS_SCHEMA, max_tokens=tokens))
            if parsed is not None:
                return parsed, True
            if self.cancelled:
                break
        return default_diagnosis(level), False


def next_hint(engine: ChatEngine, exercise: str, *, section_text: str, section_title: str, attempt: str,
              level: int, language: str = "en", solution: str | None = None,
              cancel: CancelToken | None = None) -> Hint:
    """The hint at `level` (1-4) for this exercise and attempt. `solution`: the reference solution an
    earlier level made (None: make it now)."""
    if not 1 <= level <= MAX_LEVEL:
        raise ValueError(f"a hint level is 1..{MAX_LEVEL}, not {level}")
    started = time.perf_counter()
    ctx = HintContext(exercise, section_title, section_text, attempt, language)
    steps = _Steps(engine, ctx, cancel)
    reference = solution if solution is not None else steps.solution()
    diagnosis, diagnosis_ok = steps.diagnosis(level, reference) if not steps.cancelled else (default_diagnosis(level),
                                                                                              False)
    label = _(HINT_LEVELS[level])

    def done(text: str, **more: Any) -> Hint:
        return Hint(level=level, label=label, text=text, diagnosis=diagnosis, solution_used=reference,
                    diagnosis_ok=diagnosis_ok, seconds=time.perf_counter() - started, cancelled=steps.cancelled,
                    **more)

    if steps.cancelled:
        return done("", leak_checked=False, regenerated=0)
    if level == SOLUTION_LEVEL:
        # The solution is shown under the explanation: code the model repeats (often a variant) is dropped.
        explanation = prose(steps.run(explanation_messages(ctx, reference, diagnosis), max_tokens=HINT_TOKENS[level]))
        shown = "\n\n".join(p.strip() for p in (explanation, solution_block(reference)) if p.strip())
        return done(shown, leak_checked=False, regenerated=0)

    reasons: list[str] = []
    text = steps.run(hint_messages(ctx, level, diagnosis), max_tokens=HINT_TOKENS[level])
    reason = _leak(text, ctx, reference)
    if reason is not None and not steps.cancelled:
        reasons.append(reason)
        text = steps.run(hint_messages(ctx, level, diagnosis, stricter=reason), max_tokens=HINT_TOKENS[level])
        reason = _leak(text, ctx, reference)
    if steps.cancelled:
        return done("", leak_checked=False, regenerated=len(reasons), leak_reasons=tuple(reasons))
    if reason is None:
        return done(text, leak_checked=True, regenerated=len(reasons), leak_reasons=tuple(reasons))
    reasons.append(reason)
    return done(safe_hint(ctx, level, diagnosis, reference), leak_checked=True, regenerated=len(reasons) - 1,
                fallback=True, leak_reasons=tuple(reasons))


# Labels of the prompt a small model sometimes pastes back ("Your diagnosis: - error: ..."): such a hint talks
# about "the learner" and may carry the hidden diagnosis, so it is rewritten like a leaking one.
_PROMPT_ECHOES = ("the learner's attempt, exactly as they typed it", "your diagnosis:", "a correct reference solution",
                  "hidden from the learner", "task: write a level")


def _leak(text: str, ctx: HintContext, solution: str) -> str | None:
    if not text.strip():
        return "an empty hint"
    lowered = text.lower()
    echoed = next((label for label in _PROMPT_ECHOES if label in lowered), None)
    if echoed:
        return f"it repeats the prompt ('{echoed}')"
    return leaks_solution(text, attempt=ctx.attempt, solution=solution, exercise=ctx.exercise)


def safe_hint(ctx: HintContext, level: int, diagnosis: Mapping[str, str], solution: str) -> str:
    """A hint that cannot give the answer away: what the diagnosis found, then the level's question.
    The diagnosis is the model's words, so it is checked too; without it only the fixed question stays."""
    title = ctx.section_title.strip() or _("this lesson")
    question = {1: _("Which line of your attempt does something different from what the exercise asks?"),
                2: _("Read the section \"{title}\" again: which idea there would change what your code does?"),
                3: _("Change just that one line, run your code again and compare the result with what the "
                     "exercise asks. What changed?")}[level].format(title=title)
    error = str(diagnosis.get("error", "")).strip()
    if error:
        found = _("What I notice: {error}").format(error=error)
        candidate = f"{found}\n\n{question}"
        if leaks_solution(candidate, attempt=ctx.attempt, solution=solution, exercise=ctx.exercise) is None:
            return candidate
    return question


class HintService:
    """The ladder for one engine: `hint(ladder, ...)` shows the next level and returns the ladder after it."""

    def __init__(self, engine: ChatEngine, *, language: str = "en") -> None:
        self.engine = engine
        self.language = language

    def hint(self, ladder: HintLadder, exercise: str, *, section_text: str, section_title: str, attempt: str,
             cancel: CancelToken | None = None) -> tuple[Hint, HintLadder]:
        hint = next_hint(self.engine, exercise, section_text=section_text, section_title=section_title,
                         attempt=attempt, level=ladder.next_level, language=self.language,
                         solution=ladder.solution, cancel=cancel)
        if hint.cancelled:
            return hint, ladder  # a cancel is not a step up
        return hint, ladder.next(solution=hint.solution_used or None)


class _Record(Protocol):
    def record_event(self, kind: str, course_id: str, lesson_id: str | None = None,
                     data: dict[str, Any] | None = None) -> Any: ...


def record_hint(record: _Record, course_id: str, lesson_id: str, exercise_id: str, section: str, attempt: str,
                hint: Hint) -> Any:
    """Write the `hint.request` event for a hint that was shown (a cancelled one was not: None)."""
    if hint.cancelled:
        return None
    facts = HintFacts(exercise_id=exercise_id, section=section, level=hint.level, attempt=attempt,
                      diagnosis={k: str(v) for k, v in hint.diagnosis.items()}, hint=hint.text,
                      leak_checked=hint.leak_checked)
    return record.record_event(HINT_REQUEST, course_id, lesson_id, facts.data())
