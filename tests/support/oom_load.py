"""Load a model under a real address-space limit, so llama.cpp's allocations fail for real.

Run in a subprocess by tests/services/inference/test_loading.py: an RLIMIT_AS of "what is mapped now + 1.5 GB"
makes a large KV cache fail to allocate (as it would on a machine without the memory) without ever
touching the real machine's limits. Prints one JSON line: the context used, the failures, the notice.
"""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path

import llama_cpp  # noqa: F401  (its libraries are mapped before the limit is set)
import psutil

from app.core.load_plan import LoadPlan
from app.services.inference.loading import load_llama_chat, load_with_fallback


def main(path: Path, context_length: int, headroom: int) -> None:
    limit = psutil.Process().memory_info().vms + headroom
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    plan = LoadPlan(backend="llama.cpp", context_length=context_length, gpu_layers=0, total_layers=30, n_threads=2,
                    n_threads_batch=2)
    loaded = load_with_fallback(lambda p: load_llama_chat(path, model_id="model", plan=p), plan, label="the model")
    stream = loaded.backend.stream  # prove the loaded model answers
    from app.core.inference import GREEDY, ChatMessage, GenerationRequest, collect

    _, final = collect(stream(GenerationRequest((ChatMessage("user", "Hi"),), sampling=GREEDY, max_tokens=3)))
    print(json.dumps({"context_length": loaded.plan.context_length, "notice": loaded.notice,
                      "failures": [a.failure for a in loaded.attempts], "finish": final.finish_reason}))


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
