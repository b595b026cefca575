"""`lantern eval routing`: the eval set through the router, with the on-device model and a cloud model.

Each query is asked the way the app asks it (`AppServices.tutor` with a `ChatRouter`): retrieval, the
routing decision, the on-device answer under its deadlines and check, and the fallback to the cloud
model when it fails. The cloud model is any OpenAI-compatible endpoint (`--cloud-url`); here it is a
llama.cpp server on loopback, priced as a real cloud model of the price table (`--price-as`), so the
cost figures are what that model would have charged for these tokens.

Measured per query: the decision (and its time), who answered, whether the device's answer was
replaced and why, the time the rejected attempt cost, tokens and cost. Summarised: local share,
precision/recall of `needs_cloud` (for the decision alone and for who finally answered), fallback
rate, the added latency of a fallback, cost per 1,000 queries against all-cloud, and the cloud
streaming path's speed against the raw `openai` SDK on the same server.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from app.core.circuit import CircuitBreaker
from app.core.errors import LanternError
from app.core.evaluation.eval_set import EvalQuery
from app.core.evaluation.metrics import percentile
from app.core.i18n import _
from app.core.model_roles import ModelRef, parse_model_ref
from app.core.pricing import PriceTable
from app.services.cloud_config import build_cloud_setup
from app.services.knowledge.tutor_session import Answer

if TYPE_CHECKING:
    from app.services.app_services import AppServices

LOOPBACK_PROVIDER = "eval-cloud"

# The targets (held-out split).
TARGET_LOCAL_SHARE = 0.75
TARGET_CLOUD_RECALL = 0.90
TARGET_SPEED_RATIO = 0.97
TARGET_DECISION_P50_MS = 5.0


@dataclass(frozen=True)
class CloudUnderTest:
    base_url: str
    model: str
    api_key: str | None = None
    price_as: str = "cloud:openai/gpt-4o-mini"  # whose price these tokens are counted at


@dataclass(frozen=True)
class RoutingRecord:
    query_id: str
    type: str
    language: str
    needs_cloud: bool
    covered: bool
    decided_cloud: bool
    probability: float | None
    decision_code: str
    decision_ms: float
    route: str               # "local" | "cloud": who gave the answer kept
    reason_code: str
    fell_back: bool
    fallback_reason: str | None
    failed_over: bool
    local_attempt_s: float | None
    ttft_s: float | None
    total_s: float
    tokens_in: int
    tokens_out: int
    cost_usd: float
    cost_if_cloud_usd: float | None
    quality: str | None


@dataclass
class RoutingRun:
    split: str | None
    local_model: str
    cloud: dict[str, Any]
    records: list[RoutingRecord] = field(default_factory=list)
    speed: dict[str, Any] | None = None
    started_at: str = ""
    finished_at: str = ""
    interrupted: bool = False
    machine: dict[str, Any] = field(default_factory=dict)


def _priced_like(prices: PriceTable, ref: ModelRef, price_as: str) -> PriceTable:
    """The table with the loopback model priced as `price_as` (a model of the table)."""
    target = parse_model_ref(price_as)
    price = prices.get(target)
    if price is None:
        raise LanternError(_("The price table has no model {ref}.").format(ref=price_as),
                           hint=_("Pick one from resources/pricing/cloud_models.toml for --price-as."))
    return PriceTable([*prices, replace(price, provider=ref.provider, model=ref.model)])


class RoutingEval:
    def __init__(self, services: AppServices, cloud: CloudUnderTest, *, answer_tokens: int = 512,
                 progress: Callable[[int, int, RoutingRecord], None] | None = None) -> None:
        self.services = services
        self.cloud = cloud
        self.answer_tokens = answer_tokens
        self.progress = progress
        self.ref = ModelRef("cloud", f"{LOOPBACK_PROVIDER}/{cloud.model}")

    def _router(self, local: Any) -> Any:
        from app.services.inference.cloud_backend import CloudTimeouts, open_cloud_engine
        from app.services.inference.router import ChatRouter, RoutePolicy

        services = self.services
        settings = services.settings.model_copy(update={
            "cloud_consent": "when_needed", "tier": "free", "roles": {"fallback": str(self.ref)},
            "cloud_providers": {LOOPBACK_PROVIDER: self.cloud.base_url}, "cloud_monthly_budget_usd": None})
        setup = build_cloud_setup(settings, secrets=services.secrets, offline=lambda: services.gate.offline,
                                  breaker=CircuitBreaker())
        setup.api_key = lambda _provider: self.cloud.api_key
        setup.prices = _priced_like(setup.prices, self.ref, self.cloud.price_as)
        reference = parse_model_ref(self.cloud.price_as)
        setup.roles = replace(setup.roles, tier=replace(setup.roles.tier, reference=reference))
        engine = open_cloud_engine(setup.endpoint(self.ref), gate=services.gate, timeouts=CloudTimeouts())
        self._cloud_engine = engine
        policy = RoutePolicy(first_token_s=settings.local_first_token_s, total_s=settings.local_total_s)
        return ChatRouter(local=local, setup=setup, cloud_engine=lambda _ref: engine, breaker=setup.breaker,  # type: ignore[arg-type]
                          policy=policy, router_model=services.router_model(), threshold=settings.router_threshold,
                          record=None, source="eval")

    def run(self, queries: Sequence[EvalQuery], *, split: str | None, local_model: str | None = None,
            measure_speed: bool = True) -> RoutingRun:
        from app.services.evaluation.tutor_eval import _machine, _question_text

        if not queries:
            raise LanternError(_("No eval queries match the filters."), hint=_("Check --split, --types and --limit."))
        services = self.services
        for course_id in sorted({q.course for q in queries}):
            services.ensure_indexed(course_id)
        installed = services.chat_model(local_model)
        loaded = services.open_chat(installed)
        local = loaded.backend
        run = RoutingRun(split=split, local_model=installed.id,
                         cloud={"base_url": self.cloud.base_url, "model": self.cloud.model,
                                "price_as": self.cloud.price_as},
                         started_at=datetime.now(UTC).isoformat(timespec="seconds"), machine=_machine(services))
        searchers: dict[str, Any] = {}
        router = self._router(local)
        timed = _TimedDecide(router)
        try:
            for n, query in enumerate(queries, start=1):
                if query.course not in searchers:
                    searchers[query.course] = services.searcher(query.course)
                # Sessions are not closed: the searchers they share are, once, below.
                tutor = services.tutor(query.course, engine=local, answer_tokens=self.answer_tokens,
                                       searcher=searchers[query.course], router=router,
                                       with_progress=False)  # an eval learner has studied nothing yet
                timed.last = None
                answer: Answer | None = None
                began = time.perf_counter()
                for event in tutor.ask(_question_text(query)):
                    if isinstance(event, Answer):
                        answer = event
                assert answer is not None
                record = _record(query, answer, timed.last, time.perf_counter() - began)
                run.records.append(record)
                if self.progress is not None:
                    self.progress(n, len(queries), record)
            if measure_speed:
                from app.services.inference.cloud_speed import compare_stream_speed

                endpoint = router.setup.endpoint(self.ref)
                run.speed = compare_stream_speed(endpoint, gate=services.gate,
                                                 prompt="Explain in a few sentences what a Python list is.")
        except KeyboardInterrupt:
            run.interrupted = True
        finally:
            for searcher in searchers.values():
                searcher.close()
            self._cloud_engine.close()
            local.close()
        run.finished_at = datetime.now(UTC).isoformat(timespec="seconds")
        return run


class _TimedDecide:
    """Wraps the router's `decide` to time each decision (the embedding is already computed by then)."""

    def __init__(self, router: Any) -> None:
        self.last: tuple[Any, float] | None = None
        inner = router.decide

        def decide(route_input: Any) -> Any:
            started = time.perf_counter()
            decision = inner(route_input)
            self.last = (decision, (time.perf_counter() - started) * 1000)
            return decision

        router.decide = decide


