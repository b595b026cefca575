"""`lantern models roles`: which model answers in each role (the tier plus the `roles` overrides), where it
runs, its price, and whether it can be used now (offline mode, consent, key, cooldown, budget)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from app.cli import open_services
from app.core.model_roles import ROLES


def register(sub: Any, *, models_sub: Any) -> None:
    roles = models_sub.add_parser(
        "roles", help="which model answers in each role (default, simple, code, fallback) and why",
        description="Print the role map: the models of your tier (setting `tier`: free, pro or local, from "
                    "resources/cloud/tiers.toml) with the `roles` setting's overrides, written local:<id or auto> or "
                    "cloud:<provider>/<model>; where each runs, its price per million tokens (with the date of the "
                    "price), and whether a cloud model can be used now. Change a model with the settings file "
                    "(roles = { fallback = \"cloud:openai/gpt-4.1-mini\" }) or Settings › Answers.")
    roles.add_argument("--json", action="store_true", help="print the resolved map as JSON")


def role_rows(services: Any) -> dict[str, Any]:
    """The resolved map with, per role, the price and whether it is usable now (shared with the Settings dialog)."""
    from app.core.route_plan import blocked_reason

    setup = services.cloud_setup()
    data = setup.roles.to_dict()
    data["cloud_consent"] = services.settings.cloud_consent
    data["offline"] = services.gate.offline
    for role in ROLES:
        entry = data["roles"][role]
        ref = setup.roles.get(role)
        entry["price"] = None
        entry["usable"] = ref is not None
        entry["blocked"] = None
        if ref is not None and ref.is_cloud:
            price = setup.prices.get(ref)
            if price is not None:
                entry["price"] = {"input_per_mtok": price.input_per_mtok, "output_per_mtok": price.output_per_mtok,
                                  "context_window": price.context_window, "source": price.source,
                                  "as_of": price.as_of}
            why = setup.blocked(ref)
            entry["usable"] = why is None
            entry["blocked"] = None if why is None else {"code": why, "reason": blocked_reason(why)}
    return data


def cmd_roles(args: argparse.Namespace) -> int:
    with open_services(args) as services:
        data = role_rows(services)
    if args.json:
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return 0
    print(f"Tier: {data['tier']} — {data['tier_title']}")
    print(f"Cloud: consent '{data['cloud_consent']}'" + (" · offline mode is on" if data["offline"] else ""))
    for role in ROLES:
        entry = data["roles"][role]
        model = entry["model"] or "(none)"
        line = f"  {role:<9}{model:<38}{entry['where'] or '':<7}({entry['from']})"
        price = entry["price"]
        if price is not None:
            line += f"  ${price['input_per_mtok']:g} in / ${price['output_per_mtok']:g} out per 1M tokens " \
                    f"(as of {price['as_of']})"
        elif entry["where"] == "cloud":
            line += "  price unknown: its cost is not counted"
        if entry["blocked"] is not None:
            line += f"  — not usable now: {entry['blocked']['reason']}"
        print(line)
    if data["reference"]:
        print(f"Savings are counted against {data['reference']}.")
    return 0


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {"models roles": cmd_roles}
