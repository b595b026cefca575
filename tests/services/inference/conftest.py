"""Cloud-model fixtures: llama.cpp's OpenAI-compatible server on SmolLM2 (one per session) and a
fault-injecting proxy in front of it (one per test, so a mode never leaks into the next test)."""

from __future__ import annotations

import pytest

CLOUD_TEST_KEY = "sk-lantern-test-0123456789abcdefSECRET"


@pytest.fixture(scope="session")
def cloud_server(smollm2_gguf):
    from tests.support.cloud_server import LlamaCloudServer

    with LlamaCloudServer(smollm2_gguf, api_key=CLOUD_TEST_KEY, alias="smollm2") as server:
        yield server


@pytest.fixture
def fault_proxy(cloud_server):
    from tests.support.fault_proxy import FaultProxy

    cloud_server.wait_idle()
    with FaultProxy(cloud_server.url) as proxy:
        yield proxy
