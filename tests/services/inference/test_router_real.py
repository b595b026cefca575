"""The router with real parts: SmolLM2 on llama.cpp on this machine, and llama.cpp's OpenAI-compatible
server on loopback as the "cloud", behind the fault-injecting proxy. Each fault lands on its documented
behaviour, what was sent is exactly what the server received, and every answer is in the ledger."""

from __future__ import annotations

import pytest

from app.cli import main
from app.core.settings import LanternSettings
from app.services.app_services import AppServices
from app.services.inference.router import AttemptAbandoned
from app.services.knowledge.tutor_session import Answer
from app.services.paths import resolve_paths
from tests.services.inference.conftest import CLOUD_TEST_KEY
from tests.support.courses import loops_pack

pytestmark = pytest.mark.slow
HARD = "Compare while loops and for loops in detail"  # the router's compare rule sends it to the cloud


@pytest.fixture
def hybrid(tmp_path, minilm_gguf, smollm2_gguf, fault_proxy, monkeypatch, capsys):
    assert main(["models", "import", str(minilm_gguf)]) == 0
    assert main(["models", "import", str(smollm2_gguf)]) == 0
    assert main(["courses", "import", str(loops_pack(tmp_path)), "--no-index"]) == 0
    capsys.readouterr()
    monkeypatch.setenv("LANTERN_CLOUD_KEY_LOOP", CLOUD_TEST_KEY)
    settings = LanternSettings(n_threads=2, cloud_consent="when_needed", cloud_providers={"loop": fault_proxy.base_url},
                               roles={"fallback": "cloud:loop/smollm2"})
    with AppServices(settings, resolve_paths()) as services:
        services.ensure_indexed("loops")
        loaded = services.open_chat(services.chat_model(None))
        yield services, loaded.backend, fault_proxy
        loaded.backend.close()


def ask(hybrid, question: str) -> tuple[list, Answer]:
    services, engine, _proxy = hybrid
    tutor = services.tutor("loops", engine=engine, answer_tokens=48, router=services.chat_router(engine))
    try:
        events = list(tutor.ask(question))
    finally:
        tutor.close()
    return events, next(e for e in events if isinstance(e, Answer))


def test_a_hard_question_is_answered_by_the_cloud_and_recorded(hybrid):
    services, _engine, proxy = hybrid
    _events, answer = ask(hybrid, HARD)
    route = answer.route
    assert route is not None and route.route == "cloud" and answer.where == "cloud"
    assert route.reason_code.startswith("rule:") and answer.text.strip()
    assert route.sent_to_cloud is not None
    assert any(HARD in m.content for m in route.sent_to_cloud)  # the question, with its passages
    assert proxy.request_count >= 1
    entry = services.ledger.entries()[-1]
    assert entry.route == "cloud" and entry.where == "cloud" and entry.tokens_in > 0 and entry.tokens_out > 0
    assert entry.cost_if_cloud_usd and entry.cost_if_cloud_usd > 0  # priced as the tier's reference model


def test_a_server_error_fails_over_to_the_device_and_the_endpoint_cools_down(hybrid):
    services, _engine, proxy = hybrid
    proxy.status(500)
    _events, answer = ask(hybrid, HARD)
    assert answer.route.route == "local" and answer.route.failed_over and answer.where == "on-device"
    assert answer.route.reason_code == "failover:server_error"
    seen = proxy.request_count
    assert seen == 2  # one retry before the first token, then no more
    _events, again = ask(hybrid, HARD)
    assert proxy.request_count == seen  # the breaker is open: the next question did not wait on it
    assert again.route.reason_code == "kept_local:cooling_down"
    assert [e.route for e in services.ledger.entries()] == ["local", "local"]


def test_a_stream_cut_mid_answer_is_replaced_and_the_shown_text_kept(hybrid):
    _services, _engine, proxy = hybrid
    proxy.drop_after(4)
    events, answer = ask(hybrid, HARD)
    set_aside = [e.attempt for e in events if isinstance(e, AttemptAbandoned)]
    assert set_aside and set_aside[0].where == "cloud" and set_aside[0].text
    assert set_aside[0].reason_code == "cloud_broke_off"
    assert answer.route.route == "local" and answer.route.attempts == tuple(set_aside)


def test_a_wrong_key_fails_over_with_a_reason(hybrid, monkeypatch):
    monkeypatch.setenv("LANTERN_CLOUD_KEY_LOOP", "sk-wrong-key-0000000000000000")
    _events, answer = ask(hybrid, HARD)
    assert answer.route.route == "local" and answer.route.reason_code == "failover:bad_key"
