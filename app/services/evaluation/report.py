"""The tutor eval's reports: a JSON document (what `--compare` reads back) and one self-contained HTML
file (tables, charts as inline SVG, no script, no stylesheet or font from a network: it opens offline).

Charts are drawn by matplotlib (the `eval` extra), imported only when an HTML report is asked for.
"""

from __future__ import annotations

import html
import io
import json
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from app.core.errors import LanternError
from app.core.evaluation.metrics import METRIC_BY_KEY, METRICS, QueryScore, badness, summarise
from app.core.evaluation.targets import Change, check_targets, compare
from app.services.evaluation.tutor_eval import TutorEvalRun

REPORT_SCHEMA = "lantern.eval-tutor"
REPORT_VERSION = 1
SCOPES = ("all", "tuning", "held_out")
WORST = 8  # answers shown per model in the report's "worst answers"


# -- JSON -----------------------------------------------------------------------------------------

def _summaries(scores: Sequence[QueryScore]) -> dict[str, Any]:
    by_model: dict[str, list[QueryScore]] = defaultdict(list)
    for s in scores:
        by_model[s.model_id].append(s)
    out: dict[str, Any] = {}
    for model, mine in by_model.items():
        scoped = {"all": summarise(mine)}
        for split in ("tuning", "held_out"):
            scoped[split] = summarise([s for s in mine if s.split == split])
        types: dict[str, Any] = {}
        for kind in sorted({s.type for s in mine}):
            of_type = [s for s in mine if s.type == kind]
            types[kind] = {scope: summarise([s for s in of_type if scope == "all" or s.split == scope])
                           for scope in SCOPES}
        scoped["types"] = types
        out[model] = scoped
    return out


