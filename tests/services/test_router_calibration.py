"""Quantile calibration of the router threshold, with rule-forced questions and observed fall-backs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.core.ledger import LedgerEntry
from app.services.routing.calibration import Sample, calibrate, fallback_rate, ledger_samples


def entry(p: float | None, *, route: str = "local", fell_back: bool = False, code: str = "classifier",
          cost_if_cloud: float | None = 0.001) -> LedgerEntry:
    return LedgerEntry(at=datetime.now(UTC), course_id="c", question_kind="explain", route=route,  # type: ignore[arg-type]
                       reason="", reason_code=code, model="local:x", where="on-device", tokens_in=300, tokens_out=120,
                       ttft_s=1.0, total_s=2.0, cost_usd=0.0, cost_if_cloud_usd=cost_if_cloud, fell_back=fell_back,
                       fallback_reason=None, quality="ok", cloud_probability=p)


def test_the_threshold_sits_at_the_quantile_of_the_target():
    samples = [Sample(i / 100) for i in range(100)]
    result = calibrate(samples, target_local_share=0.8)
    assert result.threshold == pytest.approx(0.795)
    assert result.kept_local_share == pytest.approx(0.8) and result.expected_local_share == pytest.approx(0.8)
    assert result.cloud_cost_per_1000_usd is None
    assert calibrate(samples, target_local_share=1.0).kept_local_share == 1.0


def test_rule_forced_questions_and_fall_backs_move_the_threshold_up():
    free = [Sample(i / 100) for i in range(80)]
    forced = [Sample(0.0, forced_cloud=True) for _ in range(20)]
    result = calibrate(free + forced, target_local_share=0.8)
    assert result.kept_local_share == pytest.approx(0.8)  # every free question kept: the rules take the 20 %
    entries = [entry(0.1, fell_back=i < 10) for i in range(100)]  # 10 % of local answers fall back
    with_fallbacks = calibrate([Sample(i / 100) for i in range(100)], target_local_share=0.72, entries=entries)
    assert with_fallbacks.fallback_rate == pytest.approx(0.1) and with_fallbacks.fallback_observed == 100
    assert with_fallbacks.kept_local_share == pytest.approx(0.8)  # 0.72 / (1 - 0.1)
    assert with_fallbacks.expected_local_share == pytest.approx(0.72)
    assert with_fallbacks.cloud_cost_per_1000_usd == pytest.approx(1000 * 0.28 * 0.001)
    assert with_fallbacks.avg_tokens_in == 300


def test_ledger_rows_become_samples():
    entries = [entry(0.3), entry(None), entry(0.9, route="cloud", code="rule:compare"), entry(0.2, fell_back=True)]
    samples = ledger_samples(entries)
    assert [s.probability for s in samples] == [0.3, 0.9, 0.2]
    assert [s.forced_cloud for s in samples] == [False, True, False] and all(s.from_ledger for s in samples)
    assert fallback_rate(entries) == (pytest.approx(1 / 3), 3)  # the cloud-routed row is not a local decision
    with pytest.raises(ValueError):
        calibrate([], target_local_share=0.8)
    with pytest.raises(ValueError):
        calibrate(samples, target_local_share=0.0)
