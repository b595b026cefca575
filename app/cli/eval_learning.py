"""`lantern eval learning`: quiz and hint quality per chat model (docs/evaluation.md, "Learning loop")."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from app.cli import add_profile_arg, open_services
from app.core.errors import LanternError


def add_learning_parser(esub: Any) -> None:
    ev = esub.add_parser(
        "learning", help="quiz and hint quality of each chat model: valid questions, correct questions, hint leaks",
        description="For each chosen chat model: write and check a question of every kind for every section of the "
                    "course(s), exactly as `lantern quiz` does (same prompts, checks and cache), and report the share "
                    "that passes the checks, what dropped the rest, the time per question and — with --labels — the "
                    "share of shown questions a person labelled correct; then run the hint ladder on the eval set's "
                    "hint queries and report how often a hint before level 4 leaks the solution (by the eval's "
                    "quality check and by the ladder's own leak check), per split.")
    ev.add_argument("--models", metavar="ID[,ID…]", help="chat models to evaluate (default: the 'chat_model' setting)")
    ev.add_argument("--courses", default="python-from-zero", metavar="ID[,ID…]",
                    help="courses whose sections are quizzed (default: python-from-zero)")
    ev.add_argument("--labels", type=Path, metavar="FILE",
                    help="JSONL of {question_id, correct, why} labels for shown questions "
                         "(the project's sample: tests/fixtures/quiz_labels.jsonl)")
    ev.add_argument("--skip", choices=("quiz", "hints"), help="leave one part out")
    ev.add_argument("--split", choices=("tuning", "held-out", "all"), default="all",
                    help="hint queries of this split (default: all; reports show both)")
    ev.add_argument("--no-cache", action="store_true", help="write the questions again even if cached")
    ev.add_argument("--json", nargs="?", const="-", metavar="FILE", help="write the JSON report to FILE (or stdout)")
    add_profile_arg(ev)


def _quiz_progress(bar: Any) -> Any:
    return lambda p: bar.update(p.done, p.total, p.section)


def hbar_update(bar: Any) -> Any:
    return lambda done, total, query_id: bar.update(done, total, query_id)


def cmd_eval_learning(args: argparse.Namespace) -> int:
    from app.cli.progress import ProgressBar
    from app.services.evaluation.eval_set import load_eval_set
    from app.services.evaluation.hint_eval import run_hint_eval
    from app.services.evaluation.hint_eval import text_lines as hint_lines
    from app.services.evaluation.quiz_eval import quiz_text_lines, read_labels, run_quiz_eval
    from app.services.evaluation.report import write_text

    labels = None
    if args.labels:
        try:
            labels = read_labels(args.labels)
        except (OSError, ValueError) as exc:
            raise LanternError(f"Cannot read the labels file: {exc}", hint="One JSON object per line.") from exc
    courses = [c.strip() for c in args.courses.split(",") if c.strip()]
    split = {"tuning": "tuning", "held-out": "held_out", "all": None}[args.split]
    queries = [q for q in load_eval_set() if q.type == "hint" and (split is None or q.split == split)]
    to_stdout = args.json == "-"
    reports: list[dict[str, Any]] = []
    with open_services(args) as services:
        wanted = [m.strip() for m in (args.models or "").split(",") if m.strip()] or [None]
        for model in wanted:
            installed = services.chat_model(model)
            loaded = services.open_chat(installed)
            engine = loaded.backend
            entry: dict[str, Any] = {"model": installed.id}
            try:
                if args.skip != "quiz":
                    bar = ProgressBar(f"Quiz {installed.id}", amount=lambda n: f"{n}")
                    try:
                        entry["quiz"] = run_quiz_eval(services, engine, courses, labels=labels,
                                                      use_cache=not args.no_cache,
                                                      progress=_quiz_progress(bar))
                    finally:
                        bar.close()
                if args.skip != "hints":
                    hbar = ProgressBar(f"Hints {installed.id}", amount=lambda n: f"{n}")
                    try:
                        entry["hints"] = run_hint_eval(services, engine, installed.id, queries,
                                                       progress=hbar_update(hbar))
                    finally:
                        hbar.close()
            finally:
                engine.close()
            reports.append(entry)
    report = {"kind": "learning", "models": reports}
    if args.json and not to_stdout:
        write_text(Path(args.json), json.dumps(report, indent=1, ensure_ascii=False))
        print(f"Wrote {args.json}", file=sys.stderr)
    if to_stdout:
        print(json.dumps(report, indent=1, ensure_ascii=False))
        return 0
    for entry in reports:
        if "quiz" in entry:
            print("\n".join(quiz_text_lines(entry["quiz"])))
        if "hints" in entry:
            print("\n".join(hint_lines(entry["hints"])))
    return 0


HANDLERS = {"eval learning": cmd_eval_learning}
