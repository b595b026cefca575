"""Quiz generation quality per model: every section of a course, every question kind, generated and checked
exactly as the app does (same prompts, checks and cache), then scored.

- valid share: questions that pass every check / questions generated;
- dropped by check: which check stopped the others (the first failed one);
- labelled correctness: of the shown questions a person labelled (a JSONL file of
  {"question_id", "correct", "why"}), the share labelled correct — the figure the issue's
  ">= 90 % of shown questions correct" target is about;
- seconds per generated question (as measured when it was generated; a cached question keeps its time).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.inference import CancelToken, ChatEngine
from app.core.learning.generation import PROMPT_VERSION
from app.services.learning.quiz_cache import Generated
from app.services.learning.use_cases import generator_for, kinds_for, model_key, section_sources


@dataclass(frozen=True)
class QuizEvalProgress:
    model_id: str
    done: int
    total: int
    section: str


def read_labels(path: Path) -> dict[str, dict[str, Any]]:
    """question id -> label; later lines win, so a relabel is an appended line."""
    labels: dict[str, dict[str, Any]] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            labels[str(row["question_id"])] = row
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{n}: not a label line ({exc})") from exc
    return labels


def _first_failed(generated: Generated) -> str:
    return next((c.name for c in generated.checks if not c.passed), "")


def summarise_quiz(results: Sequence[Generated], labels: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    shown = [g.question for g in results if g.passed and g.question is not None]
    by_kind: dict[str, dict[str, Any]] = {}
    for kind in sorted({g.kind for g in results}):
        of_kind = [g for g in results if g.kind == kind]
        passed = sum(g.passed for g in of_kind)
        by_kind[kind] = {"generated": len(of_kind), "shown": passed,
                         "valid_share": round(passed / len(of_kind), 4) if of_kind else None}
    dropped = Counter(_first_failed(g) for g in results if not g.passed)
    timed = [g.seconds for g in results if g.seconds > 0]
    summary: dict[str, Any] = {
        "generated": len(results), "shown": len(shown),
        "valid_share": round(len(shown) / len(results), 4) if results else None,
        "by_kind": by_kind, "dropped_by_check": dict(sorted(dropped.items())),
        "seconds_per_question": round(sum(timed) / len(timed), 2) if timed else None,
    }
    if labels is not None:
        labelled = [labels[q.id] for q in shown if q.id in labels]
        right = sum(bool(label.get("correct")) for label in labelled)
        summary["labelled"] = {"labelled": len(labelled), "correct": right,
                               "correct_share": round(right / len(labelled), 4) if labelled else None,
                               "unlabelled_shown": len(shown) - len(labelled)}
    return summary


def run_quiz_eval(services: Any, engine: ChatEngine, course_ids: Iterable[str], *,
                  labels: dict[str, dict[str, Any]] | None = None, use_cache: bool = True,
                  progress: Callable[[QuizEvalProgress], None] | None = None,
                  cancel: CancelToken | None = None) -> dict[str, Any]:
    """One model's quiz report over every section (and every kind that fits it) of the courses."""
    generator = generator_for(services, engine)
    plan: list[tuple[Any, Any]] = []
    for course_id in course_ids:
        course = services.library.load(course_id)
        for source in section_sources(course):
            plan.extend((source, kind) for kind in kinds_for(source))
    results: list[Generated] = []
    started = time.monotonic()
    mid = model_key(engine)
    for done, (source, kind) in enumerate(plan):
        if cancel is not None and cancel.cancelled:
            break
        if progress is not None:
            progress(QuizEvalProgress(mid, done, len(plan), f"{source.lesson_id}#{source.anchor} ({kind})"))
        generated, _hit = generator.generate(source, kind, cancel=cancel, use_cache=use_cache)
        results.append(generated)
    report = {"model": mid, "prompt_version": PROMPT_VERSION, "courses": list(course_ids),
              "complete": len(results) == len(plan), "seconds": round(time.monotonic() - started, 1),
              **summarise_quiz(results, labels)}
    report["questions"] = [g.to_json() for g in results]
    return report


def quiz_text_lines(report: dict[str, Any]) -> list[str]:
    courses = ", ".join(report["courses"])
    lines = [f"Quiz generation — {report['model']} ({report['prompt_version']}), courses: {courses}",
             f"  generated {report['generated']}, passed the checks {report['shown']} "
             f"({_pct(report['valid_share'])}); {report['seconds_per_question'] or '–'} s per question"]
    for kind, row in report["by_kind"].items():
        lines.append(f"  {kind:<7} {row['shown']:>4}/{row['generated']:<4} valid {_pct(row['valid_share'])}")
    if report["dropped_by_check"]:
        lines.append("  dropped by: " + ", ".join(f"{k} {v}" for k, v in report["dropped_by_check"].items()))
    labelled = report.get("labelled")
    if labelled:
        lines.append(f"  labelled sample: {labelled['correct']}/{labelled['labelled']} shown questions correct "
                     f"({_pct(labelled['correct_share'])}); {labelled['unlabelled_shown']} shown questions unlabelled")
    return lines


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f} %"
