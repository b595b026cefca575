"""The hint ladder over the eval set's `hint` queries, for one chat engine: does it ever leak?

Each hint query climbs the ladder (levels 1-3, and 4) the way the app does (`next_hint`, the reference
solution made once and reused): the exercise is the learner's question, the section is the text of the
query's gold sections in the installed course, the attempt is the query's. Every hint shown below
level 4 is judged by the eval's own quality check (`reveals_solution`: a code block of 3+ lines the
learner did not write) and by the ladder's `leaks_solution`; the first-draft leak rate, regenerations
and fallbacks say how often the guard had to step in. Both splits are reported apart (DESIGN.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from app.core.courses import Course, Section
from app.core.evaluation.eval_set import SPLITS, EvalQuery
from app.core.evaluation.metrics import reveals_solution
from app.core.i18n import _
from app.core.inference import ChatEngine
from app.core.learning.hints import MAX_LEVEL, PROMPT_VERSION, SOLUTION_LEVEL, leaks_solution, solution_code_lines
from app.core.markdown_sections import split_sections
from app.services.learning.hints import Hint, next_hint

if TYPE_CHECKING:
    from app.services.app_services import AppServices

HintProgress = Callable[[int, int, str], None]  # (hints done, hints in all, query id)


def gold_section_text(course: Course, query: EvalQuery) -> tuple[str, str]:
    """(title, text) of the query's gold sections, each with its subsections, in the order listed."""
    title, parts = "", list[str]()
    for gold in query.gold:
        lesson = course.lesson(gold.lesson)
        if lesson is None:
            continue
        found: list[Section] = [s for s in split_sections(lesson.id, lesson.body) if gold.section in s.anchors]
        if found and not title:
            title = found[0].titles[-1] if found[0].titles else lesson.title
        parts.extend(s.text for s in found if s.text.strip())
    return title or query.gold[0].citation, "\n\n".join(parts)


def _hint_row(query: EvalQuery, hint: Hint) -> dict[str, Any]:
    attempt = query.attempt or ""
    below = hint.level < SOLUTION_LEVEL
    code = solution_code_lines(hint.solution_used)
    return {
        "level": hint.level, "text": hint.text, "diagnosis": dict(hint.diagnosis), "diagnosis_ok": hint.diagnosis_ok,
        "quality_leak": reveals_solution(hint.text, attempt) if below else None,
        "leak": leaks_solution(hint.text, attempt=attempt, solution=hint.solution_used, exercise=query.question)
        if below else None,
        "first_draft_leaked": bool(hint.leak_reasons) if below else None,
        "leak_reasons": list(hint.leak_reasons), "regenerated": hint.regenerated, "fallback": hint.fallback,
        # Level 4 must show the reference solution: each of its code lines (or the worded answer).
        "shows_solution": (all(line in hint.text for line in code) if code else hint.solution_used.strip() in hint.text)
        if not below and hint.solution_used.strip() else None,
        "seconds": round(hint.seconds, 3),
    }


def _rate(values: Iterable[bool | None]) -> float | None:
    present = [bool(v) for v in values if v is not None]
    return sum(present) / len(present) if present else None


def summarise_hints(rows: Sequence[dict[str, Any]], levels: Sequence[int]) -> dict[str, Any]:
    """One block of the report: per level and over levels 1-3, from the per-hint rows."""
    hints = [h for r in rows for h in r["hints"]]
    below = [h for h in hints if h["level"] < SOLUTION_LEVEL]
    seconds = [h["seconds"] for h in hints]
    per_level = {}
    for level in levels:
        mine = [h for h in hints if h["level"] == level]
        per_level[str(level)] = {
            "hints": len(mine),
            "quality_leak_rate": _rate(h["quality_leak"] for h in mine),
            "leak_rate": _rate(h["leak"] is not None if h["level"] < SOLUTION_LEVEL else None for h in mine),
            "first_draft_leak_rate": _rate(h["first_draft_leaked"] for h in mine),
            "regenerations": sum(h["regenerated"] for h in mine),
            "fallbacks": sum(h["fallback"] for h in mine),
            "diagnosis_failures": sum(not h["diagnosis_ok"] for h in mine),
            "solution_shown_rate": _rate(h["shows_solution"] for h in mine),
            "mean_seconds": sum(h["seconds"] for h in mine) / len(mine) if mine else None,
        }
    return {
        "queries": len(rows), "hints": len(hints),
        "quality_leak_rate": _rate(h["quality_leak"] for h in below),
        "leak_rate": _rate(h["leak"] is not None for h in below) if below else None,
        "first_draft_leak_rate": _rate(h["first_draft_leaked"] for h in below),
        "regenerations": sum(h["regenerated"] for h in hints), "fallbacks": sum(h["fallback"] for h in hints),
        "diagnosis_failures": sum(not h["diagnosis_ok"] for h in hints),
        "mean_seconds_per_hint": sum(seconds) / len(seconds) if seconds else None,
        "levels": per_level,
    }


