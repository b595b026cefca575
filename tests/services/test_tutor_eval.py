"""`TutorEval` with a real model (SmolLM2-135M) and the real embedder over the built-in courses: the
answer cache, Ctrl-C keeping finished work, and the reports (JSON, HTML that loads nothing from a
network, the comparison with an earlier run)."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

from app.cli import main
from app.core.evaluation.eval_set import EvalQuery
from app.core.settings import LanternSettings
from app.core.tutor import DEFAULT_RECIPE, RECIPES
from app.services.app_services import AppServices
from app.services.evaluation.eval_set import load_eval_set
from app.services.evaluation.report import build_report, read_report, render_html
from app.services.evaluation.tutor_eval import TutorEval, chat_models, select_queries
from app.services.paths import resolve_paths

pytestmark = pytest.mark.slow
TOKENS = 40  # short answers: these tests check the harness, not the quality


@pytest.fixture
def services(minilm_gguf, smollm2_gguf, capsys):
    assert main(["models", "import", str(minilm_gguf)]) == 0
    assert main(["models", "import", str(smollm2_gguf)]) == 0
    capsys.readouterr()
    with AppServices(LanternSettings(n_threads=2), resolve_paths()) as s:
        yield s


@pytest.fixture(scope="module")
def queries() -> list[EvalQuery]:
    every = load_eval_set()
    # One covered English, one Vietnamese-on-English, one off-course, one hint: every scoring path.
    picks = [next(q for q in every if q.type == "explain" and q.language == "en" and q.course == "python-from-zero"),
             next(q for q in every if q.language == "vi" and q.course == "python-from-zero"),
             next(q for q in every if q.type == "off_course"),
             next(q for q in every if q.type == "hint")]
    return picks


def test_select_queries_keeps_the_type_mix():
    every = load_eval_set()
    nine = select_queries(every, limit=9)
    assert len(nine) == 9 and len({q.type for q in nine}) == 9
    held = select_queries(every, split="held_out", types=["hint", "quiz"])
    assert held and all(q.split == "held_out" and q.type in ("hint", "quiz") for q in held)


def test_run_caches_answers_and_a_prompt_change_recomputes(services, queries):
    models = chat_models(services)
    assert [m.id for m in models] == ["smollm2-135m-instruct.q4_1"]  # the embedder is not a chat model
    seen = []
    first = TutorEval(services, answer_tokens=TOKENS, progress=seen.append)
    try:
        run = first.run(queries, models)
    finally:
        first.close()
    model_run = run.models[0]
    assert (model_run.computed, model_run.cached, len(model_run.records)) == (4, 0, 4)
    assert [p.done for p in seen] == [1, 2, 3, 4] and seen[-1].total == 4 and seen[-1].eta_s == 0
    assert {s.query_id for s in run.scores} == {q.id for q in queries}
    off = next(s for s in run.scores if s.type == "off_course")
    assert off.refusal_correct is not None
    covered = next(s for s in run.scores if s.type == "explain")
    assert covered.kp_lexical is not None and covered.kp_embedding is not None and covered.total_s > 0
    assert covered.peak_rss_bytes > 50 * 2**20

    again = TutorEval(services, answer_tokens=TOKENS)
    try:
        rerun = again.run(queries, models)
    finally:
        again.close()
    assert (rerun.models[0].computed, rerun.models[0].cached) == (0, 4)
    assert {k: r.text for k, r in rerun.models[0].records.items()} == {k: r.text for k, r in model_run.records.items()}

    other = next(r for r in RECIPES.values() if r != DEFAULT_RECIPE)
    changed = TutorEval(services, answer_tokens=TOKENS, recipe=other)
    try:
        assert changed.run(queries[:1], models).models[0].computed == 1
    finally:
        changed.close()


def test_ctrl_c_keeps_finished_answers(services, queries):
    models = chat_models(services)

    def stop_after_two(p):
        if p.done == 2:
            raise KeyboardInterrupt

    interrupted = TutorEval(services, answer_tokens=TOKENS, progress=stop_after_two)
    try:
        run = interrupted.run(queries, models)
    finally:
        interrupted.close()
    assert run.interrupted and len(run.models[0].records) == 2 and len(run.scores) == 2
    report = build_report(run)
    assert report["interrupted"] and len(report["answers"]) == 2

    resumed = TutorEval(services, answer_tokens=TOKENS)
    try:
        done = resumed.run(queries, models)
    finally:
        resumed.close()
    assert not done.interrupted and (done.models[0].cached, done.models[0].computed) == (2, 2)


class _Resources(HTMLParser):
    """Everything in a page that a browser would fetch: tags that load things and addresses in attributes/CSS."""

    LOADING_TAGS = frozenset({"script", "link", "iframe", "object", "embed", "img", "audio", "video", "source"})
    ADDRESS_ATTRS = frozenset({"src", "href", "xlink:href", "data", "action", "poster", "srcset", "background"})

    def __init__(self) -> None:
        super().__init__()
        self.loads: list[str] = []
        self.css: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        if tag in self.LOADING_TAGS:
            self.loads.append(f"<{tag}>")
        for name, value in attrs:
            if name in self.ADDRESS_ATTRS and value and not value.startswith(("#", "data:")):
                self.loads.append(f"{tag}[{name}]={value}")
            if name == "style" and value:
                self.css.append(value)
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.css.append(data)


def test_reports_open_offline_and_flag_regressions(services, queries, tmp_path):
    models = chat_models(services)
    evaluation = TutorEval(services, answer_tokens=TOKENS)
    try:
        run = evaluation.run(queries, models)
    finally:
        evaluation.close()
    report = build_report(run)
    model = "smollm2-135m-instruct.q4_1"
    assert set(report["summary"][model]) == {"all", "tuning", "held_out", "types"}
    assert report["summary"][model]["all"]["queries"] == 4 and report["config"]["prompt_version"]
    json.dumps(report)  # serialisable as is

    page = render_html(report)
    parser = _Resources()
    parser.feed(page)
    assert parser.loads == []
    assert not [c for c in parser.css if re.search(r"url\(|@import", c)]
    # An address may appear as text inside a model's answer or a course passage, never as a resource.
    texts = " ".join(a["record"]["text"] + " ".join(p["text"] for p in a["record"]["passages"])
                     for a in report["answers"])
    assert all(url in texts for url in re.findall(r"https?://[^\s<\"'&]+", page))
    assert page.count("<svg") >= 2 and "held-out" in page and "tuning" in page

    old = json.loads(json.dumps(report))
    old["summary"][model]["all"]["real_answer_rate"] = (report["summary"][model]["all"]["real_answer_rate"] or 0) + 0.5
    saved = tmp_path / "old.json"
    saved.write_text(json.dumps(old))
    compared = build_report(run, baseline=read_report(saved))
    regressions = [c for c in compared["comparison"]["changes"] if c["verdict"] == "regression"]
    assert [(c["scope"], c["metric"]) for c in regressions] == [("all", "real_answer_rate")]
    assert "1 regression(s)" in render_html(compared)


def test_an_unreadable_baseline_fails_before_any_work(tmp_path, capsys):
    bad = tmp_path / "old.json"
    bad.write_text("{not json")
    assert main(["eval", "tutor", "--compare", str(bad), "--limit", "1"]) == 1
    assert "not a JSON report" in capsys.readouterr().err


def test_the_judge_scores_apart_and_is_cached(services, queries):
    models = chat_models(services)
    first = TutorEval(services, answer_tokens=TOKENS)
    try:
        run = first.run(queries[:1], models, judge=models[0])
    finally:
        first.close()
    assert run.judge_model == models[0].id and run.judge_computed == 1
    scores = run.models[0].judge_scores
    assert list(scores) == [queries[0].id]
    score = scores[queries[0].id]
    assert score is None or 1 <= score <= 5  # SmolLM2 may give no number; then there is no judge score
    summary = build_report(run)["summary"][models[0].id]["all"]
    assert ("judge_score" in summary) == (score is not None)
    assert "kp_recall_lexical" in summary  # the deterministic metrics are unchanged by the judge

    again = TutorEval(services, answer_tokens=TOKENS)
    try:
        rerun = again.run(queries[:1], models, judge=models[0])
    finally:
        again.close()
    # Nothing asked again: the answer and its judge score come from the cache.
    assert rerun.models[0].judge_scores == scores and rerun.models[0].computed == 0 and rerun.judge_computed == 0
