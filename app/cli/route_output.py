"""How `lantern ask` shows the router's work: who is answering and why (on stderr, so stdout stays the
answer), the consent prompt of "ask me each time", and the route in the JSON output."""

from __future__ import annotations

import sys
from dataclasses import asdict
from typing import Any


def show_route_event(event: Any, *, quiet: bool) -> None:
    from app.services.inference.router import AttemptAbandoned, ConsentNeeded, Routed

    if isinstance(event, ConsentNeeded):
        event.reply(_ask_consent(event, quiet=quiet))
    elif isinstance(event, Routed) and not quiet:
        print(f"[{event.where}: {event.model} — {event.reason}]", file=sys.stderr, flush=True)
    elif isinstance(event, AttemptAbandoned) and not quiet:
        print(f"\n[set aside: {event.attempt.reason}]\n", file=sys.stderr, flush=True)


def _ask_consent(event: Any, *, quiet: bool) -> bool:
    """Consent "ask": a yes/no on the terminal; with no terminal the answer is no (never a silent send)."""
    if not sys.stdin.isatty():
        if not quiet:
            print(f"[not sent to {event.model}: cloud_consent is 'ask' and there is no terminal to ask on]",
                  file=sys.stderr)
        return False
    chars = sum(len(m.content) for m in event.messages)
    print(f"\nSend this question to the cloud model {event.model} ({event.reason})?\n"
          f"It would send the question, the course passages and this conversation ({chars:,} characters; "
          f"nothing else). [y/N] ", end="", file=sys.stderr, flush=True)
    try:
        reply = input()
    except EOFError:
        reply = ""
    return reply.strip().lower() in ("y", "yes", "có", "co")


def route_json(route: Any) -> dict[str, Any] | None:
    if route is None:
        return None
    data = asdict(route)
    data["sent_to_cloud"] = None if route.sent_to_cloud is None else [
        {"role": m.role, "content": m.content} for m in route.sent_to_cloud]
    return data


def print_route(answer: Any, *, show_sent: bool) -> None:
    route = answer.route
    if route is None:
        return
    cost = f"${route.cost_usd:.5f}" if route.cost_usd else "$0"
    saved = "" if route.cost_if_cloud_usd is None else \
        f", ${max(0.0, route.cost_if_cloud_usd - route.cost_usd):.5f} saved"
    print(f"Answered {route.where} by {route.model}: {route.reason} ({cost}{saved})", file=sys.stderr)
    for attempt in route.attempts:
        print(f"  set aside: {attempt.model} — {attempt.reason}", file=sys.stderr)
    if show_sent:
        if route.sent_to_cloud is None:
            print("Nothing was sent to a cloud model.", file=sys.stderr)
        else:
            print(f"Sent to {route.cloud_model}:", file=sys.stderr)
            for message in route.sent_to_cloud:
                print(f"--- {message.role} ---\n{message.content}", file=sys.stderr)
