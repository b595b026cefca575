"""CI's small eval run: `lantern eval tutor` on 20 queries with a real model (SmolLM2-135M), the way a
developer runs it. It fails when the harness breaks (a crash, a missing metric, an unreadable report,
a cache that does not cache), never on the quality figures themselves."""

from __future__ import annotations

import json

import pytest

from app.cli import main
from app.core.evaluation.metrics import METRICS

pytestmark = pytest.mark.slow
MODEL = "smollm2-135m-instruct.q4_1"


def test_eval_subset_runs_reports_and_caches(tmp_path, minilm_gguf, smollm2_gguf, capsys):
    assert main(["models", "import", str(minilm_gguf)]) == 0
    assert main(["models", "import", str(smollm2_gguf)]) == 0
    capsys.readouterr()
    report_file, page = tmp_path / "r.json", tmp_path / "r.html"
    args = ["eval", "tutor", "--models", MODEL, "--limit", "20", "--max-tokens", "160",
            "--json", str(report_file), "--html", str(page)]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "Real answers" in captured.out and "Eval" in captured.err
    with capsys.disabled():
        print("\n" + captured.out)  # the figures, for the CI log

    report = json.loads(report_file.read_text(encoding="utf-8"))
    assert report["queries"]["total"] == 20 and len(report["answers"]) == 20
    assert len({a["query"]["type"] for a in report["answers"]}) == 9  # the limit keeps every type
    scoped = report["summary"][MODEL]
    for scope in ("all", "tuning", "held_out"):
        assert set(scoped[scope]) >= {m.key for m in METRICS}
    assert scoped["all"]["queries"] == 20 and scoped["all"]["real_answer_rate"] is not None
    assert {t["metric"] for t in report["targets"][MODEL]} >= {"real_answer_rate", "citation_precision"}
    assert page.read_text(encoding="utf-8").count("<svg") >= 2

    # The same command again answers from the cache, and --compare reads the first report.
    assert main([*args[:-4], "--json", "--compare", str(report_file)]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["models"][0]["cached"] == 20 and again["models"][0]["computed"] == 0
    assert all(c["verdict"] == "same" for c in again["comparison"]["changes"]
               if c["metric"] in ("real_answer_rate", "kp_recall_lexical", "citation_precision"))
