"""Write quiz questions with the on-device model and check them before anything is shown.

Per question: one JSON-Schema-constrained request (app.core.learning.generation), the text checks
(app.core.learning.checks), then the checks that need work:
- choice: the model answers its own question from the section twice, blind to the key and with the
  options in two different orders; both answers must name the key (a wrong key, or a second correct
  option, shows up as a disagreement);
- short: the model answers from the section and the grader must find that answer correct;
- output: the snippet runs in the sandbox (app.services.learning.sandbox) twice; the expected output is
  what it printed, never what the model claimed, and both runs must agree.
Questions that fail any check are dropped, with the failed check kept for the report.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from app.core.inference import (
    GREEDY,
    TEXT,
    CancelToken,
    ChatEngine,
    ChatMessage,
    GenerationRequest,
    collect,
    json_output,
    without_length_bounds,
)
from app.core.learning import checks as text_checks
from app.core.learning.generation import (
    KIND_VERSIONS,
    PROMPT_VERSION,
    SCHEMAS,
    GeneratedInvalid,
    SectionSource,
    answer_schema,
    generation_messages,
    parse_generated,
    picked_option,
    second_pass_messages,
    short_answer_messages,
)
from app.core.learning.grading import GRADER_VERSION
from app.core.learning.quiz import Check, QuestionKind, QuizQuestion
from app.services.learning.quiz_cache import Generated, QuizCache

log = logging.getLogger(__name__)

GENERATION_TOKENS = 240  # a question, four short options and a sentence fit in ~120; this stops a runaway
SECTION_CHARS = 3500  # a long section is cut here: the prompt must fit a 4k window with room to answer


def _ask(engine: ChatEngine, messages: tuple[ChatMessage, ...], *, schema: dict[str, Any] | None, max_tokens: int,
         cancel: CancelToken | None) -> str:
    request = GenerationRequest(messages=messages, sampling=GREEDY, max_tokens=max_tokens,
                                output=json_output(without_length_bounds(schema)) if schema is not None else TEXT)
    text, _final = collect(engine.stream(request, cancel))
    return text.strip()


def _sandboxed(code: str) -> Any:
    from app.services.learning.sandbox import run_snippet

    return run_snippet(code)


class QuizGenerator:
    """Generates and checks questions for sections with one engine; cached per model and prompt version."""

    def __init__(self, engine: ChatEngine, *, model_key: str, cache: QuizCache | None = None,
                 run_snippet: Callable[..., Any] | None = None, grade_short: Callable[..., Any] | None = None) -> None:
        self.engine = engine
        self.model_key = model_key
        self.cache = cache
        self.run_snippet = run_snippet or _sandboxed
        self.grade_short = grade_short

    def cache_key(self, source: SectionSource, kind: QuestionKind) -> str:
        return QuizCache.key(source.course_id, source.lesson_id, source.anchor, source.digest(), self.model_key,
                             PROMPT_VERSION, GRADER_VERSION, kind, KIND_VERSIONS[kind])

    def generate(self, source: SectionSource, kind: QuestionKind, *, cancel: CancelToken | None = None,
                 use_cache: bool = True) -> tuple[Generated, bool]:
        """One checked question of `kind` for `source` and whether it came from the cache."""
        key = self.cache_key(source, kind)
        if use_cache and self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                rechecked = self._recheck(source, hit)
                if rechecked is not None:
                    return rechecked, True
        started = time.monotonic()
        generated = self._generate(source, kind, cancel, started)
        if self.cache is not None and (cancel is None or not cancel.cancelled):  # a cancelled run is no verdict
            self.cache.put(key, generated)
        return generated, False

    def _recheck(self, source: SectionSource, hit: Generated) -> Generated | None:
        """A cached question under today's text checks (they cost nothing, so tuning them needs no new
        generation). None when the cached run stopped at a text check that now passes: the model's checks
        never ran for it, so it must be generated again."""
        if hit.question is None:
            return hit
        current = text_checks.text_checks(hit.question, source)
        names = {c.name for c in current}
        later = [c for c in hit.checks if c.name != "schema" and c.name not in names]  # the model's and the run's
        if any(not c.passed for c in current):
            checks = (Check("schema", True, ""), *current)
        elif later:
            checks = (Check("schema", True, ""), *current, *later)
        else:
            return None
        return Generated(hit.kind, hit.question.with_checks(checks), checks, hit.seconds)

    def _generate(self, source: SectionSource, kind: QuestionKind, cancel: CancelToken | None,
                  started: float) -> Generated:
        source = replace(source, text=source.text[:SECTION_CHARS])
        reply = _ask(self.engine, generation_messages(source, kind), schema=SCHEMAS[kind],
                     max_tokens=GENERATION_TOKENS, cancel=cancel)
        try:
            question = parse_generated(source, kind, reply)
        except GeneratedInvalid as exc:
            return Generated(kind, None, (Check("schema", False, str(exc)),), time.monotonic() - started)
        found = [Check("schema", True, "")]
        found += text_checks.text_checks(question, source)
        if text_checks.first_failure(found) is None:
            if kind == "choice":
                found += self._second_pass_choice(source, question, cancel)
            elif kind == "short":
                found.append(self._second_pass_short(source, question, cancel))
            else:
                question, run_checks = self._run_output(question)
                found += run_checks
        return Generated(kind, question.with_checks(found), tuple(found), time.monotonic() - started)

    def _second_pass_choice(self, source: SectionSource, question: QuizQuestion,
                            cancel: CancelToken | None) -> list[Check]:
        n = len(question.options)
        orders = (tuple(range(n)), tuple(reversed(range(n))))
        picks = []
        for order in orders:
            reply = _ask(self.engine, second_pass_messages(source, question, order), schema=answer_schema(n),
                         max_tokens=16, cancel=cancel)
            picks.append(picked_option(reply, order))
        agreed = all(p == question.answer for p in picks)
        named = ", ".join("none" if p is None else f"'{question.options[p]}'" for p in picks)
        return [Check("second_pass", agreed, f"answering from the section picked {named}")]

    def _second_pass_short(self, source: SectionSource, question: QuizQuestion, cancel: CancelToken | None) -> Check:
        reply = _ask(self.engine, short_answer_messages(source, question), schema=None, max_tokens=80, cancel=cancel)
        if self.grade_short is None:
            return Check("second_pass", False, "no grader")
        grade = self.grade_short(question, reply, source.text, self.engine, cancel)
        return Check("second_pass", grade.correct, f"answering from the section: '{reply[:120]}' — {grade.reason}")

    def _run_output(self, question: QuizQuestion) -> tuple[QuizQuestion, list[Check]]:
        first = self.run_snippet(question.code)
        if not first.ok:
            why = first.detail or first.reason or (first.stderr.strip().splitlines() or ["failed"])[-1]
            return question, [Check("output_computed", False, f"the code did not run cleanly: {why}"[:200])]
        second = self.run_snippet(question.code)
        if second.stdout != first.stdout:
            return question, [Check("output_computed", False, "two runs printed different output")]
        usable = text_checks.output_usable(first.stdout)
        computed = replace(question, reference=first.stdout.rstrip("\n"))
        return computed, [Check("output_computed", True, f"ran in the sandbox in {first.seconds:.2f} s"), usable]
