"""The OpenAI-compatible cloud engine against a real server: llama.cpp's `llama_cpp.server` on SmolLM2,
behind the fault-injecting proxy (tests/support/fault_proxy.py)."""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request
from email.utils import formatdate

import pytest

from app.core.errors import (
    CloudAuthFailed,
    CloudContextTooLong,
    CloudModelError,
    CloudRateLimited,
    CloudRequestRejected,
    CloudServerError,
    CloudTimeout,
    CloudUnreachable,
    OfflineModeEnabled,
    OutputFormatUnsupported,
)
from app.core.inference import GREEDY, CancelToken, ChatEngine, ChatMessage, GenerationRequest, OutputFormat, collect
from app.services.inference.cloud_backend import CloudChatEngine, CloudEndpoint, CloudTimeouts, open_cloud_engine
from app.services.inference.cloud_errors import parse_retry_after
from app.services.net import NetworkGate
from tests.services.inference.conftest import CLOUD_TEST_KEY
from tests.support.cloud_server import free_port
from tests.support.socket_guard import SocketGuard

QUESTION = (ChatMessage("user", "What is 2+2?"),)
REQUEST = GenerationRequest(QUESTION, sampling=GREEDY, max_tokens=24)
ONLINE = NetworkGate(offline=lambda: False)


def reader_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "lantern-cloud-stream"]


def engine_for(base_url: str, *, key: str | None = CLOUD_TEST_KEY, gate: NetworkGate = ONLINE,
               **timeouts: float) -> CloudChatEngine:
    return open_cloud_engine(CloudEndpoint("testcloud", base_url, "smollm2", key, context_length=2048),
                             gate=gate, timeouts=CloudTimeouts(**timeouts))


@pytest.fixture
def engine(fault_proxy):
    eng = engine_for(fault_proxy.base_url, first_token_s=60.0, idle_s=30.0)  # generous: the box may be busy
    yield eng
    eng.close()
    assert reader_threads() == []


def drain(engine, request=REQUEST, cancel=None):
    """(chunks, error): the chunks yielded before the stream ended or raised."""
    chunks = []
    try:
        for chunk in engine.stream(request, cancel):
            chunks.append(chunk)
    except CloudModelError as exc:
        return chunks, exc
    return chunks, None


