"""Fixtures shared by the service tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_mlx_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny llama-type MLX model folder with a real BPE tokenizer and ChatML template (random
    weights: for the backend's mechanics, not its answers), built once per session in ~1 s."""
    pytest.importorskip("mlx.core", reason="mlx is not installed (pip install 'mlx[cpu]' mlx-lm)")
    from tests.support.tiny_mlx_model import build_tiny_mlx_model

    return build_tiny_mlx_model(tmp_path_factory.mktemp("mlx-model") / "tiny-llama")
