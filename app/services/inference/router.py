"""Local first, checked, then escalated: the router that carries out a route plan (issue 17).

`ChatRouter.answer(job)` yields events the tutor session passes on: `Routed` when a model starts,
`Text` while it streams, `AttemptAbandoned` when an answer is set aside (a local answer that failed
its check or was late; a cloud stream that broke), `ConsentNeeded` when the learner must say yes
first, and one `Finished` with the answer kept and its `RouteInfo` (who answered and why, what was
sent, what it cost, what it would have cost on the reference cloud model). The ledger gets one
entry per answer.

What this does that the anchors don't (RouteLLM decides before generating and cannot work offline;
LiteLLM reacts only to errors and loses partial output on failover): the on-device answer is tried
first under a first-token deadline and a total budget, judged by the answer-quality check and
llama.cpp's token log-probabilities, and only then replaced; a cloud failure (error, timeout,
offline, no key, budget) falls back to the device; a stream that breaks mid-answer is replaced and
what was shown stays available as an attempt; retries happen only before the first token; a
failing endpoint is put on a cooldown (app.core.circuit) so the next questions don't wait on it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from app.core.answer_check import AnswerVerdict, repeats_itself
from app.core.circuit import CircuitBreaker
from app.core.errors import (
    CloudAuthFailed,
    CloudContextTooLong,
    CloudModelError,
    CloudNotConfigured,
    CloudRateLimited,
    CloudServerError,
    CloudTimeout,
    CloudUnreachable,
    LanternError,
    OfflineModeEnabled,
)
from app.core.i18n import _
from app.core.inference import (
    CancelToken,
    ChatEngine,
    ChatMessage,
    Chunk,
    GenerationStats,
    Where,
)
from app.core.ledger import LedgerEntry
from app.core.model_roles import ModelRef
from app.core.pricing import local_energy_cost
from app.core.route_plan import RoutePlan, blocked_reason, plan_route
from app.services.cloud_config import CloudSetup, endpoint_key
from app.services.inference.route_events import (
    AnswerJob,
    Attempt,
    AttemptAbandoned,
    ConsentNeeded,
    Finished,
    PreparedRequest,
    Routed,
    RouteInfo,
    RoutePolicy,
    RouterEvent,
    Text,
)

__all__ = ["AnswerJob", "Attempt", "AttemptAbandoned", "ChatRouter", "ConsentNeeded", "Finished", "PreparedRequest",
           "RouteInfo", "RoutePolicy", "Routed", "RouterEvent", "Text"]

log = logging.getLogger(__name__)

# A retry before the first token waits at most this long (a longer Retry-After fails over instead).
MAX_RETRY_WAIT_S = 2.0
LOOP_CHECK_EVERY = 24  # streamed pieces between two looks for a repetition loop (each look < 1 ms)


@dataclass
class _Outcome:
    ref: ModelRef
    engine: ChatEngine | None
    prepared: PreparedRequest | None = None
    text: str = ""
    final: Chunk | None = None
    verdict: AnswerVerdict | None = None
    problem: str | None = None          # reason code when it failed or was rejected
    problem_words: str = ""
    error: LanternError | None = None
    started_s: float = 0.0
    ttft_s: float | None = None
    seconds: float = 0.0

    @property
    def cancelled(self) -> bool:
        return self.final is not None and self.final.finish_reason == "cancelled" and self.problem is None

    @property
    def stats(self) -> GenerationStats | None:
        return self.final.stats if self.final is not None else None


class ChatRouter:
    """One per tutor session. `local` is the on-device engine (the loaded model or the model host);
    `cloud_engine(ref)` makes (or reuses) the cloud engine for a reference."""

    def __init__(self, *, local: ChatEngine | None, setup: CloudSetup, cloud_engine: Callable[[ModelRef], ChatEngine],
                 breaker: CircuitBreaker, policy: RoutePolicy | None = None, router_model: Any = None,
                 threshold: float | None = None, record: Callable[[LedgerEntry], Any] | None = None,
                 source: str = "app", clock: Callable[[], float] = time.perf_counter) -> None:
        self.local = local
        self.setup = setup
        self._cloud_engine = cloud_engine
        self.breaker = breaker
        self.policy = policy or RoutePolicy()
        self.router_model = router_model
        self.threshold = threshold
        self._record = record
        self._source = source
        self._clock = clock

    # -- deciding -----------------------------------------------------------------------------------

    def decide(self, route_input: Any) -> Any:
        from app.core.routing import decide

        return decide(route_input, self.router_model, threshold=self.threshold)

    def plan(self, decision: Any) -> RoutePlan:
        return plan_route(decision, self.setup.roles, blocked=self.setup.blocked,
                          local_available=self.local is not None)

    # -- answering ----------------------------------------------------------------------------------

    def answer(self, job: AnswerJob, cancel: CancelToken | None = None) -> Iterator[RouterEvent]:
        started = self._clock()
        plan = self.plan(job.decision)
        attempts: list[Attempt] = []
        sent: tuple[ChatMessage, ...] | None = None
        cloud_model: str | None = None
        rejected_local: _Outcome | None = None
        order = [plan.first] + ([plan.backup] if plan.backup is not None else [])
        reason, reason_code = plan.reason, plan.reason_code
        fell_back = failed_over = False
        fallback_reason: str | None = None
        outcome: _Outcome | None = None
        for position, ref in enumerate(order):
            has_next = position + 1 < len(order)
            if ref.is_cloud:
                why = self.setup.blocked(ref)
                if why is not None:  # it changed since the plan (offline toggled, breaker opened)
                    outcome = _Outcome(ref, None, problem=f"blocked:{why}", problem_words=blocked_reason(why))
                else:
                    outcome = yield from self._cloud(ref, job, cancel, reason)
                    if outcome.prepared is not None and outcome.problem != "declined":
                        sent, cloud_model = outcome.prepared.request.messages, str(ref)
            else:
                outcome = yield from self._local(job, cancel, reason, judged=has_next and order[position + 1].is_cloud)
            if outcome.cancelled:
                break
            if outcome.problem is None:
                break
            # This attempt failed or was rejected: set it aside (if anything was shown) and go on.
            if outcome.text or outcome.ref.where == "local":
                attempt = Attempt(model=self._ref_text(outcome), where=_where(outcome.ref), text=outcome.text,
                                  reason=outcome.problem_words, reason_code=outcome.problem)
                if outcome.text:
                    attempts.append(attempt)
                    yield AttemptAbandoned(attempt)
            if not outcome.ref.is_cloud:
                rejected_local = outcome
            if has_next:
                nxt = order[position + 1]
                if outcome.problem == "declined":
                    reason, reason_code = _("on-device: you chose not to send this question to the cloud"), \
                        "kept_local:declined"
                elif nxt.is_cloud:
                    fell_back, fallback_reason = True, outcome.problem
                    reason = _("fell back: {why}").format(why=outcome.problem_words)
                    reason_code = f"fallback:{outcome.problem}"
                else:
                    failed_over = True
                    reason = _("on-device: the cloud model failed ({why})").format(why=outcome.problem_words)
                    reason_code = f"failover:{outcome.problem}"
        assert outcome is not None
        if outcome.problem is not None and not outcome.cancelled:
            # Nothing better came: keep the on-device answer that was set aside (the learner reads it with
            # its quality notice), or, when there is none, say what failed.
            if rejected_local is not None and rejected_local is not outcome and rejected_local.final is not None:
                attempts = [a for a in attempts if a.where != "on-device"]
                if outcome.problem == "declined":
                    reason, reason_code = _("on-device: you chose not to send this question to the cloud"), \
                        "kept_local:declined"
                    fell_back = False
                elif fell_back:
                    reason = _("on-device: the cloud fallback failed ({why})").format(why=outcome.problem_words)
                    reason_code = f"failover:{outcome.problem}"
                    fell_back, failed_over = False, True
                yield Routed("on-device", self._ref_text(rejected_local), reason)
                yield Text(rejected_local.text)
                outcome = rejected_local
            elif outcome.final is None:
                if outcome.error is not None:
                    raise outcome.error
                raise CloudModelError(_("No model could answer: {why}.").format(why=outcome.problem_words),
                                      hint=_("Load an on-device model, or check the cloud settings."))
        rejected = rejected_local is not None and rejected_local is not outcome
        local_attempt_s = rejected_local.seconds if rejected and rejected_local is not None else None
        yield self._finish(job, outcome, started=started, reason=reason, reason_code=reason_code, fell_back=fell_back,
                           fallback_reason=fallback_reason if fell_back else None, failed_over=failed_over,
                           attempts=attempts, sent=sent, cloud_model=cloud_model, local_attempt_s=local_attempt_s)

    # -- one on-device attempt ------------------------------------------------------------------------

    def _local(self, job: AnswerJob, cancel: CancelToken | None, reason: str, *,
               judged: bool) -> Generator[RouterEvent, None, _Outcome]:
        engine = self.local
        ref = ModelRef("local", "auto")
        if engine is None:
            return _Outcome(ref, None, problem="no_local_model", problem_words=_("no on-device model is loaded"))
        outcome = _Outcome(ref, engine, started_s=self._clock())
        prepared = job.prepare(engine)
        if judged:
            prepared = replace(prepared, request=replace(prepared.request, logprobs=True))
        outcome.prepared = prepared
        yield Routed("on-device", self._ref_text(outcome), reason)
        token = CancelToken(parent=cancel)
        late: list[str] = []
        first = threading.Event()
        timers: list[threading.Timer] = []
        if judged:  # deadlines only matter when there is a cloud model to take over
            def first_token_due() -> None:
                if not first.is_set():
                    late.append("late_first_token")
                    token.cancel()

            def total_due() -> None:
                late.append("over_time")
                token.cancel()

            timers = [threading.Timer(self.policy.first_token_s, first_token_due),
                      threading.Timer(self.policy.total_s, total_due)]
            for timer in timers:
                timer.daemon = True
                timer.start()
        pieces: list[str] = []
        watch_loops = judged and "repetition_loop" in self.policy.fallback_on
        try:
            for chunk in engine.stream(prepared.request, token):
                if chunk.text:
                    if not first.is_set():
                        first.set()
                        outcome.ttft_s = self._clock() - outcome.started_s
                    pieces.append(chunk.text)
                    yield Text(chunk.text)
                    # A loop found while streaming is the loop the finished answer would have: stop now rather
                    # than make the learner watch it run to the length limit.
                    if watch_loops and not late and len(pieces) % LOOP_CHECK_EVERY == 0 and \
                            repeats_itself("".join(pieces)):
                        late.append("repetition_loop")
                        token.cancel()
                if chunk.is_final:
                    outcome.final = chunk
        finally:
            for timer in timers:
                timer.cancel()
        outcome.seconds = self._clock() - outcome.started_s
        outcome.text = "".join(pieces).strip()
        if late and not (cancel is not None and cancel.cancelled):
            outcome.problem = late[0]
            outcome.problem_words = {
                "late_first_token": _("the on-device model had not started after {s:g} s").format(
                    s=self.policy.first_token_s),
                "over_time": _("the on-device answer took longer than {s:g} s").format(s=self.policy.total_s),
            }.get(late[0]) or _("the on-device answer {reason}").format(reason=_problem_phrase(late[0], ""))
            return outcome
        if outcome.final is None or outcome.final.finish_reason == "cancelled":
            return outcome
        outcome.verdict = job.check(outcome.text, outcome.final.finish_reason or "stop", prepared)
        serious = [p for p in outcome.verdict.problems if p.code in self.policy.fallback_on]
        if judged and serious:
            problem = serious[0]
            outcome.problem, outcome.problem_words = problem.code, _("the on-device answer {reason}").format(
                reason=_problem_phrase(problem.code, problem.reason))
        elif judged and self.policy.min_confidence is not None:
            confidence = outcome.stats.mean_logprob if outcome.stats else None
            if confidence is not None and confidence < self.policy.min_confidence:
                outcome.problem = "low_confidence"
                outcome.problem_words = _("the on-device model was unsure of its answer")
        return outcome

    # -- one cloud attempt ----------------------------------------------------------------------------

    def _cloud(self, ref: ModelRef, job: AnswerJob, cancel: CancelToken | None,
               reason: str) -> Generator[RouterEvent, None, _Outcome]:
        outcome = _Outcome(ref, None, started_s=self._clock())
        try:
            engine = self._cloud_engine(ref)
        except LanternError as exc:
            outcome.problem, outcome.problem_words, outcome.error = "not_configured", exc.user_message, exc
            return outcome
        outcome.engine = engine
        prepared = job.prepare(engine)
        outcome.prepared = prepared
        if self.setup.settings.cloud_consent == "ask":
            ask = ConsentNeeded(model=ref.name, reason=reason, messages=prepared.request.messages)
            yield ask
            if not ask.wait(cancel):
                outcome.problem, outcome.problem_words = "declined", _("you chose not to send this question")
                return outcome
        yield Routed("cloud", str(ref), reason)
        key = endpoint_key(ref)
        retried = False
        while True:
            pieces: list[str] = []
            try:
                for chunk in engine.stream(prepared.request, cancel):
                    if chunk.text:
                        if outcome.ttft_s is None:
                            outcome.ttft_s = self._clock() - outcome.started_s
                        pieces.append(chunk.text)
                        yield Text(chunk.text)
                    if chunk.is_final:
                        outcome.final = chunk
                self.breaker.succeeded(key)
                break
            except OfflineModeEnabled as exc:
                outcome.problem, outcome.problem_words, outcome.error = "offline", blocked_reason("offline"), exc
                break
            except CloudModelError as exc:
                retry_after = exc.retry_after_s if isinstance(exc, CloudRateLimited) else None
                self.breaker.failed(key, error=exc.user_message, retry_after_s=retry_after)
                log.info("cloud model %s failed%s: %s", ref, " mid-stream" if pieces else "", exc.user_message)
                retryable = isinstance(exc, CloudServerError) or (
                    isinstance(exc, CloudRateLimited) and retry_after is not None and retry_after <= MAX_RETRY_WAIT_S)
                if not pieces and not retried and retryable and not (cancel is not None and cancel.cancelled):
                    retried = True  # retries happen only before the first token
                    if retry_after:
                        time.sleep(retry_after)
                    continue
                outcome.text = "".join(pieces).strip()
                outcome.error = exc
                outcome.problem = "cloud_broke_off" if pieces else _cloud_code(exc)
                outcome.problem_words = (_("the cloud answer broke off") if pieces else exc.user_message.rstrip("."))
                break
        outcome.seconds = self._clock() - outcome.started_s
        if outcome.problem is None:
            outcome.text = "".join(pieces).strip()
            if outcome.final is not None and outcome.final.finish_reason != "cancelled":
                outcome.verdict = job.check(outcome.text, outcome.final.finish_reason or "stop", prepared)
        return outcome

    # -- the record ---------------------------------------------------------------------------------

    def _ref_text(self, outcome: _Outcome) -> str:
        if outcome.ref.is_cloud:
            return str(outcome.ref)
        caps = outcome.engine.capabilities if outcome.engine is not None else None
        return f"local:{caps.model_id}" if caps is not None else "local:auto"

    def _finish(self, job: AnswerJob, outcome: _Outcome, *, started: float, reason: str, reason_code: str,
                fell_back: bool, fallback_reason: str | None, failed_over: bool, attempts: list[Attempt],
                sent: tuple[ChatMessage, ...] | None, cloud_model: str | None,
                local_attempt_s: float | None) -> Finished:
        assert outcome.engine is not None and outcome.prepared is not None
        caps = outcome.engine.capabilities
        stats = outcome.stats
        tokens_in = stats.prompt_tokens if stats else 0
        tokens_out = stats.completion_tokens if stats else 0
        total = self._clock() - started
        prices = self.setup.prices
        if outcome.ref.is_cloud:
            cost = prices.cost(outcome.ref, tokens_in, tokens_out) or 0.0
        else:
            cost = local_energy_cost(outcome.seconds, watts=self.policy.watts, price_kwh=self.policy.price_kwh)
        reference = self.setup.roles.tier.reference
        info = RouteInfo(
            route="cloud" if outcome.ref.is_cloud else "local", model=self._ref_text(outcome), where=caps.where,
            reason=reason, reason_code=reason_code, fell_back=fell_back, fallback_reason=fallback_reason,
            failed_over=failed_over, attempts=tuple(attempts), sent_to_cloud=sent, cloud_model=cloud_model,
            probability=getattr(job.decision, "probability", None), kind=getattr(job.decision, "kind", ""),
            cost_usd=cost, cost_if_cloud_usd=prices.cost(reference, tokens_in, tokens_out),
            ttft_s=None if outcome.ttft_s is None else outcome.ttft_s + (outcome.started_s - started),
            total_s=total, confidence=stats.mean_logprob if stats else None, local_attempt_s=local_attempt_s)
        finished = Finished(outcome.text, outcome.final, caps, outcome.prepared, outcome.verdict, info)
        if self._record is not None and not outcome.cancelled:
            try:
                self._record(self.ledger_entry(job, finished, local_attempt_s=local_attempt_s))
            except Exception:  # the ledger must never cost the learner an answer
                log.exception("could not record the answer in the savings ledger")
        return finished

    def ledger_entry(self, job: AnswerJob, finished: Finished, *, local_attempt_s: float | None = None) -> LedgerEntry:
        info = finished.info
        verdict = finished.verdict
        return LedgerEntry(
            at=datetime.now(UTC), course_id=job.course_id, question_kind=info.kind or "other", route=info.route,  # type: ignore[arg-type]
            reason=info.reason, reason_code=info.reason_code, model=info.model, where=info.where,
            tokens_in=finished.final.stats.prompt_tokens if finished.final and finished.final.stats else 0,
            tokens_out=finished.final.stats.completion_tokens if finished.final and finished.final.stats else 0,
            ttft_s=info.ttft_s, total_s=info.total_s, cost_usd=info.cost_usd, cost_if_cloud_usd=info.cost_if_cloud_usd,
            fell_back=info.fell_back, fallback_reason=info.fallback_reason,
            quality=None if verdict is None else ("ok" if verdict.ok else verdict.codes[0]),
            cloud_probability=info.probability, local_attempt_s=local_attempt_s, source=self._source)  # type: ignore[arg-type]


def _where(ref: ModelRef) -> Where:
    return "cloud" if ref.is_cloud else "on-device"


_CLOUD_CODES: tuple[tuple[type[CloudModelError], str], ...] = (
    (CloudAuthFailed, "bad_key"), (CloudRateLimited, "rate_limited"), (CloudServerError, "server_error"),
    (CloudUnreachable, "unreachable"), (CloudTimeout, "timeout"), (CloudContextTooLong, "context_too_long"),
    (CloudNotConfigured, "not_configured"))


def _cloud_code(exc: CloudModelError) -> str:
    """The ledger's stable code for a cloud failure (its class, not its message)."""
    return next((code for cls, code in _CLOUD_CODES if isinstance(exc, cls)), "cloud_error")


def _problem_phrase(code: str, reason: str) -> str:
    """The answer check's reason reads after "This answer looks incomplete: "; the badge wants a phrase."""
    return {"empty": _("was empty"), "marker_only": _("only pointed at the passages"),
            "pasted_passage": _("copied the course text"), "repetition_loop": _("kept repeating itself"),
            "refused_although_covered": _("said the course does not cover it, but it does"),
            "wrong_language": _("was in the wrong language"), "cut_off": _("was cut off")}.get(code, reason)
