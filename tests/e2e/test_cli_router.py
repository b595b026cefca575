"""`lantern router explain|calibrate` as a learner runs them (a fresh LANTERN_HOME: no embedding model
installed, so the shipped rules-only classifier decides)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def router(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app", "router", *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env=dict(os.environ))


def test_explain_json_gives_the_decision_its_reason_and_its_time():
    done = router("explain", "So sánh list và tuple, khi nào dùng cái nào?", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["needs_cloud"] is True and data["reason_code"] == "rule:compare" and data["reason"]
    assert data["kind"] == "compare" and data["model"] == "rules_only" and 0 < data["probability"] < 1
    assert data["decision_ms"] < 5 and set(data["features"]) >= {"compare", "hint_level", "words"}
    simple = json.loads(router("explain", "what is a list?", "--json").stdout)
    assert simple["needs_cloud"] is False and simple["role"] == "simple"
    ladder = json.loads(router("explain", "one more hint?", "--previous", "hint?", "--previous", "another hint?",
                               "--json").stdout)
    assert ladder["reason_code"] == "rule:hint_level"
    off = json.loads(router("explain", "compare React and Vue in detail", "--not-covered", "--json").stdout)
    assert off["needs_cloud"] is False and off["reason_code"] == "off_course"
    text = router("explain", "design a quiz app")
    assert "Route: cloud" in text.stdout and "rule:design" in text.stdout and "ms" in text.stdout


def config_file(home: Path) -> Path:
    from app.services.paths import resolve_paths

    return resolve_paths().config_file


def test_calibrate_reports_without_changing_and_apply_writes_the_setting(lantern_home):
    done = router("calibrate", "--target-local-share", "0.9", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["applied"] is False and not config_file(lantern_home).exists()
    assert data["questions"] > 100  # the eval set's tuning questions, with an empty ledger
    assert 0 < data["threshold"] < 1 and abs(data["expected_local_share"] - 0.9) <= 0.05
    lower = json.loads(router("calibrate", "--target-local-share", "0.6", "--json").stdout)
    assert lower["threshold"] < data["threshold"]  # more to the cloud: a lower bar
    assert lower["cloud_cost_per_1000_usd"] is None  # no priced answers yet

    applied = router("calibrate", "--target-local-share", "0.9", "--apply")
    assert applied.returncode == 0, applied.stderr
    assert "Saved router_threshold" in applied.stdout
    saved = tomllib.loads(config_file(lantern_home).read_text(encoding="utf-8"))
    assert saved["router_threshold"] == pytest.approx(data["threshold"], abs=1e-4)
    explained = json.loads(router("explain", "what is a list?", "--json").stdout)
    assert explained["threshold"] == pytest.approx(saved["router_threshold"])


def test_a_bad_target_is_a_clear_error():
    done = router("calibrate", "--target-local-share", "1.5")
    assert done.returncode != 0 and "Traceback" not in done.stderr and "between 0 and 1" in done.stderr


def test_calibrate_reads_the_ledger(lantern_home):
    ledger = pytest.importorskip("app.services.storage.ledger", reason="the ledger store has not landed yet")
    from app.core.ledger import LedgerEntry
    from app.services.paths import resolve_paths

    store = ledger.LedgerStore(resolve_paths().ensure().database_file)
    now = datetime.now(UTC)
    for i in range(40):
        store.record(LedgerEntry(
            at=now, course_id="python-from-zero", question_kind="explain", route="cloud" if i % 4 == 0 else "local",
            reason="", reason_code="classifier", model="local:x", where="on-device", tokens_in=400, tokens_out=100,
            ttft_s=1.0, total_s=3.0, cost_usd=0.0, cost_if_cloud_usd=0.002, fell_back=i % 4 == 0,
            fallback_reason=None, quality="ok", cloud_probability=i / 40))
    data = json.loads(router("calibrate", "--json").stdout)
    assert data["from_ledger"] == 40 and data["fallback_rate"] == pytest.approx(0.25)
    assert data["cloud_cost_per_1000_usd"] == pytest.approx(1000 * (1 - data["expected_local_share"]) * 0.002)
