"""From a routing decision and the role map to a plan: which model answers first, and which one
takes over if it fails (pure; app.services.inference.router carries it out).

- A question the router sends to the cloud goes to its role's model when that is a cloud model,
  else to the FALLBACK model; if no cloud model can be used now (offline, consent "never", no key,
  cooling down, over budget) it stays on-device and the reason says why.
- Any other question goes to its role's model. An on-device first answer has the FALLBACK cloud
  model behind it (used only if the local answer fails its check or is late); a cloud first answer
  has the on-device model behind it (used if the cloud fails).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from app.core.i18n import _
from app.core.model_roles import ModelRef, ResolvedRoles, Role

LOCAL = ModelRef("local", "auto")

# Why a cloud model cannot be used now: stable codes (the ledger and tests use them), in words by blocked_reason().


def blocked_reason(code: str) -> str:
    words = {
        "offline": _("offline mode is on"),
        "consent_never": _("you chose never to send questions to a cloud model"),
        "no_key": _("no API key is stored for that provider"),
        "unknown_provider": _("that cloud provider is not set up"),
        "cooling_down": _("the cloud model failed a moment ago"),
        "over_budget": _("this month's cloud budget is used up"),
        "no_cloud_model": _("no cloud model is configured"),
        "tier_local": _("your tier answers on-device only"),
    }
    return words.get(code, code)


class Decision(Protocol):
    """What the plan needs of app.core.routing.RouteDecision."""

    needs_cloud: bool
    role: str
    reason: str
    reason_code: str


@dataclass(frozen=True)
class RoutePlan:
    first: ModelRef
    backup: ModelRef | None       # takes over when `first` fails (None: nothing behind it)
    reason: str                   # for the badge: why `first` answers
    reason_code: str
    wanted_cloud_but: str | None = None  # the blocked-reason code when the router wanted the cloud but could not


def plan_route(decision: Decision, roles: ResolvedRoles, *, blocked: Callable[[ModelRef], str | None],
               local_available: bool = True) -> RoutePlan:
    """`blocked(ref)` is None when that cloud model can be used now, else a BLOCKED code."""
    role_ref = roles.get(decision.role) or roles.get("default")  # type: ignore[arg-type]
    fallback = roles.get("fallback")
    cloud_fallback = fallback if fallback is not None and fallback.is_cloud else None
    local = role_ref if role_ref is not None and not role_ref.is_cloud else LOCAL

    def usable(ref: ModelRef | None) -> tuple[ModelRef | None, str | None]:
        if ref is None:
            return None, "no_cloud_model"
        why = blocked(ref)
        return (ref, None) if why is None else (None, why)

    if decision.needs_cloud:
        target = role_ref if role_ref is not None and role_ref.is_cloud else cloud_fallback
        ref, why = usable(target)
        if ref is not None:
            return RoutePlan(ref, local if local_available else None, decision.reason, decision.reason_code)
        if not local_available:
            return RoutePlan(target or LOCAL, None, decision.reason, decision.reason_code, wanted_cloud_but=why)
        return RoutePlan(local, None, _("on-device: this question would go to the cloud ({reason}), but "
                                        "{blocked}").format(reason=decision.reason, blocked=blocked_reason(why or "")),
                         f"kept_local:{why}", wanted_cloud_but=why)

    if role_ref is not None and role_ref.is_cloud:
        ref, why = usable(role_ref)
        if ref is not None:
            return RoutePlan(ref, local if local_available else None,
                             _("your tier answers {role} questions with {model}").format(
                                 role=_role_words(decision.role), model=ref.name), f"role:{decision.role}")
        return RoutePlan(local, None, _("on-device: {blocked}").format(blocked=blocked_reason(why or "")),
                         f"kept_local:{why}", wanted_cloud_but=why)

    backup, _why = usable(cloud_fallback)
    if not local_available and backup is not None:
        return RoutePlan(backup, None, _("no on-device model is loaded"), "no_local_model")
    return RoutePlan(local, backup, decision.reason, decision.reason_code)


def _role_words(role: str | Role) -> str:
    return {"default": _("most"), "simple": _("simple"), "code": _("code"), "fallback": _("hard")}.get(role, role)
