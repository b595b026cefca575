"""`lantern stats`: the savings ledger summed up, from a ledger written with the real LedgerStore."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.cli import main
from app.core.ledger import LedgerEntry
from app.services.paths import resolve_paths
from app.services.storage.ledger import LedgerStore

ROOT = Path(__file__).resolve().parents[2]
DAY1 = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
DAY2 = DAY1 + timedelta(days=1)


def stats(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app", "stats", *args], capture_output=True, text=True, timeout=120,
                          cwd=ROOT, env=dict(os.environ))


def answer(route: str, kind: str, at: datetime, *, fell_back: str | None = None, total_s: float = 2.0,
           cost: float = 0.0, cost_if_cloud: float | None = 0.0008, source: str = "app") -> LedgerEntry:
    return LedgerEntry(at=at, course_id="loops", question_kind=kind, route=route,  # type: ignore[arg-type]
                       reason="r", reason_code=f"fallback:{fell_back}" if fell_back else "classifier",
                       model="local:smollm2" if route == "local" else "cloud:openai/gpt-4o-mini",
                       where="on-device" if route == "local" else "cloud", tokens_in=350, tokens_out=150,
                       ttft_s=0.4, total_s=total_s, cost_usd=cost, cost_if_cloud_usd=cost_if_cloud,
                       fell_back=fell_back is not None, fallback_reason=fell_back, quality="ok",
                       cloud_probability=0.3, source=source)  # type: ignore[arg-type]


ANSWERS = [
    answer("local", "explain", DAY1, total_s=1.5),
    answer("local", "explain", DAY1, total_s=2.5),
    answer("cloud", "compare", DAY1, fell_back="empty", total_s=8.0, cost=0.0008),
    answer("local", "compare", DAY2, total_s=3.0),
    answer("cloud", "design", DAY2, total_s=4.0, cost=0.0011, cost_if_cloud=0.0011),
]


@pytest.fixture
def filled():
    store = LedgerStore(resolve_paths().database_file)
    try:
        for a in ANSWERS:
            store.record(a)
        store.record(answer("cloud", "code", DAY2, cost=0.5, source="eval"))  # an evaluation's: never counted
    finally:
        store.close()
    return ANSWERS


def test_json_summary_of_the_learners_answers(filled):
    done = stats("--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    local = [a for a in filled if a.route == "local"]
    tried = [a for a in filled if a.route == "local" or a.fell_back]
    assert data["answers"] == len(filled) == 5
    assert data["local_share"] == pytest.approx(len(local) / len(filled))  # 3 of 5
    assert data["fallback_rate"] == pytest.approx(1 / len(tried))  # 1 of 4 tried on the device
    assert data["cost_usd"] == pytest.approx(sum(a.cost_usd for a in filled))  # the eval's 0.5 is not in it
    assert data["saved_usd"] == pytest.approx(sum(a.saved_usd for a in filled)) == pytest.approx(3 * 0.0008)
    assert data["fallback_reasons"] == {"empty": 1}
    assert [row["kind"] for row in data["by_kind"]] == ["compare", "explain", "design"]
    assert data["by_kind"][0]["fallback_rate"] == pytest.approx(0.5) and data["by_kind"][0]["main_reason"] == "empty"
    assert data["latency"]["local"]["total_p50_s"] == 2.5 and data["latency"]["fallback"]["total_p95_s"] == 8.0
    assert [d["date"] for d in data["daily"]] == ["2025-03-01", "2025-03-02"]

    since = json.loads(stats("--json", "--since", "2025-03-02").stdout)
    assert since["answers"] == 2 and since["since"] == DAY2.replace(hour=0).isoformat()
    assert since["local_share"] == pytest.approx(0.5) and since["fallback_rate"] == 0.0


def test_text_summary(filled, capsys):
    assert main(["stats"]) == 0
    out = capsys.readouterr().out
    assert "Answers: 5" in out
    assert "Answered on this device: 60.0% (3 of 5)" in out
    assert "Fell back to the cloud: 25.0% of 4 on-device attempts" in out and "empty (1)" in out
    assert "Spent on the cloud: $0.0019" in out and "Saved: $0.0024" in out
    assert "Which questions fall back:" in out
    table = out.split("Which questions fall back:")[1].splitlines()
    assert [line.split()[0] for line in table[2:5]] == ["compare", "explain", "design"]
    assert main(["stats", "--since", "2025-03-02T12:00:00+00:00"]) == 0
    assert "No answers recorded since 2025-03-02T12:00:00+00:00." in capsys.readouterr().out


def test_empty_ledger_is_friendly_and_json_stays_valid():
    done = stats()
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("No answers recorded yet")
    data = json.loads(stats("--json").stdout)
    assert data["answers"] == 0 and data["local_share"] is None and data["fallback_rate"] is None
    assert data["cost_usd"] == 0.0 and data["saved_usd"] == 0.0 and data["by_kind"] == []


def test_a_bad_date_is_a_usage_error():
    done = stats("--since", "last tuesday")
    assert done.returncode == 2
    assert "'last tuesday' is not a date" in done.stderr and "YYYY-MM-DD" in done.stderr
    assert "Traceback" not in done.stderr
