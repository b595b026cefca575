"""Every test runs with LANTERN_HOME in a temp dir, so nothing touches the real home."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def lantern_home(tmp_path, monkeypatch):
    home = tmp_path / "lantern-home"
    monkeypatch.setenv("LANTERN_HOME", str(home))
    for var in ("LANTERN_OFFLINE", "LANTERN_CONTEXT_LENGTH", "LANTERN_INTENT", "LANTERN_MODELS_DIR",
                "LANTERN_LOG_LEVEL", "LANTERN_N_THREADS", "LANTERN_GPU_LAYERS", "LANTERN_CHAT_MODEL",
                "LANTERN_EMBEDDING_MODEL", "LANTERN_THEME", "LANTERN_FONT_SIZE", "LANTERN_UI_LANGUAGE",
                "LANTERN_MAX_PARALLEL_DOWNLOADS", "LANTERN_ALLOW_PLAINTEXT_SECRETS", "LANTERN_CLOUD_CONSENT",
                "LANTERN_TIER", "LANTERN_ROLES", "LANTERN_CLOUD_PROVIDERS", "LANTERN_LOCAL_FIRST_TOKEN_S",
                "LANTERN_LOCAL_TOTAL_S", "LANTERN_CLOUD_MONTHLY_BUDGET_USD", "LANTERN_ROUTER_THRESHOLD"):
        monkeypatch.delenv(var, raising=False)
    from app.core import i18n

    i18n.reset()  # every test starts in English, whatever language an earlier test switched to
    yield home
    i18n.reset()


@pytest.fixture(scope="session")
def smollm2_gguf():
    """SmolLM2-135M-Instruct Q4_1 (98 MB), a real GGUF from PyPI, cached across runs."""
    from tests.support.fixture_models import fixture_model

    return fixture_model("smollm2")


@pytest.fixture(scope="session")
def qwen_gguf():
    """Qwen2.5-Coder-0.5B-Instruct Q4_K_M (491 MB), assembled from its six PyPI part packages."""
    from tests.support.fixture_models import fixture_model

    return fixture_model("qwen-coder-0.5b")


@pytest.fixture(scope="session")
def gemma_gguf():
    """Gemma 3 270M Q4_K_M (base model, 253 MB): a second architecture, from its four PyPI part packages."""
    from tests.support.fixture_models import fixture_model

    return fixture_model("gemma3-270m")


@pytest.fixture(scope="session")
def minilm_gguf():
    """all-MiniLM-L6-v2 converted to a GGUF embedding model (46 MB), built once from its PyPI wheel."""
    from tests.support.minilm_gguf import minilm_gguf

    return minilm_gguf()