def _record(query: EvalQuery, answer: Answer, decided: tuple[Any, float] | None, total: float) -> RoutingRecord:
    route = answer.route
    decision, ms = decided if decided is not None else (None, 0.0)
    stats = answer.stats
    return RoutingRecord(
        query_id=query.id, type=query.type, language=query.language, needs_cloud=query.needs_cloud,
        covered=answer.covered, decided_cloud=bool(decision is not None and decision.needs_cloud),
        probability=None if decision is None else decision.probability,
        decision_code="not_covered" if decision is None else decision.reason_code, decision_ms=ms,
        route="local" if route is None else route.route,
        reason_code="not_covered" if route is None else route.reason_code,
        fell_back=bool(route and route.fell_back), fallback_reason=None if route is None else route.fallback_reason,
        failed_over=bool(route and route.failed_over),
        local_attempt_s=_attempt_seconds(route), ttft_s=None if route is None else route.ttft_s,
        total_s=total, tokens_in=stats.prompt_tokens if stats else 0,
        tokens_out=stats.completion_tokens if stats else 0,
        cost_usd=0.0 if route is None else route.cost_usd,
        cost_if_cloud_usd=0.0 if route is None else route.cost_if_cloud_usd,
        quality=None if answer.quality is None else ("ok" if answer.quality.ok else answer.quality.codes[0]))