def build_report(run: TutorEvalRun, *, baseline: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The JSON report. `baseline` is an earlier report (`--compare`): its summaries give the
    comparison and the key-point-recall gain target."""
    summaries = _summaries(run.scores)
    queries = {q.id: q for q in run.queries}
    old = (baseline or {}).get("summary", {})
    targets = {model: [c.to_dict() for c in check_targets(scoped["held_out"],
                                                          baseline_held_out=old.get(model, {}).get("held_out"))]
               for model, scoped in summaries.items()}
    answers = []
    for model_run in run.models:
        for s in (s for s in run.scores if s.model_id == model_run.model_id):
            record = model_run.records[s.query_id]
            q = queries[s.query_id]
            answers.append({"query": q.model_dump(mode="json"), "record": record.to_dict(),
                            "score": {k: v for k, v in vars(s).items()}, "badness": round(badness(s), 3)})
    report: dict[str, Any] = {
        "schema": REPORT_SCHEMA, "version": REPORT_VERSION, "started_at": run.started_at,
        "finished_at": run.finished_at, "interrupted": run.interrupted, "machine": run.machine, "config": run.config,
        "judge_model": run.judge_model,
        "models": [{"id": m.model_id, "sha256": m.sha256, "backend": m.backend, "where": m.where,
                    "answers": len(m.records), "computed": m.computed, "cached": m.cached, "load_s": m.load_s}
                   for m in run.models],
        "queries": {"total": len(run.queries),
                    "by_split": {sp: sum(q.split == sp for q in run.queries) for sp in ("tuning", "held_out")}},
        "summary": summaries, "targets": targets,
        "metrics": [{"key": m.key, "label": m.label, "better": m.better, "unit": m.unit} for m in METRICS],
        "answers": answers,
    }
    if baseline is not None:
        report["comparison"] = {"baseline_started_at": baseline.get("started_at"),
                                "baseline_config": baseline.get("config"),
                                "changes": [c.to_dict() for c in compare(summaries, old)]}
    return report


def read_report(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise LanternError(f"Cannot read the earlier report {path}: {exc.strerror or exc}.",
                           hint="Pass a file written by `lantern eval tutor --json`.") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise LanternError(f"{path} is not a JSON report.",
                           hint="Pass a file written by `lantern eval tutor --json`.") from exc
    if not isinstance(data, dict) or data.get("schema") != REPORT_SCHEMA:
        raise LanternError(f"{path} is not a `lantern eval tutor` report.",
                           hint="Pass a file written by `lantern eval tutor --json`.")
    return data


# -- text -----------------------------------------------------------------------------------------

def format_value(metric: str, value: float | int | None) -> str:
    if value is None:
        return "–"
    unit = METRIC_BY_KEY[metric].unit if metric in METRIC_BY_KEY else ""
    if unit == "rate":
        return f"{value:.0%}"
    if unit in ("score", "1-5"):
        return f"{value:.3f}"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "tok/s":
        return f"{value:.1f}"
    if unit == "MB":
        return f"{value:.0f} MB"
    if unit == "USD":
        return f"${value:.2f}"
    return f"{value:.0f}"


TEXT_METRICS = ("real_answer_rate", "kp_recall_lexical", "kp_recall_embedding", "citation_precision", "groundedness",
                "verbatim_ratio", "refusal_accuracy", "false_refusal_rate", "language_match", "socratic_adherence",
                "gold_in_passages", "gold_in_passages_cross_lingual", "ttft_p50_s", "total_p50_s", "total_p95_s",
                "tokens_per_second", "peak_memory_mb", "judge_score")


def text_summary(report: Mapping[str, Any]) -> str:
    """The terminal table: metric rows, one column per (model, split)."""
    columns = [(model, scope) for model in report["summary"] for scope in ("tuning", "held_out")]
    rows = [["metric", *(f"{m} [{s}]" for m, s in columns)],
            ["queries", *(str(report["summary"][m][s]["queries"]) for m, s in columns)]]
    for key in TEXT_METRICS:
        values = [report["summary"][m][s].get(key) for m, s in columns]
        if all(v is None for v in values):
            continue
        rows.append([METRIC_BY_KEY[key].label, *(format_value(key, v) for v in values)])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    for model, checks in report["targets"].items():
        missed = [c for c in checks if c["met"] is False]
        for c in missed:
            lines.append(f"{model}: target missed on held-out: {c['metric']} {format_value(c['metric'], c['value'])}"
                         f" (target {c['target']}, short by {c['gap']:.3f})")
    regressions = [c for c in report.get("comparison", {}).get("changes", []) if c["verdict"] == "regression"]
    for c in regressions:
        lines.append(f"regression: {c['model']} [{c['scope']}] {c['metric']}: {format_value(c['metric'], c['old'])} "
                     f"-> {format_value(c['metric'], c['new'])}")
    return "\n".join(lines)


# -- HTML -----------------------------------------------------------------------------------------

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1200px;color:#1d232a;
padding:0 16px}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
table{border-collapse:collapse;margin:8px 0 16px}th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f3f5f7}
.bad{background:#ffe3e3}.good{background:#dcf5e0}.muted{color:#6a737d}
pre{white-space:pre-wrap;background:#f6f8fa;padding:8px;border-radius:4px;max-height:320px;overflow:auto}
details{margin:4px 0}.answer{border:1px solid #d0d7de;border-radius:6px;padding:8px 12px;margin:12px 0}
.tag{display:inline-block;background:#eef1f4;border-radius:3px;padding:0 6px;margin-right:4px;font-size:12px}
figure{margin:8px 0}svg{max-width:100%;height:auto}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _svg(figure: Any) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    # Inline SVG needs neither the XML prolog, the DOCTYPE (whose DTD address is a URL) nor the RDF
    # metadata block (namespace URLs): the report must not name a single address.
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.DOTALL)
    # The HTML parser puts an inline <svg> in the SVG namespace by itself (xlink:href included).
    text = re.sub(r'\s+xmlns(?::\w+)?="[^"]*"', "", text)
    return re.sub(r"^.*?(?=<svg)", "", text, flags=re.DOTALL)


def _charts(report: Mapping[str, Any]) -> list[tuple[str, str]]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise LanternError("The HTML report needs matplotlib, which is not installed.",
                           hint='Install the eval extra: pip install "lantern-tutor[eval]" (or drop --html).') from exc
    plt.rcParams.update({"svg.fonttype": "path", "font.size": 9})
    charts = []
    summary = report["summary"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, metric in zip(axes, ("real_answer_rate", "kp_recall_lexical"), strict=True):
        for model, scoped in summary.items():
            for scope, marker in (("tuning", "o"), ("held_out", "s")):
                s = scoped[scope]
                x, y = s.get("total_p50_s"), s.get(metric)
                if x is None or y is None:
                    continue
                ax.scatter([x], [y], marker=marker, s=40)
                ax.annotate(f"{model} [{scope}]", (x, y), fontsize=7, xytext=(4, 4), textcoords="offset points")
        ax.set_xlabel("total time per answer, p50 (s)")
        ax.set_ylabel(METRIC_BY_KEY[metric].label)
        ax.set_ylim(0, 1.05)
        ax.grid(alpha=0.3)
    fig.suptitle("Quality vs latency (circle: tuning, square: held-out)")
    charts.append(("Quality vs latency", _svg(fig)))
    plt.close(fig)

    types = sorted({t for scoped in summary.values() for t in scoped["types"]})
    if types:
        fig, ax = plt.subplots(figsize=(10, 3.6))
        width = 0.8 / max(1, len(summary))
        for i, (model, scoped) in enumerate(summary.items()):
            values = [scoped["types"].get(t, {}).get("all", {}).get("kp_recall_lexical") or 0 for t in types]
            ax.bar([j + i * width for j in range(len(types))], values, width, label=model)
        ax.set_xticks([j + width * (len(summary) - 1) / 2 for j in range(len(types))], types)
        ax.set_ylabel("key-point recall (lexical)")
        ax.set_ylim(0, 1)
        ax.legend(fontsize=7)
        ax.grid(axis="y", alpha=0.3)
        charts.append(("Key-point recall by query type (both splits)", _svg(fig)))
        plt.close(fig)
    return charts


def _metric_table(report: Mapping[str, Any]) -> str:
    summary = report["summary"]
    head = "".join(f"<th>{_e(m)}<br><span class='muted'>{s.replace('_', '-')}</span></th>"
                   for m in summary for s in ("tuning", "held_out"))
    counts = "".join(f"<td>{summary[m][s]['queries']}</td>" for m in summary for s in ("tuning", "held_out"))
    rows = [f"<tr><td>queries</td>{counts}</tr>"]
    for metric in (*METRICS, METRIC_BY_KEY["judge_score"]):
        cells = [summary[m][s].get(metric.key) for m in summary for s in ("tuning", "held_out")]
        if all(c is None for c in cells):
            continue
        label = metric.label + (" <span class='muted'>(judge, not deterministic)</span>"
                                if metric.key == "judge_score" else "")
        rows.append(f"<tr><td>{label}</td>{''.join(f'<td>{_e(format_value(metric.key, c))}</td>' for c in cells)}</tr>")
    return f"<table><tr><th>metric</th>{head}</tr>{''.join(rows)}</table>"


def _type_table(report: Mapping[str, Any]) -> str:
    parts = []
    keys = ("real_answer_rate", "kp_recall_lexical", "citation_precision", "groundedness", "verbatim_ratio",
            "refusal_accuracy", "socratic_adherence", "language_match", "total_p50_s")
    for model, scoped in report["summary"].items():
        head = "".join(f"<th>{_e(METRIC_BY_KEY[k].label)}</th>" for k in keys)
        rows = []
        for kind, by_scope in scoped["types"].items():
            for scope in ("tuning", "held_out"):
                s = by_scope[scope]
                if not s["queries"]:
                    continue
                cells = "".join(f"<td>{_e(format_value(k, s.get(k)))}</td>" for k in keys)
                rows.append(f"<tr><td>{_e(kind)} <span class='muted'>{scope.replace('_', '-')} · {s['queries']}"
                            f"</span></td>{cells}</tr>")
        parts.append(f"<h3>{_e(model)}</h3><table><tr><th>type</th>{head}</tr>{''.join(rows)}</table>")
    return "".join(parts)


def _targets(report: Mapping[str, Any]) -> str:
    parts = []
    for model, checks in report["targets"].items():
        rows = []
        for c in checks:
            cls = "" if c["met"] is None else ("good" if c["met"] else "bad")
            verdict = "no data" if c["met"] is None else ("met" if c["met"] else f"missed by {c['gap']:.3f}")
            value = format_value(c["metric"], c["value"]) if c["metric"] in METRIC_BY_KEY else f"{c['value']:.3f}"
            rows.append(f"<tr class='{cls}'><td>{_e(c['metric'])}</td><td>{_e(c['target'])}</td><td>{_e(value)}"
                        f"</td><td>{_e(verdict)}</td><td>{_e(c['why'])}</td></tr>")
        parts.append(f"<h3>{_e(model)} <span class='muted'>(held-out split)</span></h3><table><tr><th>target</th>"
                     "<th>wanted</th><th>value</th><th>verdict</th><th>why it matters</th></tr>"
                     f"{''.join(rows)}</table>")
    return "".join(parts)


def _comparison(report: Mapping[str, Any]) -> str:
    comparison = report.get("comparison")
    if not comparison:
        return "<p class='muted'>No earlier run given (<code>--compare old.json</code>).</p>"
    changes: list[Change] = [Change(c["model"], c["scope"], c["metric"], c["old"], c["new"], c["verdict"])
                             for c in comparison["changes"]]
    shown = [c for c in changes if c.verdict != "same"]
    regressions = sum(c.verdict == "regression" for c in shown)
    rows = "".join(
        f"<tr class='{'bad' if c.verdict == 'regression' else 'good'}'><td>{_e(c.model)}</td><td>{_e(c.scope)}</td>"
        f"<td>{_e(METRIC_BY_KEY[c.metric].label)}</td><td>{_e(format_value(c.metric, c.old))}</td>"
        f"<td>{_e(format_value(c.metric, c.new))}</td><td>{_e(c.verdict)}</td></tr>" for c in shown)
    return (f"<p>Against the run of {_e(comparison.get('baseline_started_at'))}: <b>{regressions} regression(s)</b>, "
            f"{len(shown) - regressions} improvement(s); changes within the noise tolerance are not listed.</p>"
            f"<table><tr><th>model</th><th>split</th><th>metric</th><th>before</th><th>now</th><th></th></tr>{rows}"
            "</table>")


def _worst(report: Mapping[str, Any]) -> str:
    by_model: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for a in report["answers"]:
        by_model[a["record"]["model_id"]].append(a)
    parts = []
    for model, answers in by_model.items():
        worst = sorted((a for a in answers if a["badness"] > 0), key=lambda a: -a["badness"])[:WORST]
        parts.append(f"<h3>{_e(model)}</h3>")
        for a in worst:
            q, r, s = a["query"], a["record"], a["score"]
            tags = "".join(f"<span class='tag'>{_e(t)}</span>" for t in
                           (q["type"], q["split"], q["language"], f"difficulty {q['difficulty']}", *r["problems"]))
            passages = "".join(f"<details><summary>[{i}] {_e(p['title'])}</summary><pre>{_e(p['text'])}</pre>"
                               "</details>" for i, p in enumerate(r["passages"], start=1))
            facts = "".join(f"<li>{_e(p)}</li>" for p in q["key_points"])
            parts.append(
                f"<div class='answer'><div>{tags}</div><p><b>{_e(q['id'])}</b>: {_e(q['question'])}</p>"
                f"<pre>{_e(r['text'] or '(no text)')}</pre>"
                f"<p class='muted'>key-point recall {format_value('kp_recall_lexical', s['kp_lexical'])}, "
                f"cited {s['cited']} ({s['cited_in_gold']} in gold), real answer {s['real_answer']}, "
                f"refused {s['refused']}</p>"
                + (f"<details><summary>reference facts</summary><ul>{facts}</ul></details>" if facts else "")
                + (f"<details><summary>passages given ({len(r['passages'])})</summary>{passages}</details>"
                   if passages else "") + "</div>")
    return "".join(parts)


def render_html(report: Mapping[str, Any]) -> str:
    charts = "".join(f"<figure>{svg}<figcaption class='muted'>{_e(title)}</figcaption></figure>"
                     for title, svg in _charts(report))
    models = ", ".join(f"{_e(m['id'])} ({_e(m['backend'] or '?')}, {m['answers']} answers, {m['cached']} cached)"
                       for m in report["models"])
    machine = report["machine"]
    interrupted = "<p class='bad'>This run was interrupted; it reports the answers it has.</p>" \
        if report["interrupted"] else ""
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Lantern tutor eval</title>"
        f"<style>{_CSS}</style></head><body>"
        f"<h1>Lantern tutor eval · {_e(report['started_at'])}</h1>{interrupted}"
        f"<p>Models: {models}.<br>Queries: {report['queries']['total']} (tuning "
        f"{report['queries']['by_split']['tuning']}, held-out {report['queries']['by_split']['held_out']}). "
        f"Prompt version {_e(report['config']['prompt_version'])}. Machine: {_e(machine.get('cpu'))}, "
        f"{_e(machine.get('cores'))} threads, {_e(machine.get('ram_gb'))} GB RAM.</p>"
        "<p class='muted'>The held-out split is never used to tune; quote its figures. See docs/evaluation.md for "
        "what each metric measures.</p>"
        f"<h2>Models × metrics</h2>{_metric_table(report)}"
        f"<h2>Targets</h2>{_targets(report)}"
        f"<h2>Charts</h2>{charts}"
        f"<h2>By query type</h2>{_type_table(report)}"
        f"<h2>Compared with an earlier run</h2>{_comparison(report)}"
        f"<h2>Worst answers</h2>{_worst(report)}"
        "</body></html>")


def write_text(path: Path, text: str) -> None:
    """Write via a temporary file, so a full disk never leaves half a report over a good one."""
    tmp = path.with_name(path.name + ".part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise LanternError(f"Cannot write {path}: {exc.strerror or exc}.",
                           hint="Check the folder exists, is writable and has free space.") from exc

