"""The savings ledger's record: one row per tutor answer (issue 17).

Every answer the tutor gives — on-device, routed to the cloud, or fallen back — is one `LedgerEntry`
in the app database (app.services.storage.ledger). `lantern stats`, the dashboard and
`lantern router calibrate` read them. Pure data: no I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Route = Literal["local", "cloud"]
EntrySource = Literal["app", "eval"]


@dataclass(frozen=True)
class LedgerEntry:
    at: datetime                    # timezone-aware UTC, when the answer finished
    course_id: str
    question_kind: str              # app.core.routing.question_kind: explain, code, compare, design, hint, ...
    route: Route                    # who gave the answer the learner kept
    reason: str                     # plain language, as the badge shows it
    reason_code: str                # stable key: "rule:compare", "classifier", "role:default",
                                    # "fallback:empty", "failover:unreachable", ...
    model: str                      # "local:<installed id>" or "cloud:<provider>/<model>"
    where: Literal["on-device", "cloud"]
    tokens_in: int
    tokens_out: int
    ttft_s: float | None            # time to first token of the answer kept, from the question
    total_s: float                  # from the question to the last token (a failed local attempt included)
    cost_usd: float                 # what this answer cost (cloud tokens at the price table; local 0 or energy)
    cost_if_cloud_usd: float | None  # the same tokens on the reference cloud model (None: no price known)
    fell_back: bool                 # a local answer was tried, rejected, and replaced by the cloud's
    fallback_reason: str | None     # why ("empty", "marker_only", "late_first_token", ...)
    quality: str | None             # the kept answer's check verdict code ("ok", "empty", ...), None if unchecked
    cloud_probability: float | None  # the router classifier's P(needs cloud), None if not computed
    local_attempt_s: float | None = None  # time spent on the rejected local attempt
    source: EntrySource = "app"     # "eval" rows come from `lantern eval routing` into its own database
    id: int | None = None           # set once stored

    @property
    def saved_usd(self) -> float:
        """What answering this way saved against the reference cloud model (never negative)."""
        if self.cost_if_cloud_usd is None:
            return 0.0
        return max(0.0, self.cost_if_cloud_usd - self.cost_usd)
