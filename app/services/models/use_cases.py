"""Model use cases, written once for the CLI and the GUI (both call them through AppServices)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from app.core.recommend import Recommendation, recommend
from app.core.settings import Intent
from app.services.models.acquire import PullPlan
from app.services.storage.models_registry import measured_speeds

if TYPE_CHECKING:
    from app.services.app_services import AppServices


def recommend_for_machine(services: AppServices, *, intent: Intent | None = None,
                          context_length: int | None = None) -> Recommendation:
    """Rank every catalog model × quantisation for this machine's profile, with the speeds `lantern
    bench` measured here, and pick one (intent and context default to the settings)."""
    settings = services.settings
    return recommend(services.profile(), services.catalog, table=services.performance_table,
                     intent=intent or settings.intent, context_length=context_length or settings.context_length,
                     measured_tps=measured_speeds(services.paths.database_file))


def plan_pull(services: AppServices, spec_text: str, *, quant: str | None = None, revision: str | None = None,
              force: bool = False) -> PullPlan:
    """From what the learner named to a plan: parse the spec → refuse in offline mode (before any socket)
    → this machine's profile → resolve files, read a GGUF's header, judge the fit → already installed?
    → refuse what will not run here, unless `force`. Then `start_pull` and `finish_pull`."""
    from app.core.model_spec import parse_model_spec

    acquirer = services.acquirer
    spec = parse_model_spec(spec_text, catalog_ids={m.id for m in services.catalog.models}, revision=revision)
    if quant and not spec.quant:
        spec = replace(spec, quant=quant)
    services.gate.refuse_if_offline(spec_text)
    plan: PullPlan = acquirer.plan(spec, profile=services.profile())
    if plan.already is None and not force:
        acquirer.refuse_if_unfit(plan)
    return plan
