"""One tutoring conversation over one course: retrieve, build the grounded prompt, stream, cite.

`TutorSession.ask` yields events (plain objects, no Qt) that the CLI prints and the GUI renders:
`Retrieved` once the passages are known, `AnswerText` pieces while the answer streams, then one
`Answer` with the citations checked against the passages the model was actually given. The
conversation is kept (with the context policy's first kept turn, so the KV-cache prefix stays
stable) and feeds the next retrieval query, which is how follow-ups find their section.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from app.core.answer_check import AnswerVerdict, check_answer, prose
from app.core.context_policy import Turn, fit_to_window
from app.core.courses import CourseChunk
from app.core.inference import (
    GREEDY,
    CancelToken,
    ChatEngine,
    FinishReason,
    GenerationRequest,
    GenerationStats,
    Sampling,
    Where,
    collect,
)
from app.core.query_translation import clean_translation, needs_translation, translation_request
from app.core.retrieval import CoveragePolicy, Hit, Searcher, SearchResult, retrieval_query
from app.core.tutor import (
    DEFAULT_RECIPE,
    Citation,
    PromptRecipe,
    attribute,
    citations,
    not_covered_reply,
    question_language,
    tutor_prompt,
)

if TYPE_CHECKING:
    from app.services.inference.router import ChatRouter, PreparedRequest, RouteInfo

PASSAGES = 4  # enough to cover a follow-up's two topics; each costs ~200 tokens of a small model's window

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Retrieved:
    hits: list[Hit]
    covered: bool
    best_similarity: float | None
    translated_query: str | None = None  # what was searched for, when the question was translated first


@dataclass(frozen=True)
class AnswerText:
    text: str


@dataclass(frozen=True)
class Answer:
    text: str
    covered: bool
    # The [n] markers that point at a passage given to the model; when there are none, the passages the
    # answer visibly draws on (Citation.inline False).
    citations: list[Citation]
    passages: list[CourseChunk]  # what the model was given, in prompt order ([1] is the first)
    invalid_markers: list[int] = field(default_factory=list)
    finish_reason: FinishReason = "stop"
    stats: GenerationStats | None = None
    model_id: str = ""
    # Where the answer was produced, from the engine's capabilities; None when no model was asked
    # (the "not covered" reply is built here, from the search alone).
    where: Where | None = None
    backend: str | None = None
    notes: tuple[str, ...] = ()
    # The answer-quality check (app.core.answer_check) on a model's answer; None for the "not covered"
    # reply, which no model wrote.
    quality: AnswerVerdict | None = None
    # Who answered and why, what was sent to a cloud model, what it cost (app.services.inference.router);
    # None when the session has no router (the eval's fixed-model runs) or no model was asked.
    route: RouteInfo | None = None

    @property
    def on_device(self) -> bool | None:
        return None if self.where is None else self.where == "on-device"


# With a router the session also passes on its Routed, AttemptAbandoned and ConsentNeeded events.
TutorEvent = Retrieved | AnswerText | Answer | object


class TutorSession:
    """The engine is any `ChatEngine` (a loaded model, the model host, later the local/cloud router);
    its capabilities are read at each question, so a model switched between turns is reported right."""

    def __init__(self, *, course_title: str, searcher: Searcher, engine: ChatEngine, answer_tokens: int = 512,
                 sampling: Sampling | None = None, passages: int = PASSAGES, coverage: CoveragePolicy | None = None,
                 recipe: PromptRecipe = DEFAULT_RECIPE, course_language: str | None = None,
                 router: ChatRouter | None = None, course_id: str = "",
                 studied: Callable[[], Collection[str]] | None = None,
                 on_answer: Callable[[str, Answer], None] | None = None) -> None:
        self.course_title = course_title
        self.course_id = course_id
        self.router = router
        self._studied = studied
        self._on_answer = on_answer  # the learning record keeps each finished turn (AppServices.tutor)
        self.course_language = course_language
        self.recipe = recipe
        self.history: list[Turn] = []
        self._searcher = searcher
        self._engine = engine
        self._answer_tokens = answer_tokens
        # Greedy (the same question gets the same answer), with the recipe's repetition penalty.
        self._sampling = sampling or replace(GREEDY, repeat_penalty=recipe.repeat_penalty)
        self._passages = passages
        self._coverage = coverage
        self._first_turn = 0
        self.last_retrieval_query = ""  # what the last question searched for (the eval records it)
        self._question: str = ""
        self._language: str | None = None

    def close(self) -> None:
        """Close the course index this session searches."""
        self._searcher.close()

    def _translated(self, question: str, language: str | None, cancel: CancelToken | None) -> str | None:
        """The question in the course's language when the recipe asks for it and the languages differ."""
        if not (self.recipe.translate_query and needs_translation(language, self.course_language)):
            return None
        assert self.course_language is not None
        # Only the prose: code the learner pasted stays as it is (and is still searched, as `original`).
        words = prose(question).strip() or question
        text, _final = collect(self._engine.stream(translation_request(words, self.course_language), cancel))
        return clean_translation(text, question=question, target_language=self.course_language)

    def ask(self, question: str, cancel: CancelToken | None = None) -> Iterator[TutorEvent]:
        for event in self._ask(question, cancel):
            if isinstance(event, Answer) and event.finish_reason != "cancelled" and self._on_answer is not None:
                try:
                    self._on_answer(question, event)
                except Exception:  # keeping the turn must never cost the learner the answer itself
                    log.exception("could not keep the tutor turn in the learning record")
            yield event

    def _ask(self, question: str, cancel: CancelToken | None = None) -> Iterator[TutorEvent]:
        language = question_language(question, self.course_language)
        self._question, self._language = question, language  # what the answer check judges against
        previous = [turn.user for turn in self.history]
        translated = self._translated(question, language, cancel)
        if translated is not None:
            query = replace(retrieval_query(translated, previous), original=question)
        else:
            query = retrieval_query(question, previous)
        self.last_retrieval_query = query.question
        result = self._searcher.search(query, k=self._passages, policy=self._coverage)
        yield Retrieved(result.hits, result.covered, result.best_similarity, translated)
        chunks = [hit.chunk for hit in result.hits]
        if not result.covered:
            reply = not_covered_reply(self.course_title, chunks)
            yield AnswerText(reply)
            self.history.append(Turn(question, reply))
            yield Answer(reply, covered=False, citations=[], passages=[])
            return

        if self.router is not None:
            yield from self._ask_routed(question, language, result, chunks, cancel)
            return
        prepared = self._prepare(self._engine, question, chunks, language)
        caps = self._engine.capabilities
        given = list(prepared.given)
        pieces: list[str] = []
        final = None
        for chunk in self._engine.stream(prepared.request, cancel):
            if chunk.text:
                pieces.append(chunk.text)
                yield AnswerText(chunk.text)
            if chunk.is_final:
                final = chunk
        self._first_turn = prepared.state
        text = "".join(pieces).strip()
        finish: FinishReason = final.finish_reason if final is not None and final.finish_reason else "stop"
        quality = self._check(text, finish, prepared)
        yield self._answer(question, text, given, finish, final.stats if final else None, caps.model_id, caps.where,
                           caps.backend, prepared.notes, quality)

    def _prepare(self, engine: ChatEngine, question: str, chunks: list[CourseChunk],
                 language: str | None) -> PreparedRequest:
        """The grounded prompt, trimmed to `engine`'s window (a cloud model's is bigger than the device's)."""
        from app.services.inference.router import PreparedRequest

        caps = engine.capabilities
        parts = tutor_prompt(question, chunks, course_title=self.course_title, history=self.history,
                             recipe=self.recipe, language=language, course_language=self.course_language)
        trim = fit_to_window(parts, count_tokens=engine.count_tokens, context_length=caps.context_length,
                             answer_tokens=self._answer_tokens, min_answer_tokens=min(128, self._answer_tokens),
                             first_turn=self._first_turn)
        request = GenerationRequest(messages=trim.messages, sampling=self._sampling, max_tokens=trim.answer_tokens,
                                    min_tokens=min(self.recipe.min_tokens, trim.answer_tokens))
        return PreparedRequest(request, chunks[:trim.kept_passages], trim.notes, trim.first_turn)

    def _check(self, text: str, finish: FinishReason, prepared: PreparedRequest) -> AnswerVerdict:
        return check_answer(text, question=self._question, passages=[c.text for c in prepared.given], covered=True,
                            finish_reason=finish, question_language=self._language)

    def _answer(self, question: str, text: str, given: list[CourseChunk], finish: FinishReason,
                stats: GenerationStats | None, model_id: str, where: Where, backend: str, notes: tuple[str, ...],
                quality: AnswerVerdict | None, route: RouteInfo | None = None) -> Answer:
        valid, invalid = citations(text, given)
        if not valid:  # the model cited nothing (or the recipe did not ask it to): attribute by shared wording
            valid = attribute(text, given, mode=self.recipe.attribution)
        if finish != "cancelled":
            self.history.append(Turn(question, text))
        return Answer(text, covered=True, citations=valid, passages=given, invalid_markers=invalid,
                      finish_reason=finish, stats=stats, model_id=model_id, where=where, backend=backend, notes=notes,
                      quality=quality, route=route)

    def _ask_routed(self, question: str, language: str | None, result: SearchResult, chunks: list[CourseChunk],
                    cancel: CancelToken | None) -> Iterator[TutorEvent]:
        from app.core.routing import RouteInput
        from app.services.inference.router import AnswerJob, Finished, Text

        assert self.router is not None
        best = result.hits[0].chunk.lesson_id if result.hits else None
        # "Not studied yet" means something only once the learner has progress in this course: to a new
        # learner every lesson is unstudied, and that is no reason to send the question away.
        seen = set(self._studied()) if self._studied is not None and best is not None else set()
        studied = (best in seen) if seen else None
        decision = self.router.decide(RouteInput(
            question=question, previous=tuple(turn.user for turn in self.history), embedding=result.query_vector,
            covered=result.covered, best_similarity=result.best_similarity, studied=studied))
        job = AnswerJob(question=question, course_id=self.course_id, decision=decision,
                        prepare=lambda engine: self._prepare(engine, question, chunks, language), check=self._check)
        for event in self.router.answer(job, cancel):
            if isinstance(event, Text):
                yield AnswerText(event.text)
            elif isinstance(event, Finished):
                self._first_turn = event.prepared.state
                finish: FinishReason = event.final.finish_reason if event.final is not None and \
                    event.final.finish_reason else "stop"
                yield self._answer(question, event.text, list(event.prepared.given), finish,
                                   event.final.stats if event.final else None, event.caps.model_id, event.caps.where,
                                   event.caps.backend, event.prepared.notes, event.verdict, event.info)
            else:
                yield event