def server_usage(cloud_server, request: GenerationRequest) -> dict:
    """What the server itself counts for this request (non-streamed, straight to it)."""
    body = {"model": "smollm2", "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "max_tokens": request.max_tokens, "temperature": 0.0, "top_p": request.sampling.top_p}
    req = urllib.request.Request(f"{cloud_server.base_url}/chat/completions", data=json.dumps(body).encode(),
                                 headers={"Authorization": f"Bearer {CLOUD_TEST_KEY}",
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as response:
        answer = json.load(response)
    return {"usage": answer["usage"], "text": answer["choices"][0]["message"]["content"]}


def test_streams_a_real_answer_with_the_servers_usage(engine, fault_proxy, cloud_server):
    fault_proxy.upstream_usage()
    assert isinstance(engine, ChatEngine)
    caps = engine.capabilities
    assert (caps.where, caps.backend, caps.model_id, caps.context_length) == ("cloud", "openai", "testcloud/smollm2",
                                                                              2048)
    chunks, error = drain(engine)
    assert error is None
    final = chunks[-1]
    text = "".join(c.text for c in chunks)
    assert "4" in text
    assert [c for c in chunks[:-1] if c.is_final] == [] and all(c.text for c in chunks[:-1])
    stats = final.stats
    assert stats is not None and stats.backend == "openai" and stats.model == "testcloud/smollm2"
    truth = server_usage(cloud_server, REQUEST)
    assert truth["text"] == text  # greedy: the streamed answer is the server's answer
    assert stats.prompt_tokens == truth["usage"]["prompt_tokens"] > 0
    assert stats.completion_tokens == truth["usage"]["completion_tokens"] > 0
    assert fault_proxy.usage_events == 1
    assert stats.finish_reason == final.finish_reason in ("stop", "length")
    assert stats.time_to_first_token_s is not None and stats.prompt_seconds == stats.time_to_first_token_s
    assert 0 < stats.time_to_first_token_s < final.elapsed_s and stats.generation_seconds > 0
    assert [c.elapsed_s for c in chunks] == sorted(c.elapsed_s for c in chunks)


def test_without_usage_the_counts_are_our_own(engine, fault_proxy):
    fault_proxy.strip_usage()  # llama.cpp's server sends none in streams anyway; make sure of it
    chunks, error = drain(engine, GenerationRequest(QUESTION, sampling=GREEDY, max_tokens=6))
    assert error is None and fault_proxy.usage_events == 0
    stats = chunks[-1].stats
    assert stats is not None and stats.finish_reason == "length"
    assert stats.prompt_tokens == engine.count_tokens(QUESTION) > 0
    assert stats.completion_tokens == len([c for c in chunks if c.text]) == 6  # one token per delta


def test_a_slow_first_token_times_out_on_our_clock(engine, fault_proxy):
    engine = engine_for(fault_proxy.base_url, first_token_s=1.0)
    fault_proxy.slow_first_token(6.0)
    began = time.perf_counter()
    chunks, error = drain(engine)
    took = time.perf_counter() - began
    assert isinstance(error, CloudTimeout) and error.debug_context["phase"] == "first_token"
    # Our 1 s deadline ended it, not the server's first token at 6 s (the margin absorbs a loaded box).
    assert 1.0 <= took < 6.0
    assert chunks == [] and "testcloud" in error.user_message and error.hint
    engine.close()


def test_a_stream_that_stalls_times_out_as_idle(engine, fault_proxy):
    whole = "".join(c.text for c in drain(engine)[0])
    stalling = engine_for(fault_proxy.base_url, first_token_s=60.0, idle_s=1.0)
    fault_proxy.stall_after(4)  # the role event, then three words, then silence on an open connection
    chunks, error = drain(stalling)
    partial = "".join(c.text for c in chunks)
    assert isinstance(error, CloudTimeout) and error.debug_context["phase"] == "idle"
    assert error.debug_context["partial_output"] is True and 1 <= len(chunks) <= 3  # fewer if the box is slow
    assert whole.startswith(partial) and error.debug_context["partial_text_chars"] == len(partial)
    stalling.close()


@pytest.mark.parametrize(("retry_after", "expected"), [("7", 7.0), (None, None)])
def test_429_is_rate_limited_with_retry_after(engine, fault_proxy, retry_after, expected):
    fault_proxy.status(429, headers={"Retry-After": retry_after} if retry_after else {})
    chunks, error = drain(engine)
    assert isinstance(error, CloudRateLimited) and error.retry_after_s == expected and chunks == []
    assert fault_proxy.request_count == 1  # the SDK's own retries are off


def test_retry_after_as_an_http_date():
    now = time.time()
    assert parse_retry_after(formatdate(now + 30, usegmt=True), now=now) == pytest.approx(30, abs=1)
    assert parse_retry_after("soon") is None and parse_retry_after(formatdate(now - 60), now=now) == 0.0


def test_500_is_a_server_error(engine, fault_proxy):
    fault_proxy.status(500)
    chunks, error = drain(engine)
    assert isinstance(error, CloudServerError) and error.debug_context["status"] == 500 and chunks == []


def test_context_too_long_and_other_rejections(engine, fault_proxy):
    fault_proxy.status(400, body={"error": {
        "message": "This model's maximum context length is 2048 tokens. However, you requested 3039 tokens.",
        "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}})
    assert isinstance(drain(engine)[1], CloudContextTooLong)
    fault_proxy.status(404, body={"error": {"message": "The model `nope` does not exist", "code": "model_not_found"}})
    error = drain(engine)[1]
    assert isinstance(error, CloudRequestRejected) and error.debug_context["provider_code"] == "model_not_found"


def test_a_stream_cut_mid_answer_is_a_server_error_with_the_real_partial_text(engine, fault_proxy):
    whole = "".join(c.text for c in drain(engine)[0])
    fault_proxy.drop_after(4)  # the role event, then three words; then the TCP connection is cut
    chunks, error = drain(engine)
    partial = "".join(c.text for c in chunks)
    assert isinstance(error, CloudServerError) and len(chunks) == 3
    assert partial and whole.startswith(partial) and partial != whole
    assert error.debug_context["partial_output"] is True
    assert error.debug_context["partial_text_chars"] == len(partial)
    assert "RemoteProtocolError" in error.debug_context["cause"]


def test_a_wrong_key_is_auth_failed(fault_proxy):
    engine = engine_for(fault_proxy.base_url, key="sk-wrong-key-0000000000000000")
    error = drain(engine)[1]
    assert isinstance(error, CloudAuthFailed)
    assert "lantern auth cloud --provider testcloud" in error.hint
    engine.close()


def test_a_closed_port_is_unreachable():
    engine = engine_for(f"http://127.0.0.1:{free_port()}/v1")
    error = drain(engine)[1]
    assert isinstance(error, CloudUnreachable) and "testcloud" in error.user_message
    engine.close()


def test_cancel_during_a_hang_ends_the_stream_within_200_ms(engine, fault_proxy):
    fault_proxy.hang()
    cancel = CancelToken()
    cancelled_at: list[float] = []

    def press_cancel() -> None:
        cancelled_at.append(time.perf_counter())
        cancel.cancel()

    timer = threading.Timer(0.5, press_cancel)
    timer.start()
    chunks = list(engine.stream(REQUEST, cancel))
    ended = time.perf_counter()
    timer.join()
    assert [c.finish_reason for c in chunks] == ["cancelled"]
    assert chunks[0].stats is not None and chunks[0].stats.time_to_first_token_s is None
    assert ended - cancelled_at[0] < 0.2
    assert reader_threads() == []  # the reader's blocked read was ended too
    assert fault_proxy.request_count == 1


def test_cancel_mid_answer_keeps_what_came(engine, fault_proxy):
    cancel = CancelToken()
    chunks = []
    for chunk in engine.stream(REQUEST, cancel):
        chunks.append(chunk)
        if len(chunks) == 2:
            cancel.cancel()
    assert chunks[-1].finish_reason == "cancelled" and chunks[-1].stats.completion_tokens == 2
    fault_proxy.passthrough()
    assert collect(engine.stream(REQUEST))[0]  # the connection pool still works after the abort


def test_offline_mode_refuses_before_any_socket(monkeypatch):
    guard = SocketGuard().install(monkeypatch)
    engine = engine_for("https://api.openai.com/v1", gate=NetworkGate(offline=lambda: True))
    with pytest.raises(OfflineModeEnabled) as info:
        list(engine.stream(REQUEST))
    assert "api.openai.com" in info.value.user_message
    assert guard.attempts == []
    engine.close()


def test_grammar_output_is_refused_up_front(engine):
    request = GenerationRequest(QUESTION, output=OutputFormat(kind="grammar", grammar='root ::= "a"'))
    with pytest.raises(OutputFormatUnsupported):
        engine.stream(request)


def test_the_key_never_shows(fault_proxy, caplog):
    caplog.set_level(logging.DEBUG)
    for name in ("openai", "httpx2", "httpcore2", "httpx", "httpcore", "app"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    engine = engine_for(fault_proxy.base_url, first_token_s=1.0)
    endpoint = engine.endpoint
    errors: list[BaseException] = []
    assert collect(engine.stream(REQUEST))[0]
    for fault in (lambda: fault_proxy.status(401, body={"error": {"message": f"Incorrect API key: {CLOUD_TEST_KEY}"}}),
                  lambda: fault_proxy.status(500), lambda: fault_proxy.drop_after(3),
                  lambda: fault_proxy.slow_first_token(3.0)):
        fault()
        error = drain(engine)[1]
        assert error is not None
        errors.append(error)
    assert isinstance(errors[0], CloudAuthFailed)
    engine.close()
    shown = [repr(engine), str(engine), repr(endpoint), str(endpoint)]
    shown += [f"{e!s} {e!r} {e.debug_context!r} {e.hint}" for e in errors]
    shown += [r.getMessage() + repr(r.args) for r in caplog.records]
    assert len(caplog.records) > 10  # the SDK and httpx did log at DEBUG
    leaks = [s for s in shown if CLOUD_TEST_KEY in s or CLOUD_TEST_KEY[-12:] in s]
    assert leaks == []
    assert "…CRET" in repr(endpoint)


def test_speed_comparison_against_the_raw_sdk(cloud_server):
    from app.services.inference.cloud_speed import compare_stream_speed

    endpoint = CloudEndpoint("testcloud", cloud_server.base_url, "smollm2", CLOUD_TEST_KEY, context_length=2048)
    result = compare_stream_speed(endpoint, gate=ONLINE, prompt="Count from one to ten.", max_tokens=32, runs=1)
    assert set(result) == {"engine_tps", "sdk_tps", "ratio", "runs"}
    assert result["engine_tps"] > 0 and result["sdk_tps"] > 0
    assert result["ratio"] == pytest.approx(result["engine_tps"] / result["sdk_tps"])
    assert reader_threads() == []
