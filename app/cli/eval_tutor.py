"""`lantern eval tutor`: the tutoring eval set against the installed chat models, with JSON and HTML
reports."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from app.cli import add_profile_arg, open_services
from app.core.errors import LanternError

SPLITS = {"tuning": "tuning", "held-out": "held_out", "held_out": "held_out", "all": None}


def add_tutor_parser(esub: Any) -> None:
    """`tutor` under the `eval` group (registered by app/cli/courses.py next to `eval retrieval`)."""
    from app.core.evaluation.eval_set import QUERY_TYPES
    from app.core.tutor import DEFAULT_RECIPE, RECIPES

    tut = esub.add_parser(
        "tutor", help="answer quality, latency and cost of each chat model on the tutoring eval set",
        description="Ask every query of the tutoring eval set (resources/eval/tutor_queries.jsonl) through the "
                    "tutor, exactly as the app does (same retrieval, prompt and streaming), with each chosen chat "
                    "model; score the answers (real-answer rate, key-point recall, citation precision, "
                    "groundedness, verbatim copying, refusals, language match, Socratic hints, latency, memory, "
                    "cost) per model, per query type and per split. Answers are cached per (model file, prompt "
                    "version, query): a rerun computes only what changed, and Ctrl-C keeps finished answers. "
                    "See docs/evaluation.md.")
    tut.add_argument("--models", metavar="ID[,ID…]", help="chat models to evaluate (default: every installed one)")
    tut.add_argument("--split", choices=("tuning", "held-out", "all"), default="all",
                     help="which split to run (default: all; tune on tuning, quote held-out)")
    tut.add_argument("--types", metavar="TYPE[,TYPE…]",
                     help=f"only these query types ({', '.join(QUERY_TYPES)})")
    tut.add_argument("--limit", type=int, metavar="N", help="at most N queries (a stable mix of types)")
    tut.add_argument("--queries", metavar="FILE", type=Path, help="another eval set file (same JSONL schema)")
    tut.add_argument("--max-tokens", type=int, default=512, metavar="N", help="longest answer, in tokens (512)")
    tut.add_argument("--json", nargs="?", const="-", metavar="FILE",
                     help="write the JSON report to FILE (or to stdout without FILE)")
    tut.add_argument("--html", type=Path, metavar="FILE", help="write a self-contained HTML report to FILE")
    tut.add_argument("--compare", type=Path, metavar="OLD.json",
                     help="compare with an earlier JSON report and flag regressions")
    tut.add_argument("--judge", metavar="ID", help="also score each answer with this model as an LLM judge "
                                                   "(3 sampled runs, reported apart from the deterministic metrics)")
    tut.add_argument("--prompt", metavar="VERSION", help=f"prompt and decoding recipe to run: {', '.join(RECIPES)} "
                                                         f"(default: {DEFAULT_RECIPE.version}, what the app uses)")
    tut.add_argument("--no-cache", action="store_true", help="ask the models again even for cached answers")
    add_profile_arg(tut)


def _split_list(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


class _EvalBar:
    def __init__(self, *, quiet: bool) -> None:
        from app.cli.progress import ProgressBar

        self.bar = None if quiet else ProgressBar("Eval", amount=lambda n: f"{n}")

    def __call__(self, p: Any) -> None:
        if self.bar is None:
            return
        from app.core.downloads import human_duration

        eta = f"ETA {human_duration(p.eta_s)}" if p.eta_s is not None else "ETA …"
        self.bar.update(p.done, p.total, f"answers ({p.cached} cached)  {eta}  {p.model_id}: {p.query_id}",
                        force=p.done == p.total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def cmd_eval_tutor(args: argparse.Namespace) -> int:
    from app.core.evaluation.eval_set import QUERY_TYPES
    from app.core.tutor import DEFAULT_RECIPE, RECIPES
    from app.services.evaluation.eval_set import load_eval_set
    from app.services.evaluation.report import build_report, read_report, render_html, text_summary, write_text
    from app.services.evaluation.tutor_eval import TutorEval, chat_models, select_queries

    types = _split_list(args.types)
    unknown = [t for t in types if t not in QUERY_TYPES]
    if unknown:
        raise LanternError(f"Unknown query type(s): {', '.join(unknown)}.", hint=f"Use {', '.join(QUERY_TYPES)}.")
    if args.limit is not None and args.limit < 1:
        raise LanternError("--limit must be at least 1.")
    if args.max_tokens < 16:
        raise LanternError("--max-tokens must be at least 16.", hint="The default is 512.")
    if args.prompt and args.prompt not in RECIPES:
        raise LanternError(f"Unknown prompt version '{args.prompt}'.", hint=f"Use one of {', '.join(RECIPES)}.")
    recipe = RECIPES[args.prompt] if args.prompt else DEFAULT_RECIPE
    baseline = read_report(args.compare) if args.compare else None  # fail before hours of work, not after
    queries = select_queries(load_eval_set(args.queries), split=SPLITS[args.split], types=types, limit=args.limit)
    to_stdout = args.json == "-"
    with open_services(args) as services:
        models = chat_models(services, _split_list(args.models))
        judge = services.chat_model(args.judge) if args.judge else None
        bar = _EvalBar(quiet=False)
        evaluation = TutorEval(services, answer_tokens=args.max_tokens, use_cache=not args.no_cache, recipe=recipe,
                               progress=bar)
        print(f"Evaluating {len(models)} model(s) on {len(queries)} queries with prompt {recipe.version}: "
              f"{', '.join(m.id for m in models)}", file=sys.stderr)
        try:
            run = evaluation.run(queries, models, judge=judge)
        finally:
            bar.close()
            evaluation.close()
    report = build_report(run, baseline=baseline)
    if args.json and not to_stdout:
        write_text(Path(args.json), json.dumps(report, indent=1, ensure_ascii=False))
    if args.html:
        write_text(args.html, render_html(report))
    if to_stdout:
        print(json.dumps(report, indent=1, ensure_ascii=False))
    else:
        print(text_summary(report))
    for path in (args.json if args.json and not to_stdout else None, args.html):
        if path:
            print(f"Wrote {path}", file=sys.stderr)
    if run.interrupted:
        print("Stopped: the report covers the finished answers; run the same command again to continue "
              "(finished answers come from the cache).", file=sys.stderr)
        return 130
    return 0


HANDLERS = {"eval tutor": cmd_eval_tutor}
