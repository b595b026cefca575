"""The ledger summary: shares, fall-backs, money, nearest-rank latency, per-kind and per-day tables."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from app.core.ledger import LedgerEntry
from app.core.ledger_stats import format_share, format_usd, latency_route, summarise

DAY1 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
DAY2 = datetime(2025, 3, 2, 9, 0, tzinfo=UTC)


def entry(route: str = "local", *, kind: str = "explain", fell_back: bool = False, fallback_reason: str | None = None,
          at: datetime = DAY1, total_s: float = 2.0, ttft_s: float | None = 0.5, cost: float = 0.0,
          cost_if_cloud: float | None = 0.001, reason_code: str = "classifier") -> LedgerEntry:
    return LedgerEntry(at=at, course_id="loops", question_kind=kind, route=route,  # type: ignore[arg-type]
                       reason="why", reason_code=reason_code,
                       model="local:smollm2" if route == "local" else "cloud:openai/gpt-4o-mini",
                       where="on-device" if route == "local" else "cloud", tokens_in=300, tokens_out=120,
                       ttft_s=ttft_s, total_s=total_s, cost_usd=cost, cost_if_cloud_usd=cost_if_cloud,
                       fell_back=fell_back, fallback_reason=fallback_reason, quality="ok", cloud_probability=0.2)


# Six answers over two days: three kept local, one sent straight to the cloud, two fell back.
ENTRIES = [
    entry("local", kind="explain", total_s=1.0, ttft_s=0.2, cost_if_cloud=0.0010),
    entry("local", kind="explain", total_s=3.0, ttft_s=0.4, cost_if_cloud=0.0020),
    entry("cloud", kind="code", fell_back=True, fallback_reason="empty", total_s=9.0, ttft_s=6.0,
          cost=0.0030, cost_if_cloud=0.0030, reason_code="fallback:empty"),
    entry("local", kind="code", at=DAY2, total_s=2.0, ttft_s=None, cost_if_cloud=None),
    entry("cloud", kind="design", at=DAY2, total_s=4.0, ttft_s=1.0, cost=0.0050, cost_if_cloud=0.0040,
          reason_code="rule:design"),
    entry("cloud", kind="code", at=DAY2 + timedelta(hours=2), fell_back=True, fallback_reason="late_first_token",
          total_s=12.0, ttft_s=8.0, cost=0.0020, cost_if_cloud=0.0020, reason_code="fallback:late_first_token"),
]


def test_shares_money_and_reasons():
    s = summarise(ENTRIES)
    assert s.answers == len(ENTRIES) == 6
    assert s.local_answers == 3
    assert s.local_share == pytest.approx(3 / 6)
    assert s.cloud_share == pytest.approx(3 / 6)
    tried = [e for e in ENTRIES if e.route == "local" or e.fell_back]  # the direct cloud answer is not a local try
    assert s.local_attempts == len(tried) == 5
    assert s.fallback_rate == pytest.approx(2 / 5)
    assert s.fallback_reasons == Counter({"empty": 1, "late_first_token": 1})
    assert s.route_reasons == Counter(e.reason_code for e in ENTRIES)
    assert s.cost_usd == pytest.approx(sum(e.cost_usd for e in ENTRIES)) == pytest.approx(0.0100)
    # saved: 0.001 + 0.002 on the local answers; the design answer cost more than the reference (never negative)
    assert s.saved_usd == pytest.approx(0.0030)
    assert s.cost_if_all_cloud_usd == pytest.approx(0.0010 + 0.0020 + 0.0030 + 0.0040 + 0.0020)
    assert s.unpriced_answers == 1


def test_latency_per_route_is_nearest_rank():
    s = summarise(ENTRIES)
    assert [latency_route(e) for e in ENTRIES] == ["local", "local", "fallback", "local", "cloud", "fallback"]
    local = s.latency["local"]
    assert local.answers == 3 and local.total_s == (1.0, 3.0, 2.0)
    assert local.total_p50_s == 2.0 and local.total_p95_s == 3.0  # ranks ceil(1.5)=2 and ceil(2.85)=3 of 1, 2, 3
    assert local.ttft_p50_s == 0.2 and local.ttft_p95_s == 0.4  # the answer without a first token is left out
    fallback = s.latency["fallback"]
    assert (fallback.total_p50_s, fallback.total_p95_s, fallback.ttft_p50_s) == (9.0, 12.0, 6.0)
    cloud = s.latency["cloud"]
    assert (cloud.answers, cloud.total_p50_s, cloud.total_p95_s) == (1, 4.0, 4.0)


def test_percentile_edges():
    one = summarise([entry(total_s=5.0, ttft_s=None)])
    assert one.latency["local"].total_p50_s == one.latency["local"].total_p95_s == 5.0
    assert one.latency["local"].ttft_p50_s is None
    assert one.latency["cloud"].answers == 0 and one.latency["cloud"].total_p95_s is None
    twenty = summarise([entry(total_s=float(i)) for i in range(1, 21)])
    assert twenty.latency["local"].total_p95_s == 19.0  # rank ceil(0.95 * 20) = 19
    assert twenty.latency["local"].total_p50_s == 10.0
    twentyone = summarise([entry(total_s=float(i)) for i in range(1, 22)])
    assert twentyone.latency["local"].total_p95_s == 20.0  # rank ceil(19.95) = 20: always a measured value


def test_by_kind_puts_the_kinds_that_fall_back_most_first():
    s = summarise(ENTRIES)
    assert [row.kind for row in s.by_kind] == ["code", "explain", "design"]
    code, explain, design = s.by_kind
    assert (code.answers, code.fell_back) == (3, 2)
    assert code.fallback_rate == pytest.approx(2 / 3) and code.local_share == pytest.approx(1 / 3)
    assert code.main_reason == "empty"  # a tie (1 each) goes to the name first in order
    assert explain.fallback_rate == 0.0 and explain.local_share == 1.0 and explain.main_reason is None
    assert design.fallback_rate is None  # never tried on the device: sorts after every kind that was
    more = summarise([*ENTRIES, replace(ENTRIES[2], at=DAY2)])
    assert more.by_kind[0].main_reason == "empty"  # 2 against 1 now


def test_daily_series_and_cumulative_savings():
    s = summarise(ENTRIES)
    assert [row.day.isoformat() for row in s.daily] == ["2025-03-01", "2025-03-02"]
    first, second = s.daily
    assert (first.answers, second.answers) == (3, 3)
    assert first.local_share == pytest.approx(2 / 3) and second.local_share == pytest.approx(1 / 3)
    assert first.saved_usd == pytest.approx(0.0030) and second.saved_usd == 0.0
    assert second.saved_cumulative_usd == pytest.approx(s.saved_usd)
    # days are UTC days: 23:30 at UTC-5 is the next day in UTC
    late = summarise([entry(at=datetime(2025, 3, 1, 23, 30, tzinfo=timezone(timedelta(hours=-5))))])
    assert late.daily[0].day.isoformat() == "2025-03-02"


def test_since_filters_and_is_reported():
    s = summarise(ENTRIES, since=DAY2)
    assert s.answers == 3 and s.since == DAY2
    assert s.first_at == DAY2 and s.last_at == DAY2 + timedelta(hours=2)
    naive = summarise(ENTRIES, since=DAY2.replace(tzinfo=None))  # read as UTC
    assert naive.answers == 3
    assert summarise(ENTRIES, since=DAY2 + timedelta(days=1)).answers == 0


def test_empty_ledger_has_no_invented_numbers():
    s = summarise([])
    assert s.answers == 0 and s.local_share is None and s.cloud_share is None and s.fallback_rate is None
    assert s.cost_usd == 0.0 and s.saved_usd == 0.0 and s.cost_if_all_cloud_usd is None
    assert s.by_kind == () and s.daily == ()
    assert all(stats.total_p50_s is None and stats.answers == 0 for stats in s.latency.values())
    data = json.loads(json.dumps(s.to_dict()))
    assert data["local_share"] is None and data["fallback_rate"] is None


def test_to_dict_is_json_with_the_headline_keys():
    data = json.loads(json.dumps(summarise(ENTRIES).to_dict()))
    assert {"local_share", "fallback_rate", "cost_usd", "saved_usd"} <= set(data)
    assert data["local_share"] == pytest.approx(0.5) and data["fallback_rate"] == pytest.approx(0.4)
    assert data["fallback_reasons"] == {"empty": 1, "late_first_token": 1}
    assert [row["kind"] for row in data["by_kind"]] == ["code", "explain", "design"]
    assert data["daily"][1] == {"date": "2025-03-02", "answers": 3, "local_share": pytest.approx(1 / 3),
                                "saved_usd": 0.0, "saved_cumulative_usd": pytest.approx(0.003)}
    assert data["latency"]["fallback"]["total_p95_s"] == 12.0
    assert data["first_at"] == DAY1.isoformat()


def test_money_and_share_formatting():
    assert format_usd(0.00123) == "$0.0012"
    assert format_usd(12.5) == "$12.50"
    assert format_usd(None) == "—"
    assert format_share(0.4) == "40.0%" and format_share(None) == "—"