def _attempt_seconds(route: Any) -> float | None:
    """What a fallback added: the rejected on-device attempt (its streaming and its check) before the
    cloud model was asked."""
    if route is None or not route.fell_back:
        return None
    return route.local_attempt_s


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def summarise_routing(run: RoutingRun) -> dict[str, Any]:
    records = run.records
    n = len(records)
    positives = [r for r in records if r.needs_cloud]
    cloud_answered = [r for r in records if r.route == "cloud"]
    decided = [r for r in records if r.decided_cloud]
    local_attempts = [r for r in records if r.covered and (r.route == "local" or r.fell_back)]
    fallbacks = [r for r in records if r.fell_back]
    added = sorted(r.local_attempt_s for r in fallbacks if r.local_attempt_s is not None)
    decision_ms = sorted(r.decision_ms for r in records if r.covered)
    cost = sum(r.cost_usd for r in records)
    all_cloud = [r.cost_if_cloud_usd for r in records]
    known = all(c is not None for c in all_cloud)
    reasons: dict[str, int] = {}
    for r in fallbacks:
        reasons[r.fallback_reason or "?"] = reasons.get(r.fallback_reason or "?", 0) + 1
    summary: dict[str, Any] = {
        "queries": n, "local_share": _ratio(n - len(cloud_answered), n),
        "cloud_answered": len(cloud_answered),
        "needs_cloud": len(positives),
        "needs_cloud_answered_by_cloud": _ratio(sum(1 for r in positives if r.route == "cloud"), len(positives)),
        "answered_by_cloud_precision": _ratio(sum(1 for r in cloud_answered if r.needs_cloud), len(cloud_answered)),
        "decision_recall": _ratio(sum(1 for r in positives if r.decided_cloud), len(positives)),
        "decision_precision": _ratio(sum(1 for r in decided if r.needs_cloud), len(decided)),
        "routed_to_cloud": len(decided),
        "fallback_rate": _ratio(len(fallbacks), len(local_attempts)),
        "fallbacks": len(fallbacks), "fallback_reasons": dict(sorted(reasons.items(), key=lambda kv: -kv[1])),
        "failovers": sum(1 for r in records if r.failed_over),
        "fallback_added_latency_p50_s": percentile(added, 50) if added else None,
        "fallback_added_latency_p95_s": percentile(added, 95) if added else None,
        "decision_p50_ms": percentile(decision_ms, 50) if decision_ms else None,
        "decision_p95_ms": percentile(decision_ms, 95) if decision_ms else None,
        "cost_per_1000_usd": cost / n * 1000 if n else None,
        "all_cloud_cost_per_1000_usd": (sum(c or 0.0 for c in all_cloud) / n * 1000) if n and known else None,
        "total_p50_s": {route: _p([r.total_s for r in records if r.route == route and r.covered
                                   and not r.fell_back], 50) for route in ("local", "cloud")},
        "stream_speed": run.speed,
    }
    summary["targets"] = {
        "local_share": _target(summary["local_share"], TARGET_LOCAL_SHARE),
        "needs_cloud_answered_by_cloud": _target(summary["needs_cloud_answered_by_cloud"], TARGET_CLOUD_RECALL),
        "stream_speed_ratio": _target(run.speed.get("ratio") if run.speed else None, TARGET_SPEED_RATIO),
        "decision_p50_ms": _target(summary["decision_p50_ms"], TARGET_DECISION_P50_MS, lower_is_better=True),
    }
    return summary


def _p(values: list[float], q: float) -> float | None:
    return percentile(sorted(values), q) if values else None


def _target(value: float | None, target: float, *, lower_is_better: bool = False) -> dict[str, Any]:
    met = None if value is None else (value <= target if lower_is_better else value >= target)
    return {"value": value, "target": target, "met": met}


def routing_report(run: RoutingRun) -> dict[str, Any]:
    return {"schema": "lantern.eval-routing", "version": 1, "split": run.split, "local_model": run.local_model,
            "cloud": run.cloud, "machine": run.machine, "started_at": run.started_at, "finished_at": run.finished_at,
            "interrupted": run.interrupted, "summary": summarise_routing(run),
            "records": [asdict(r) for r in run.records]}
