"""What our cloud engine costs in streaming speed, against the raw `openai` SDK on the same server.

The engine reads the SDK stream on a background thread and hands each delta over a queue; this
measures whether that costs decode speed. Both sides send the same greedy request to the same
endpoint, in interleaved runs (engine, SDK, engine, SDK, ...) so a server that warms up or slows down
affects both alike, and each side is measured the same way: tokens per second over the decode phase
(first content delta to last), counting completion tokens from the server's usage when it sends them,
else one per content delta (the engine's own rule). The figure is the median of `runs`.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from app.core.inference import ChatMessage, GenerationRequest, Sampling, collect
from app.services.inference.cloud_backend import CloudChatEngine, CloudEndpoint, CloudTimeouts
from app.services.net import NetworkGate


def _decode_tps(tokens: int, first: float | None, last: float | None) -> float | None:
    if first is None or last is None or tokens < 2 or last <= first:
        return None
    return (tokens - 1) / (last - first)  # the first token's time belongs to the prompt


def _engine_run(engine: CloudChatEngine, request: GenerationRequest) -> float | None:
    _text, final = collect(engine.stream(request))
    assert final.stats is not None
    return final.stats.generation_tokens_per_second


def _sdk_run(client: Any, endpoint: CloudEndpoint, request: GenerationRequest) -> float | None:
    stream = client.chat.completions.create(
        model=endpoint.model, messages=[{"role": m.role, "content": m.content} for m in request.messages],
        max_tokens=request.max_tokens, temperature=request.sampling.temperature, top_p=request.sampling.top_p,
        seed=request.sampling.seed, stream=True, stream_options={"include_usage": True})
    first = last = None
    deltas, usage_tokens = 0, None
    with stream:
        for event in stream:
            if event.usage is not None:
                usage_tokens = event.usage.completion_tokens
            for choice in event.choices:
                if choice.index == 0 and choice.delta is not None and choice.delta.content:
                    now = time.perf_counter()
                    first = now if first is None else first
                    last = now
                    deltas += 1
    return _decode_tps(usage_tokens if usage_tokens is not None else deltas, first, last)


def compare_stream_speed(endpoint: CloudEndpoint, *, gate: NetworkGate, prompt: str, max_tokens: int = 128,
                         runs: int = 3) -> dict[str, Any]:
    """{"engine_tps", "sdk_tps", "ratio" (engine / SDK), "runs"}; a tps is None when no run decoded two
    tokens (then ratio is None too). One untimed warm-up request each first."""
    import openai

    if runs < 1:
        raise ValueError(f"runs must be >= 1, got {runs}")
    request = GenerationRequest((ChatMessage("user", prompt),), sampling=Sampling(
        temperature=0.0, repeat_penalty=1.0, seed=0), max_tokens=max_tokens)
    timeouts = CloudTimeouts(first_token_s=120.0, idle_s=60.0, total_s=600.0)
    engine = CloudChatEngine(endpoint, gate=gate, timeouts=timeouts)
    http = gate.http_client(timeout=120.0)
    client = openai.OpenAI(base_url=endpoint.base_url, api_key=endpoint.api_key or "not-needed", max_retries=0,
                           http_client=http)
    engine_tps: list[float] = []
    sdk_tps: list[float] = []
    try:
        _engine_run(engine, request)  # warm-up, not timed: connections, the server's prompt cache
        _sdk_run(client, endpoint, request)
        for _n in range(runs):
            if (e := _engine_run(engine, request)) is not None:
                engine_tps.append(e)
            if (s := _sdk_run(client, endpoint, request)) is not None:
                sdk_tps.append(s)
    finally:
        engine.close()
        client.close()
    e_med = statistics.median(engine_tps) if engine_tps else None
    s_med = statistics.median(sdk_tps) if sdk_tps else None
    return {"engine_tps": e_med, "sdk_tps": s_med, "ratio": e_med / s_med if e_med and s_med else None,
            "runs": runs}
