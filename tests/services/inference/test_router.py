"""The router's policy end to end with scripted engines: local first and checked, fallback, failover,
broken streams, consent, the breaker, offline, the ledger entry. (The real llama.cpp model and the real
loopback server go through the same router in test_router_real.py.)"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from app.core.answer_check import check_answer
from app.core.circuit import CircuitBreaker
from app.core.errors import CloudAuthFailed, CloudRateLimited, CloudServerError
from app.core.inference import (
    CancelToken,
    ChatMessage,
    Chunk,
    EngineCapabilities,
    GenerationRequest,
    GenerationStats,
)
from app.core.model_roles import parse_providers, parse_tiers, resolve_roles
from app.core.pricing import parse_price_table
from app.core.settings import LanternSettings
from app.services.cloud_config import CloudSetup
from app.services.inference.router import (
    AnswerJob,
    AttemptAbandoned,
    ChatRouter,
    ConsentNeeded,
    Finished,
    PreparedRequest,
    Routed,
    RoutePolicy,
    Text,
)

TIERS = {"tier": {"free": {"default": "local:auto", "simple": "local:auto", "code": "local:auto",
                           "fallback": "cloud:acme/big", "reference": "cloud:acme/big"}}}
PRICES = {"model": [{"provider": "acme", "model": "big", "input_per_mtok": 1.0, "output_per_mtok": 4.0,
                     "context_window": 32000, "source": "https://example.invalid/prices", "as_of": "2025-01-01"}]}
PROVIDERS = {"provider": {"acme": {"base_url": "http://127.0.0.1:9/v1", "needs_key": False}}}


@dataclass(frozen=True)
class Decision:
    needs_cloud: bool = False
    role: str = "default"
    reason: str = "a plain question"
    reason_code: str = "default"
    probability: float | None = 0.1
    kind: str = "explain"


class Scripted:
    """An engine that streams fixed pieces (after `delay_s`), or raises `error` after `fail_after` pieces."""

    def __init__(self, pieces: list[str], *, where: str = "on-device", model: str = "tiny", delay_s: float = 0.0,
                 error: Exception | None = None, fail_after: int = 0, logprob: float | None = -0.2) -> None:
        self.pieces, self.delay_s, self.error = pieces, delay_s, error
        self.fail_after, self.logprob = fail_after, logprob
        self.caps = EngineCapabilities(model_id=model, backend="scripted", where=where, context_length=4096,
                                       json_schema=False)
        self.calls: list[GenerationRequest] = []

    @property
    def capabilities(self) -> EngineCapabilities:
        return self.caps

    def count_tokens(self, messages) -> int:
        return sum(len(m.content.split()) for m in messages)

    def stream(self, request: GenerationRequest, cancel: CancelToken | None = None) -> Iterator[Chunk]:
        self.calls.append(request)
        started = time.perf_counter()
        deadline = started + self.delay_s
        while time.perf_counter() < deadline:
            if cancel is not None and cancel.cancelled:
                yield self._final("cancelled", 0, started)
                return
            time.sleep(0.01)
        for n, piece in enumerate(self.pieces):
            if self.error is not None and n == self.fail_after:
                raise self.error
            if cancel is not None and cancel.cancelled:  # between tokens, as the real backends check
                yield self._final("cancelled", n, started)
                return
            yield Chunk(piece, 1, time.perf_counter() - started)
        if self.error is not None and self.fail_after >= len(self.pieces):
            raise self.error
        yield self._final("stop", len(self.pieces), started)

    def _final(self, finish, n, started) -> Chunk:
        stats = GenerationStats(backend="scripted", model=self.caps.model_id, prompt_tokens=100, cached_prompt_tokens=0,
                                completion_tokens=n, time_to_first_token_s=0.01 if n else None, prompt_seconds=0.01,
                                generation_seconds=0.01, finish_reason=finish,
                                mean_logprob=self.logprob if n else None)
        return Chunk("", 0, time.perf_counter() - started, finish_reason=finish, stats=stats)


GOOD = ["A list keeps items in order; ", "you add one with append() and read it by its position."]


def make_router(local, cloud, *, consent="when_needed", offline=False, policy=None, breaker=None, records=None):
    settings = LanternSettings(cloud_consent=consent)
    setup = CloudSetup(settings=settings, roles=resolve_roles(parse_tiers(TIERS), "free", {}),
                       providers=parse_providers(PROVIDERS), prices=parse_price_table(PRICES),
                       api_key=lambda _p: None, offline=lambda: offline, breaker=breaker or CircuitBreaker())
    return ChatRouter(local=local, setup=setup, cloud_engine=lambda _ref: cloud, breaker=setup.breaker,
                      policy=policy or RoutePolicy(first_token_s=0.5, total_s=5.0),
                      record=None if records is None else records.append)


def job(decision=None, question="what is a list?"):
    def prepare(engine):
        return PreparedRequest(GenerationRequest(messages=(ChatMessage("user", question),), max_tokens=64))

    def check(text, finish, prepared):
        return check_answer(text, question=question, passages=["A list keeps items in order."], covered=True,
                            finish_reason=finish)

    return AnswerJob(question=question, course_id="c", decision=decision or Decision(), prepare=prepare, check=check)


def run(router, j, cancel=None):
    events = list(router.answer(j, cancel))
    return events, events[-1]


def test_a_good_local_answer_stands_and_nothing_is_sent():
    local, cloud = Scripted(GOOD), Scripted(["cloud"], where="cloud", model="acme/big")
    records = []
    events, done = run(make_router(local, cloud, records=records), job())
    assert isinstance(done, Finished) and done.info.route == "local" and not done.info.fell_back
    assert done.info.sent_to_cloud is None and cloud.calls == []
    assert local.calls[0].logprobs  # a cloud model stands behind it, so its confidence is measured
    assert [type(e) for e in events[:2]] == [Routed, Text]
    entry = records[0]
    assert entry.route == "local" and entry.cost_usd == 0.0 and entry.quality == "ok"
    assert entry.cost_if_cloud_usd == pytest.approx((100 * 1.0 + 2 * 4.0) / 1e6)
    assert entry.saved_usd == pytest.approx(entry.cost_if_cloud_usd)


def test_a_marker_only_local_answer_falls_back_and_the_attempt_is_kept():
    local, cloud = Scripted(["[1]"]), Scripted(GOOD, where="cloud", model="acme/big")
    records = []
    events, done = run(make_router(local, cloud, records=records), job())
    abandoned = [e for e in events if isinstance(e, AttemptAbandoned)]
    assert len(abandoned) == 1 and abandoned[0].attempt.text == "[1]"
    assert done.info.route == "cloud" and done.info.fell_back and done.info.fallback_reason == "marker_only"
    assert "fell back" in done.info.reason and done.text.startswith("A list")
    assert done.info.attempts[0].where == "on-device"
    assert done.info.sent_to_cloud == cloud.calls[0].messages  # exactly what left the machine
    assert records[0].fell_back and records[0].local_attempt_s is not None and records[0].cost_usd > 0


def test_a_late_local_first_token_falls_back_within_the_deadline():
    local, cloud = Scripted(GOOD, delay_s=10), Scripted(GOOD, where="cloud", model="acme/big")
    started = time.perf_counter()
    _events, done = run(make_router(local, cloud), job())
    assert time.perf_counter() - started < 3
    assert done.info.fell_back and done.info.fallback_reason == "late_first_token"


def test_low_confidence_falls_back_only_when_a_threshold_is_set():
    unsure = Scripted(GOOD, logprob=-3.0)
    cloud = Scripted(GOOD, where="cloud", model="acme/big")
    _e, kept = run(make_router(unsure, cloud), job())
    assert kept.info.route == "local"
    _e, done = run(make_router(Scripted(GOOD, logprob=-3.0), cloud,
                               policy=RoutePolicy(first_token_s=1, total_s=5, min_confidence=-2.0)), job())
    assert done.info.fell_back and done.info.fallback_reason == "low_confidence"


def test_routed_to_cloud_and_the_cloud_fails_before_any_text_the_device_answers():
    local = Scripted(GOOD)
    cloud = Scripted(GOOD, where="cloud", model="acme/big", error=CloudAuthFailed("bad key"))
    _e, done = run(make_router(local, cloud), job(Decision(needs_cloud=True, reason="asks to compare",
                                                             reason_code="rule:compare")))
    assert done.info.route == "local" and done.info.failed_over and done.info.reason_code == "failover:bad_key"


def test_a_cloud_stream_that_breaks_mid_answer_is_replaced_and_what_was_shown_is_kept():
    local = Scripted(GOOD)
    cloud = Scripted(["Lists are", " ordered"], where="cloud", model="acme/big",
                     error=CloudServerError("broke"), fail_after=2)
    events, done = run(make_router(local, cloud), job(Decision(needs_cloud=True, reason_code="rule:design")))
    abandoned = [e.attempt for e in events if isinstance(e, AttemptAbandoned)]
    assert abandoned and abandoned[0].text == "Lists are ordered" and abandoned[0].reason_code == "cloud_broke_off"
    assert done.info.route == "local" and done.text.startswith("A list") and done.info.attempts == tuple(abandoned)
    assert len(cloud.calls) == 1  # no retry after the first token


def test_a_retry_happens_only_before_the_first_token():
    local = Scripted(GOOD)

    class FlakyOnce(Scripted):
        def stream(self, request, cancel=None):
            if not self.calls:
                self.calls.append(request)
                raise CloudRateLimited("slow down", retry_after_s=0.05)
            return super().stream(request, cancel)

    cloud = FlakyOnce(GOOD, where="cloud", model="acme/big")
    _e, done = run(make_router(local, cloud), job(Decision(needs_cloud=True)))
    assert done.info.route == "cloud" and len(cloud.calls) == 2


def test_a_failing_endpoint_is_put_on_a_cooldown_so_the_next_question_does_not_wait():
    breaker = CircuitBreaker(failures_to_open=1, cooldown_s=60)
    cloud = Scripted(GOOD, where="cloud", model="acme/big", error=CloudAuthFailed("bad key"))
    router = make_router(Scripted(GOOD), cloud, breaker=breaker)
    run(router, job(Decision(needs_cloud=True)))
    calls = len(cloud.calls)
    _e, done = run(router, job(Decision(needs_cloud=True)))
    assert len(cloud.calls) == calls  # skipped: cooling down
    assert done.info.route == "local" and done.info.reason_code == "kept_local:cooling_down"


def test_offline_and_never_keep_everything_on_the_device():
    for kwargs in ({"offline": False, "consent": "never"},):
        cloud = Scripted(GOOD, where="cloud", model="acme/big")
        _e, done = run(make_router(Scripted(["[1]"]), cloud, **kwargs), job(Decision(needs_cloud=True)))
        assert cloud.calls == [] and done.info.route == "local" and done.info.sent_to_cloud is None
    # Offline: the acme provider of these tests is on loopback, which offline mode allows; a real one is not.
    providers = {"provider": {"acme": {"base_url": "https://api.acme.example/v1", "needs_key": False}}}
    router = make_router(Scripted(["[1]"]), Scripted(GOOD, where="cloud"), offline=True)
    router.setup.providers = parse_providers(providers)
    _e, done = run(router, job(Decision(needs_cloud=True)))
    assert done.info.route == "local" and done.info.reason_code == "kept_local:offline"


def test_consent_ask_waits_for_the_learner_and_no_means_nothing_is_sent():
    cloud = Scripted(GOOD, where="cloud", model="acme/big")
    router = make_router(Scripted(GOOD), cloud, consent="ask")
    gen = router.answer(job(Decision(needs_cloud=True, reason="asks to design")))
    ask = next(gen)
    assert isinstance(ask, ConsentNeeded) and ask.messages[0].content == "what is a list?"
    ask.reply(False)
    rest = list(gen)
    assert cloud.calls == [] and rest[-1].info.route == "local" and rest[-1].info.reason_code == "kept_local:declined"

    gen = router.answer(job(Decision(needs_cloud=True)))
    ask = next(gen)
    threading.Timer(0.05, ask.reply, args=(True,)).start()  # answered from another thread, like the GUI
    assert list(gen)[-1].info.route == "cloud" and len(cloud.calls) == 1


def test_cancel_while_waiting_for_consent_ends_without_an_answer_error():
    router = make_router(Scripted(GOOD), Scripted(GOOD, where="cloud"), consent="ask")
    cancel = CancelToken()
    gen = router.answer(job(Decision(needs_cloud=True)), cancel)
    ask = next(gen)
    cancel.cancel()
    assert ask.wait(cancel) is False


def test_a_local_answer_that_starts_looping_is_stopped_early_and_replaced():
    loop = ["The list is ordered. "] * 400
    local, cloud = Scripted(loop), Scripted(GOOD, where="cloud", model="acme/big")
    events, done = run(make_router(local, cloud), job())
    shown = sum(1 for e in events if isinstance(e, Text) and e.text == loop[0])
    assert shown < 100  # stopped long before the 400 pieces it would have streamed
    assert done.info.fell_back and done.info.fallback_reason == "repetition_loop"
