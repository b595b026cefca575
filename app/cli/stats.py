"""`lantern stats [--since DATE] [--json]`: what the savings ledger adds up to.

The same `LedgerSummary` (app.core.ledger_stats) as the GUI's savings dashboard: the share answered on
this device, how often an on-device answer fell back to the cloud and why, money spent and saved, the
latency of each route, and which kinds of question fall back. Only the learner's own answers count
(`source="app"`), never an evaluation's.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import Any

from app.cli import open_services
from app.core.i18n import _
from app.core.ledger_stats import LATENCY_ROUTES, LedgerSummary, format_share, format_usd, summarise

TOP_REASONS = 3


def parse_since(text: str) -> datetime:
    """YYYY-MM-DD (midnight UTC) or an ISO datetime (read as UTC without an offset); argparse turns the
    error into exit status 2 with the message."""
    value = text.strip()
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(0), tzinfo=UTC)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            _("'{value}' is not a date: use YYYY-MM-DD (such as 2025-03-01) or an ISO date and time "
              "(such as 2025-03-01T14:30).").format(value=text)) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def register(sub: Any, *, models_sub: Any) -> None:
    stats = sub.add_parser(
        "stats", help="how many answers stayed on this device, fall-backs, money spent and saved",
        description="Summarise the savings ledger: the share of answers given on this device, how often an "
                    "on-device answer fell back to the cloud and why, money spent on the cloud and saved against "
                    "the reference cloud model, latency per route, and which kinds of question fall back.")
    stats.add_argument("--since", type=parse_since, metavar="DATE",
                       help="only answers from DATE on (YYYY-MM-DD, midnight UTC, or an ISO date and time)")
    stats.add_argument("--json", action="store_true", help="print the summary as JSON")


def _route_label(route: str) -> str:
    return {"local": _("on-device"), "cloud": _("cloud"), "fallback": _("fell back")}.get(route, route)


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} s"


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in
                             enumerate(zip(row, widths, strict=True))).rstrip() for row in rows]


def summary_text(summary: LedgerSummary) -> list[str]:
    """The summary in words and small tables, as `lantern stats` prints it."""
    if summary.answers == 0:
        if summary.since is not None:
            return [_("No answers recorded since {since}.").format(since=summary.since.isoformat())]
        return [_("No answers recorded yet: ask the tutor a question in the app or with `lantern ask`, "
                  "then run this again.")]
    lines = [_("Answers: {n}").format(n=summary.answers) + (
        "  " + _("(since {since})").format(since=summary.since.isoformat()) if summary.since else "")]
    lines.append(_("Answered on this device: {share} ({local} of {n})").format(
        share=format_share(summary.local_share), local=summary.local_answers, n=summary.answers))
    if summary.fallback_rate is None:
        lines.append(_("Fell back to the cloud: — (no answer was tried on this device)"))
    else:
        lines.append(_("Fell back to the cloud: {rate} of {tried} on-device attempts").format(
            rate=format_share(summary.fallback_rate), tried=summary.local_attempts))
    reasons = sorted(summary.fallback_reasons.items(), key=lambda item: (-item[1], item[0]))[:TOP_REASONS]
    if reasons:
        lines.append("  " + _("Top reasons: {reasons}").format(
            reasons=", ".join(f"{reason} ({count})" for reason, count in reasons)))
    lines.append(_("Spent on the cloud: {spent}   Saved: {saved}").format(
        spent=format_usd(summary.cost_usd), saved=format_usd(summary.saved_usd)))
    all_cloud = format_usd(summary.cost_if_all_cloud_usd)
    if summary.unpriced_answers:
        lines.append("  " + _("All on the reference cloud model: {cost} ({n} answers without a known price are "
                              "not counted)").format(cost=all_cloud, n=summary.unpriced_answers))
    else:
        lines.append("  " + _("All on the reference cloud model: {cost}").format(cost=all_cloud))
    lines += ["", _("Latency (from the question):")]
    rows = [[_("route"), _("answers"), _("total p50"), _("total p95"), _("first token p50"), _("first token p95")]]
    for route in LATENCY_ROUTES:
        stats = summary.latency[route]
        if stats.answers:
            rows.append([_route_label(route), str(stats.answers), _seconds(stats.total_p50_s),
                         _seconds(stats.total_p95_s), _seconds(stats.ttft_p50_s), _seconds(stats.ttft_p95_s)])
    lines += _table(rows)
    lines += ["", _("Which questions fall back:")]
    rows = [[_("kind"), _("answers"), _("on-device"), _("fell back"), _("fallback rate"), _("main reason")]]
    for row in summary.by_kind:
        rows.append([row.kind, str(row.answers), format_share(row.local_share), str(row.fell_back),
                     format_share(row.fallback_rate), row.main_reason or "—"])
    lines += _table(rows)
    return lines


def cmd_stats(args: argparse.Namespace) -> int:
    with open_services(args) as services:
        entries = services.ledger.entries(since=args.since)
    summary = summarise(entries, since=args.since)
    if args.json:
        print(json.dumps(summary.to_dict(), indent=2, ensure_ascii=False))
    else:
        print("\n".join(summary_text(summary)))
    return 0


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {"stats": cmd_stats}
