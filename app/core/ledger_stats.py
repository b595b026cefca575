"""What the savings ledger adds up to: the local share, fall-backs, money spent and saved, latency.

`lantern stats`, its `--json` and the GUI dashboard all show one `LedgerSummary`, so the three can
never disagree. Pure: it takes the entries (app.core.ledger) and does no I/O.

Definitions (the same words the dashboard uses):
- local share: answers the learner kept from the on-device model / all answers;
- fallback rate: answers that fell back / answers where an on-device attempt was made (kept local, or
  tried and replaced by the cloud's) — a question sent straight to the cloud is not a failed local one;
- a route for latency is "local", "cloud" (sent straight there) or "fallback" (tried here first);
- percentiles are nearest-rank, so every reported time is one that was measured.
Undefined values (a share of no answers, a percentile of no times) are None, never 0.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

from app.core.evaluation.metrics import percentile
from app.core.ledger import LedgerEntry

LatencyRoute = Literal["local", "cloud", "fallback"]
LATENCY_ROUTES: tuple[LatencyRoute, ...] = ("local", "cloud", "fallback")


def latency_route(entry: LedgerEntry) -> LatencyRoute:
    """Which latency population an answer belongs to (a fallback is slower by design: count it apart)."""
    if entry.fell_back:
        return "fallback"
    return entry.route


@dataclass(frozen=True)
class RouteLatency:
    route: LatencyRoute
    answers: int
    total_p50_s: float | None
    total_p95_s: float | None
    ttft_p50_s: float | None
    ttft_p95_s: float | None
    total_s: tuple[float, ...] = ()   # every measured time, oldest first (the dashboard's histogram)

    def to_dict(self) -> dict[str, Any]:
        return {"answers": self.answers, "total_p50_s": self.total_p50_s, "total_p95_s": self.total_p95_s,
                "ttft_p50_s": self.ttft_p50_s, "ttft_p95_s": self.ttft_p95_s}


@dataclass(frozen=True)
class KindRow:
    """One question kind: how often it stays on the device and how often its local answer fails."""

    kind: str
    answers: int
    local_share: float | None
    fell_back: int
    fallback_rate: float | None      # of its answers that tried the device first
    main_reason: str | None          # its most common fallback reason (None: it never fell back)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "answers": self.answers, "local_share": self.local_share,
                "fell_back": self.fell_back, "fallback_rate": self.fallback_rate, "main_reason": self.main_reason}


@dataclass(frozen=True)
class DayRow:
    day: date                        # UTC calendar day
    answers: int
    local_share: float | None
    saved_usd: float                 # saved that day
    saved_cumulative_usd: float      # saved from the first day shown up to and including this one

    def to_dict(self) -> dict[str, Any]:
        return {"date": self.day.isoformat(), "answers": self.answers, "local_share": self.local_share,
                "saved_usd": self.saved_usd, "saved_cumulative_usd": self.saved_cumulative_usd}


@dataclass(frozen=True)
class LedgerSummary:
    answers: int
    local_answers: int                        # kept from the on-device model
    local_share: float | None
    cloud_share: float | None
    fallback_rate: float | None
    local_attempts: int                       # the fallback rate's denominator
    fallback_reasons: Counter[str]
    route_reasons: Counter[str]
    cost_usd: float
    saved_usd: float
    cost_if_all_cloud_usd: float | None       # None: no answer has a known reference price
    unpriced_answers: int                     # answers whose reference price is unknown (not in the line above)
    latency: dict[LatencyRoute, RouteLatency]
    by_kind: tuple[KindRow, ...]
    daily: tuple[DayRow, ...]
    since: datetime | None = None
    first_at: datetime | None = None
    last_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; `local_share`, `fallback_rate`, `cost_usd` and `saved_usd` are top-level keys."""
        return {
            "answers": self.answers,
            "since": _iso(self.since), "first_at": _iso(self.first_at), "last_at": _iso(self.last_at),
            "local_answers": self.local_answers, "local_share": self.local_share, "cloud_share": self.cloud_share,
            "fallback_rate": self.fallback_rate, "local_attempts": self.local_attempts,
            "fallback_reasons": dict(_ranked(self.fallback_reasons)),
            "route_reasons": dict(_ranked(self.route_reasons)),
            "cost_usd": self.cost_usd, "saved_usd": self.saved_usd,
            "cost_if_all_cloud_usd": self.cost_if_all_cloud_usd, "unpriced_answers": self.unpriced_answers,
            "latency": {route: stats.to_dict() for route, stats in self.latency.items()},
            "by_kind": [row.to_dict() for row in self.by_kind],
            "daily": [row.to_dict() for row in self.daily],
        }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _ranked(counter: Counter[str]) -> list[tuple[str, int]]:
    """Most common first; ties by name, so the order never depends on the order answers came in."""
    return sorted(counter.items(), key=lambda item: (-item[1], item[0]))


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _utc(moment: datetime) -> datetime:
    """Naive datetimes are read as UTC (the ledger stores UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _latency(route: LatencyRoute, entries: Sequence[LedgerEntry]) -> RouteLatency:
    totals = [e.total_s for e in entries]
    ttfts = [e.ttft_s for e in entries if e.ttft_s is not None]
    return RouteLatency(route=route, answers=len(entries), total_p50_s=percentile(totals, 50),
                        total_p95_s=percentile(totals, 95), ttft_p50_s=percentile(ttfts, 50),
                        ttft_p95_s=percentile(ttfts, 95), total_s=tuple(totals))


def _kind_row(kind: str, entries: Sequence[LedgerEntry]) -> KindRow:
    tried = [e for e in entries if e.route == "local" or e.fell_back]
    fell = [e for e in entries if e.fell_back]
    reasons = _ranked(Counter(e.fallback_reason or "unknown" for e in fell))
    return KindRow(kind=kind, answers=len(entries), local_share=_share(sum(e.route == "local" for e in entries),
                                                                        len(entries)),
                   fell_back=len(fell), fallback_rate=_share(len(fell), len(tried)),
                   main_reason=reasons[0][0] if reasons else None)


def _kind_order(row: KindRow) -> tuple[float, int, int, str]:
    # The kinds that fall back most come first; a kind never tried on the device sorts after those that were.
    rate = -1.0 if row.fallback_rate is None else row.fallback_rate
    return (-rate, -row.fell_back, -row.answers, row.kind)


def _daily(entries: Iterable[LedgerEntry]) -> tuple[DayRow, ...]:
    days: dict[date, list[LedgerEntry]] = {}
    for entry in entries:
        days.setdefault(_utc(entry.at).date(), []).append(entry)
    rows, cumulative = [], 0.0
    for day in sorted(days):
        group = days[day]
        saved = float(sum(e.saved_usd for e in group))
        cumulative += saved
        rows.append(DayRow(day=day, answers=len(group),
                           local_share=_share(sum(e.route == "local" for e in group), len(group)),
                           saved_usd=saved, saved_cumulative_usd=cumulative))
    return tuple(rows)


def summarise(entries: Sequence[LedgerEntry], *, since: datetime | None = None) -> LedgerSummary:
    """The summary of `entries` (only those at or after `since`, when given)."""
    if since is not None:
        since = _utc(since)
        entries = [e for e in entries if _utc(e.at) >= since]
    entries = sorted(entries, key=lambda e: _utc(e.at))
    n = len(entries)
    local = sum(e.route == "local" for e in entries)
    tried = [e for e in entries if e.route == "local" or e.fell_back]
    fell = [e for e in entries if e.fell_back]
    priced = [e.cost_if_cloud_usd for e in entries if e.cost_if_cloud_usd is not None]
    kinds: dict[str, list[LedgerEntry]] = {}
    for entry in entries:
        kinds.setdefault(entry.question_kind, []).append(entry)
    return LedgerSummary(
        answers=n,
        local_answers=local,
        local_share=_share(local, n),
        cloud_share=_share(n - local, n),
        fallback_rate=_share(len(fell), len(tried)),
        local_attempts=len(tried),
        fallback_reasons=Counter(e.fallback_reason or "unknown" for e in fell),
        route_reasons=Counter(e.reason_code for e in entries),
        cost_usd=float(sum(e.cost_usd for e in entries)),
        saved_usd=float(sum(e.saved_usd for e in entries)),
        cost_if_all_cloud_usd=sum(priced) if priced else None,
        unpriced_answers=n - len(priced),
        latency={route: _latency(route, [e for e in entries if latency_route(e) == route])
                 for route in LATENCY_ROUTES},
        by_kind=tuple(sorted((_kind_row(kind, group) for kind, group in kinds.items()), key=_kind_order)),
        daily=_daily(entries),
        since=since,
        first_at=_utc(entries[0].at) if entries else None,
        last_at=_utc(entries[-1].at) if entries else None,
    )


def format_usd(value: float | None) -> str:
    """Dollars as the CLI and the dashboard show them: 4 decimals under a dollar (a tutor answer costs
    fractions of a cent), 2 above; None (unknown) is a dash."""
    if value is None:
        return "—"
    return f"${value:,.4f}" if abs(value) < 1 else f"${value:,.2f}"


def format_share(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"
