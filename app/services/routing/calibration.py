"""RouteLLM-style threshold calibration: pick the classifier threshold at the quantile of observed
cloud probabilities that keeps the wanted share of questions on the device.

The sample is the ledger's answers (their `cloud_probability`) plus the eval set's tuning questions
(recomputed), so it works before the learner has asked anything. Questions a strong rule sends to the
cloud go there whatever the threshold, and some questions kept local still end on the cloud when the
local answer fails its check (the ledger's `fell_back`); both are accounted for, so the *expected*
local share is what the learner will see, not just the share below the threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.core.ledger import LedgerEntry

MIN_THRESHOLD = 1e-6  # router_threshold must lie strictly between 0 and 1
MAX_THRESHOLD = 1 - 1e-6


@dataclass(frozen=True)
class Sample:
    """One question for calibration: its probability and whether a rule already decides it."""

    probability: float
    forced_cloud: bool = False  # a strong rule sends it to the cloud whatever the threshold
    from_ledger: bool = False


@dataclass(frozen=True)
class Calibration:
    threshold: float
    target_local_share: float
    questions: int
    from_ledger: int
    kept_local_share: float        # decided local at this threshold
    fallback_rate: float           # of the answers kept local in the ledger, the share that fell back (0: none seen)
    fallback_observed: int         # how many ledger answers that rate is measured on
    expected_local_share: float    # kept local and not fallen back
    avg_tokens_in: float | None
    avg_tokens_out: float | None
    avg_cost_if_cloud_usd: float | None  # per answer on the reference cloud model (None: no priced answers yet)

    @property
    def cloud_cost_per_1000_usd(self) -> float | None:
        """What 1,000 questions cost on the cloud at this threshold (the local ones cost nothing)."""
        if self.avg_cost_if_cloud_usd is None:
            return None
        return 1000 * (1 - self.expected_local_share) * self.avg_cost_if_cloud_usd

    def to_dict(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "target_local_share": self.target_local_share,
                "questions": self.questions, "from_ledger": self.from_ledger,
                "kept_local_share": self.kept_local_share, "fallback_rate": self.fallback_rate,
                "fallback_observed": self.fallback_observed, "expected_local_share": self.expected_local_share,
                "avg_tokens_in": self.avg_tokens_in, "avg_tokens_out": self.avg_tokens_out,
                "avg_cost_if_cloud_usd": self.avg_cost_if_cloud_usd,
                "cloud_cost_per_1000_usd": self.cloud_cost_per_1000_usd}


def ledger_samples(entries: Sequence[LedgerEntry]) -> list[Sample]:
    return [Sample(e.cloud_probability, forced_cloud=e.reason_code.startswith("rule:"), from_ledger=True)
            for e in entries if e.cloud_probability is not None]


def fallback_rate(entries: Sequence[LedgerEntry]) -> tuple[float, int]:
    """(share of the answers decided local that fell back to the cloud, how many were decided local)."""
    local = [e for e in entries if e.fell_back or e.route == "local"]
    return (sum(e.fell_back for e in local) / len(local) if local else 0.0), len(local)


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def calibrate(samples: Sequence[Sample], *, target_local_share: float,
              entries: Sequence[LedgerEntry] = ()) -> Calibration:
    """The threshold whose expected local share (after fall-backs) is closest to the target."""
    if not 0.0 < target_local_share <= 1.0:
        raise ValueError("the target local share must be in (0, 1]")
    if not samples:
        raise ValueError("no questions to calibrate on")
    fallback, observed = fallback_rate(entries)
    wanted_kept = min(1.0, target_local_share / (1 - fallback)) if fallback < 1 else 1.0
    free = sorted(s.probability for s in samples if not s.forced_cloud)
    keep = min(len(free), max(0, round(wanted_kept * len(samples))))
    if keep == 0:
        threshold = free[0] if free else MIN_THRESHOLD
    elif keep >= len(free):
        threshold = MAX_THRESHOLD
    else:
        threshold = (free[keep - 1] + free[keep]) / 2
    threshold = min(MAX_THRESHOLD, max(MIN_THRESHOLD, threshold))
    kept = sum(p < threshold for p in free) / len(samples)
    priced = [e.cost_if_cloud_usd for e in entries if e.cost_if_cloud_usd is not None]
    return Calibration(
        threshold=threshold, target_local_share=target_local_share, questions=len(samples),
        from_ledger=sum(s.from_ledger for s in samples), kept_local_share=kept, fallback_rate=fallback,
        fallback_observed=observed, expected_local_share=kept * (1 - fallback),
        avg_tokens_in=_mean([float(e.tokens_in) for e in entries]),
        avg_tokens_out=_mean([float(e.tokens_out) for e in entries]), avg_cost_if_cloud_usd=_mean(priced))
