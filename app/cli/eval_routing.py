"""`lantern eval routing`: local share, needs-cloud precision/recall, fallbacks, cost and speed of the router."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from app.cli import add_profile_arg, open_services
from app.cli.eval_tutor import SPLITS, _split_list
from app.core.errors import LanternError


def add_routing_parser(esub: Any) -> None:
    rt = esub.add_parser(
        "routing", help="how the local/cloud router does on the eval set: local share, fallbacks, cost",
        description="Ask the eval set's questions through the router, the way the app does: the on-device model "
                    "first (with its deadlines and answer check), the cloud model at --cloud-url for what the "
                    "router sends there or what falls back. Prints the local share, precision/recall of the "
                    "needs_cloud labels (for the decision alone and for who answered), the fallback rate and its "
                    "reasons, the latency a fallback adds (p50/p95), the cost per 1,000 queries against "
                    "all-cloud at the price of --price-as, the cloud streaming path's tokens/s against the raw "
                    "openai SDK on the same server, and the router's decision time; each against its target.",
        epilog="Example with a local OpenAI-compatible server: python -m llama_cpp.server --model M.gguf --port 8081 "
               "& lantern eval routing --cloud-url http://127.0.0.1:8081/v1 --cloud-model M")
    rt.add_argument("--split", choices=sorted(SPLITS), default="held-out", help="eval split (held-out)")
    rt.add_argument("--types", metavar="T1,T2", help="only these query types")
    rt.add_argument("--limit", type=int, metavar="N", help="at most N queries (mixed across types)")
    rt.add_argument("--queries", type=Path, metavar="FILE", help="another eval set (.jsonl)")
    rt.add_argument("--model", metavar="ID", help="the on-device model (default: the chat model setting, else the "
                                                 "most recently installed)")
    rt.add_argument("--cloud-url", required=True, metavar="URL", help="base URL of the OpenAI-compatible cloud model")
    rt.add_argument("--cloud-model", required=True, metavar="NAME", help="model name at that URL")
    rt.add_argument("--cloud-key-env", metavar="VAR", help="environment variable holding its API key (never typed "
                                                          "on the command line)")
    rt.add_argument("--price-as", default="cloud:openai/gpt-4o-mini", metavar="REF",
                    help="count the cloud tokens at this price-table model's price (cloud:openai/gpt-4o-mini)")
    rt.add_argument("--max-tokens", type=int, default=512, metavar="N", help="longest answer, in tokens (512)")
    rt.add_argument("--no-speed", action="store_true", help="skip the streaming speed comparison")
    rt.add_argument("--json", metavar="FILE", nargs="?", const="-", help="write the report as JSON (to stdout "
                                                                           "without FILE)")
    add_profile_arg(rt)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def _num(value: float | None, unit: str = "", digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}{unit}"


def routing_text(report: dict[str, Any]) -> str:
    s = report["summary"]
    t = s["targets"]

    def mark(key: str) -> str:
        met = t[key]["met"]
        return "" if met is None else (" ✓" if met else f" ✗ (target {t[key]['target']:g})")

    speed = s["stream_speed"] or {}
    lines = [
        f"Routing on {s['queries']} {report['split'] or 'all'} queries · on-device {report['local_model']} · "
        f"cloud {report['cloud']['model']} at {report['cloud']['base_url']} (priced as {report['cloud']['price_as']})",
        f"  local share                 {_pct(s['local_share'])}{mark('local_share')}",
        f"  needs_cloud answered by cloud {_pct(s['needs_cloud_answered_by_cloud'])} of {s['needs_cloud']}"
        f"{mark('needs_cloud_answered_by_cloud')}; precision {_pct(s['answered_by_cloud_precision'])}",
        f"  decision alone              recall {_pct(s['decision_recall'])}, precision {_pct(s['decision_precision'])}"
        f" ({s['routed_to_cloud']} routed)",
        f"  fallback rate               {_pct(s['fallback_rate'])} ({s['fallbacks']}: "
        + ", ".join(f"{k} {v}" for k, v in s["fallback_reasons"].items()) + f"); failovers {s['failovers']}",
        f"  fallback added latency      p50 {_num(s['fallback_added_latency_p50_s'], ' s')}, "
        f"p95 {_num(s['fallback_added_latency_p95_s'], ' s')}",
        f"  cost per 1,000 queries      ${_num(s['cost_per_1000_usd'], digits=4)} vs all-cloud "
        f"${_num(s['all_cloud_cost_per_1000_usd'], digits=4)}",
        f"  decision time               p50 {_num(s['decision_p50_ms'], ' ms', 3)}{mark('decision_p50_ms')}, "
        f"p95 {_num(s['decision_p95_ms'], ' ms', 3)}",
        f"  cloud stream vs raw SDK     {_num(speed.get('engine_tps'), ' tok/s', 1)} vs "
        f"{_num(speed.get('sdk_tps'), ' tok/s', 1)} = {_num(speed.get('ratio'), '×', 3)}{mark('stream_speed_ratio')}",
    ]
    return "\n".join(lines)


def cmd_eval_routing(args: argparse.Namespace) -> int:
    from app.services.evaluation.eval_set import load_eval_set
    from app.services.evaluation.report import write_text
    from app.services.evaluation.routing_eval import CloudUnderTest, RoutingEval, routing_report
    from app.services.evaluation.tutor_eval import select_queries

    if args.limit is not None and args.limit < 1:
        raise LanternError("--limit must be at least 1.")
    key = None
    if args.cloud_key_env:
        key = os.environ.get(args.cloud_key_env, "").strip() or None
        if key is None:
            raise LanternError(f"{args.cloud_key_env} is not set.", hint="Export the key in that variable first.")
    queries = select_queries(load_eval_set(args.queries), split=SPLITS[args.split], types=_split_list(args.types),
                             limit=args.limit)
    cloud = CloudUnderTest(base_url=args.cloud_url, model=args.cloud_model, api_key=key, price_as=args.price_as)

    def progress(done: int, total: int, record: Any) -> None:
        where = "cloud" if record.route == "cloud" else "device"
        extra = f" (fell back: {record.fallback_reason})" if record.fell_back else ""
        print(f"\r[{done}/{total}] {record.query_id}: {where}{extra}".ljust(78), end="", file=sys.stderr, flush=True)

    with open_services(args) as services:
        evaluation = RoutingEval(services, cloud, answer_tokens=args.max_tokens, progress=progress)
        run = evaluation.run(queries, split=SPLITS[args.split], local_model=args.model,
                             measure_speed=not args.no_speed)
    print(file=sys.stderr)
    report = routing_report(run)
    if args.json == "-":
        print(json.dumps(report, indent=1, ensure_ascii=False))
    else:
        if args.json:
            write_text(Path(args.json), json.dumps(report, indent=1, ensure_ascii=False))
            print(f"Wrote {args.json}", file=sys.stderr)
        print(routing_text(report))
    return 130 if run.interrupted else 0


HANDLERS = {"eval routing": cmd_eval_routing}
