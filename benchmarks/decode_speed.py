"""Measure llama.cpp decode speed for GGUF files on this machine and print it beside Lantern's
estimate for the same bytes, to check the speed model in resources/hardware/performance.toml.

    python benchmarks/decode_speed.py MODEL.gguf [MODEL.gguf ...] [--tokens 128] [--runs 3]

Uses threads = physical cores and n_ctx = 2048, greedy sampling, and reports the median of the
runs' generation rates (llama.cpp's own eval timings, first token excluded).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from app.core.estimates import SpeedModel
from app.services.catalog_store import default_performance_table
from app.services.hardware.profiler import capture_profile
from app.services.paths import resolve_paths

PROMPT = "Explain step by step how a Python for-loop walks over a list, with a short example."


def measure(path: Path, *, threads: int, tokens: int, runs: int) -> tuple[float, float]:
    from llama_cpp import Llama

    start = time.perf_counter()
    llm = Llama(model_path=str(path), n_ctx=2048, n_threads=threads, n_threads_batch=threads, verbose=False)
    load_s = time.perf_counter() - start
    rates = []
    for _ in range(runs):
        llm.reset()
        first: float | None = None
        n = 0
        # EOS is banned so every run generates exactly `tokens` tokens.
        stream = llm(PROMPT, max_tokens=tokens, temperature=0.0, stream=True, logit_bias={llm.token_eos(): -1e9})
        for _chunk in stream:
            n += 1
            if first is None:
                first = time.perf_counter()
        end = time.perf_counter()
        if first is not None and n > 1:
            rates.append((n - 1) / (end - first))
    llm.close()
    return statistics.median(rates), load_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    profile = capture_profile(resolve_paths().models_dir)
    threads = profile.cpu.physical_cores or 1
    speed = SpeedModel(default_performance_table(), profile)
    print(f"machine: {profile.cpu.brand}, {threads} physical cores, features {profile.cpu.features}")
    for path in args.models:
        size = path.stat().st_size
        measured, load_s = measure(path, threads=threads, tokens=args.tokens, runs=args.runs)
        estimate = speed.tokens_per_second(gpu_bytes=0, cpu_bytes=size, gpu=None)
        print(f"{path.name}: {size:,} bytes, load {load_s:.2f} s, measured {measured:.1f} tok/s, "
              f"estimated {estimate:.1f} tok/s (ratio {estimate / measured:.2f})")


if __name__ == "__main__":
    main()
