"""What the router takes and gives: its policy, the job, the events it yields and the `RouteInfo` of
an answer (app.services.inference.router carries them out; the tutor session and the UI read them)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.core.answer_check import AnswerVerdict
from app.core.inference import (
    CancelToken,
    ChatEngine,
    ChatMessage,
    Chunk,
    EngineCapabilities,
    FinishReason,
    GenerationRequest,
    Where,
)


@dataclass(frozen=True)
class RoutePolicy:
    first_token_s: float = 3.0        # an on-device answer that has not started by then is late
    total_s: float = 90.0             # nor may it run longer than this
    # Mean token log-probability below which an on-device answer counts as unsure. None (the default): not
    # used — on the starter model's tuning answers the answers that failed their check were the *more*
    # confident ones (median -0.42 against -0.72; docs/routing.md), so it would replace the wrong answers.
    min_confidence: float | None = None
    # Which answer-check problems replace an on-device answer. Copying a passage or running to the length
    # limit still leaves something to read (the learner gets the notice and "Try again"); these do not.
    fallback_on: frozenset[str] = frozenset({"empty", "marker_only", "repetition_loop", "refused_although_covered",
                                             "wrong_language"})
    watts: float | None = None        # for the on-device energy cost (off unless both are set)
    price_kwh: float | None = None


@dataclass(frozen=True)
class PreparedRequest:
    """A request built for one engine's window (the tutor prompt differs per engine)."""

    request: GenerationRequest
    given: Sequence[Any] = ()          # the passages the model was given, in prompt order
    notes: tuple[str, ...] = ()
    state: Any = None                  # whatever the caller needs back (the tutor's first kept turn)


@dataclass(frozen=True)
class AnswerJob:
    question: str
    course_id: str
    decision: Any                      # app.core.routing.RouteDecision
    prepare: Callable[[ChatEngine], PreparedRequest]
    check: Callable[[str, FinishReason, PreparedRequest], AnswerVerdict]


@dataclass(frozen=True)
class Attempt:
    """An answer that was set aside, kept so the learner can still read it."""

    model: str
    where: Where
    text: str
    reason: str       # in words: why it was set aside
    reason_code: str  # "empty", "late_first_token", "low_confidence", "cloud_broke_off", ...


@dataclass(frozen=True)
class RouteInfo:
    route: str                          # "local" | "cloud": who gave the answer kept
    model: str                          # "local:<id>" | "cloud:<provider>/<model>"
    where: Where
    reason: str                         # for the badge
    reason_code: str
    fell_back: bool = False             # on-device answer replaced by the cloud's
    fallback_reason: str | None = None
    failed_over: bool = False           # the cloud failed and the device answered
    attempts: tuple[Attempt, ...] = ()
    sent_to_cloud: tuple[ChatMessage, ...] | None = None  # exactly what left the machine, if anything
    cloud_model: str | None = None
    probability: float | None = None
    kind: str = ""
    cost_usd: float = 0.0
    cost_if_cloud_usd: float | None = None
    ttft_s: float | None = None
    total_s: float = 0.0
    confidence: float | None = None
    local_attempt_s: float | None = None  # the rejected on-device attempt's time, when it fell back


# -- events ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Routed:
    where: Where
    model: str
    reason: str


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class AttemptAbandoned:
    attempt: Attempt


@dataclass(eq=False)
class ConsentNeeded:
    """Consent "ask me each time": the consumer calls `reply(True/False)`; the router waits for it.
    `messages` is exactly what would be sent."""

    model: str
    reason: str
    messages: tuple[ChatMessage, ...]
    _event: threading.Event = field(default_factory=threading.Event, repr=False)
    _granted: bool = False

    def reply(self, granted: bool) -> None:
        self._granted = bool(granted)
        self._event.set()

    def wait(self, cancel: CancelToken | None) -> bool:
        while not self._event.wait(0.05):
            if cancel is not None and cancel.cancelled:
                return False
        return self._granted


@dataclass(frozen=True)
class Finished:
    text: str
    final: Chunk | None
    caps: EngineCapabilities
    prepared: PreparedRequest
    verdict: AnswerVerdict | None
    info: RouteInfo


RouterEvent = Routed | Text | AttemptAbandoned | ConsentNeeded | Finished