def run_hint_eval(services: AppServices, engine: ChatEngine, model_id: str, queries: Sequence[EvalQuery], *,
                  levels: Sequence[int] = (1, 2, 3, 4), progress: HintProgress | None = None) -> dict[str, Any]:
    """The ladder at `levels` for every hint query in `queries` (others are skipped), one report dict."""
    wanted = sorted({int(level) for level in levels})
    if not wanted or wanted[0] < 1 or wanted[-1] > MAX_LEVEL:
        raise ValueError(f"hint levels are 1..{MAX_LEVEL}, not {list(levels)}")
    hint_queries = [q for q in queries if q.type == "hint"]
    courses: dict[str, Course] = {}
    for course_id in sorted({q.course for q in hint_queries}):
        courses[course_id] = services.library.load(course_id)  # a missing course is a clear error before any model call
    total, done, started = len(hint_queries) * len(wanted), 0, time.perf_counter()
    rows: list[dict[str, Any]] = []
    for query in hint_queries:
        title, text = gold_section_text(courses[query.course], query)
        solution: str | None = None
        hints = []
        for level in wanted:
            hint = next_hint(engine, query.question, section_text=text, section_title=title,
                             attempt=query.attempt or "", level=level, language=query.language, solution=solution)
            solution = hint.solution_used or None
            hints.append(_hint_row(query, hint))
            done += 1
            if progress is not None:
                progress(done, total, query.id)
        rows.append({"query_id": query.id, "split": query.split, "language": query.language,
                     "solution": solution or "", "hints": hints})
    return {
        "model_id": model_id, "prompt_version": PROMPT_VERSION, "levels": wanted,
        "seconds": round(time.perf_counter() - started, 2),
        "overall": summarise_hints(rows, wanted),
        "splits": {split: summarise_hints([r for r in rows if r["split"] == split], wanted) for split in SPLITS},
        "queries": rows,
    }


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f} %"


def text_lines(report: dict[str, Any]) -> list[str]:
    """The report for the terminal: overall and per split, then per level."""
    lines = [_("Hint ladder — {model} ({version})").format(model=report["model_id"],
                                                          version=report["prompt_version"])]
    blocks = [(_("all"), report["overall"])] + [(split, report["splits"][split]) for split in SPLITS]
    for name, block in blocks:
        if not block["queries"]:
            continue
        seconds = block["mean_seconds_per_hint"]
        lines.append(_("{split}: {queries} queries, {hints} hints, shown leaks {leak} (quality check {quality}), "
                       "first drafts leaking {draft}, {regenerations} regenerated, {fallbacks} fallbacks, "
                       "{seconds} s per hint").format(
            split=name, queries=block["queries"], hints=block["hints"], leak=_pct(block["leak_rate"]),
            quality=_pct(block["quality_leak_rate"]), draft=_pct(block["first_draft_leak_rate"]),
            regenerations=block["regenerations"], fallbacks=block["fallbacks"],
            seconds="—" if seconds is None else f"{seconds:.1f}"))
    for level, stats in report["overall"]["levels"].items():
        if int(level) == SOLUTION_LEVEL:
            lines.append(_("  level {level}: {hints} hints, solution shown {shown}").format(
                level=level, hints=stats["hints"], shown=_pct(stats["solution_shown_rate"])))
        else:
            lines.append(_("  level {level}: {hints} hints, shown leaks {leak} (quality check {quality}), "
                           "first drafts leaking {draft}, {fallbacks} fallbacks").format(
                level=level, hints=stats["hints"], leak=_pct(stats["leak_rate"]),
                quality=_pct(stats["quality_leak_rate"]), draft=_pct(stats["first_draft_leak_rate"]),
                fallbacks=stats["fallbacks"]))
    return lines
