"""`lantern eval routing`'s runner on a few real queries: SmolLM2 on the device, llama.cpp's server as the
cloud. The summary's numbers are recomputed here from the per-query records."""

from __future__ import annotations

import pytest

from app.cli import main
from app.core.settings import LanternSettings
from app.services.app_services import AppServices
from app.services.evaluation.eval_set import load_eval_set
from app.services.evaluation.routing_eval import CloudUnderTest, RoutingEval, routing_report
from app.services.paths import resolve_paths
from tests.services.inference.conftest import CLOUD_TEST_KEY

pytestmark = pytest.mark.slow
IDS = ("pfz-define-002", "pfz-design-001", "pfz-off-course-001")  # a plain one, a needs-cloud one, an off-course one


def test_a_small_routing_run_reports_consistent_numbers(minilm_gguf, smollm2_gguf, cloud_server, capsys):
    assert main(["models", "import", str(minilm_gguf)]) == 0
    assert main(["models", "import", str(smollm2_gguf)]) == 0
    capsys.readouterr()
    queries = [q for q in load_eval_set() if q.id in IDS]
    assert len(queries) == 3 and any(q.needs_cloud for q in queries)
    cloud = CloudUnderTest(base_url=cloud_server.base_url, model="smollm2", api_key=CLOUD_TEST_KEY)
    with AppServices(LanternSettings(n_threads=2), resolve_paths()) as services:
        run = RoutingEval(services, cloud, answer_tokens=32).run(queries, split=None, measure_speed=False)
    report = routing_report(run)
    records, summary = report["records"], report["summary"]
    assert [r["query_id"] for r in records] == [q.id for q in queries]
    cloud_answered = [r for r in records if r["route"] == "cloud"]
    assert summary["local_share"] == pytest.approx(1 - len(cloud_answered) / 3)
    design = next(r for r in records if r["query_id"] == "pfz-design-001")
    assert design["decided_cloud"] and design["route"] == "cloud" and design["cost_usd"] > 0  # priced as gpt-4o-mini
    off = next(r for r in records if r["query_id"] == "pfz-off-course-001")
    assert not off["covered"] and off["route"] == "local" and off["cost_usd"] == 0.0
    assert summary["decision_p50_ms"] is not None and summary["decision_p50_ms"] < 50
    assert summary["targets"]["local_share"]["target"] == 0.75 and summary["stream_speed"] is None
