"""The network gate (app/services/net.py) against real servers on 127.0.0.1 and a socket guard."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from app.core.errors import OfflineModeEnabled
from app.services.downloads.hub import HubClient
from app.services.net import NetworkGate, is_loopback_host, is_loopback_url
from tests.services.downloads.test_downloads import FAST_RETRY, REPO, payload
from tests.support.hf_server import FakeHub
from tests.support.socket_guard import SocketGuard

OUTSIDE = "http://203.0.113.1:9"  # TEST-NET-3: a real non-loopback address nobody answers on


class Switch:
    """The live offline setting a gate reads (the app's settings object in real life)."""

    def __init__(self, offline: bool) -> None:
        self.offline = offline

    def gate(self) -> NetworkGate:
        return NetworkGate(offline=lambda: self.offline)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        server: LocalServer = self.server  # type: ignore[assignment]
        server.seen.append((self.path, dict(self.headers)))
        if self.path.startswith("http://"):  # absolute form: we are being used as a proxy
            body = b"via proxy"
        elif self.path == "/redirect-out":
            self.send_response(302)
            self.send_header("Location", f"{OUTSIDE}/x")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        else:
            body = self.headers.get("User-Agent", "").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class LocalServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: list[tuple[str, dict[str, str]]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"


@pytest.fixture
def server() -> Iterator[LocalServer]:
    srv = LocalServer()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.fixture
def guard(monkeypatch) -> SocketGuard:
    return SocketGuard().install(monkeypatch)


@pytest.fixture(autouse=True)
def no_proxy_env(monkeypatch):
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy",
                "no_proxy"):
        monkeypatch.delenv(var, raising=False)


def test_loopback_names_and_addresses():
    for host in ("127.0.0.1", "127.3.2.1", "::1", "[::1]", "localhost", "LOCALHOST.", "api.localhost",
                 "::ffff:127.0.0.1"):
        assert is_loopback_host(host), host
    for host in ("203.0.113.1", "10.0.0.1", "::2", "huggingface.co", "localhost.example.com", "127.0.0.1.nip.io",
                 "", None):
        assert not is_loopback_host(host), host
    assert is_loopback_url("http://localhost:8080/v1") and not is_loopback_url("https://huggingface.co/x")


def test_loopback_works_offline_and_carries_the_user_agent(server, guard):
    gate = Switch(offline=True).gate()
    with gate.http_client() as http:
        r = http.get(f"{server.url}/ua")
    assert r.status_code == 200 and r.text.startswith("Lantern/")
    assert server.seen[-1][1]["User-Agent"].startswith("Lantern/")
    assert guard.attempts == []


def test_the_network_is_refused_offline_before_any_socket_or_dns(guard):
    gate = Switch(offline=True).gate()
    with gate.http_client() as http:
        for url in (f"{OUTSIDE}/x", "https://huggingface.co/api/models/x", "http://[2001:db8::1]/"):
            with pytest.raises(OfflineModeEnabled) as err:
                http.get(url)
            assert "Offline mode is on" in err.value.user_message and "offline" in (err.value.hint or "").lower()
        with pytest.raises(OfflineModeEnabled), http.stream("GET", f"{OUTSIDE}/big"):
            pass
    assert guard.attempts == []  # no connect, and not even a DNS query for huggingface.co


def test_toggling_offline_reaches_a_client_already_made(server, guard, monkeypatch):
    """The setting is read per request: an existing client (and its proxy routes) follows the toggle."""
    monkeypatch.setenv("HTTP_PROXY", server.url)  # the loopback server doubles as an HTTP proxy
    switch = Switch(offline=False)
    http = switch.gate().http_client()
    try:
        assert http.get(f"{OUTSIDE}/x").text == "via proxy"  # online: through the proxy from the environment
        assert server.seen[-1][0] == f"{OUTSIDE}/x"
        seen = len(server.seen)
        switch.offline = True
        with pytest.raises(OfflineModeEnabled):
            http.get(f"{OUTSIDE}/x")
        assert len(server.seen) == seen  # refused before the proxy heard of it
        assert http.get(f"{server.url}/ua").text.startswith("Lantern/")  # loopback still fine, and direct
        assert server.seen[-1][0] == "/ua"
        switch.offline = False
        assert http.get(f"{OUTSIDE}/x").text == "via proxy"
    finally:
        http.close()
    assert guard.attempts == []


def test_a_redirect_off_loopback_is_refused_offline(server, guard):
    with Switch(offline=True).gate().http_client() as http, pytest.raises(OfflineModeEnabled):
        http.get(f"{server.url}/redirect-out")
    assert guard.attempts == []


def test_loopback_never_goes_through_a_proxy(server, guard, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", OUTSIDE)  # a proxy off this machine: using it offline would leak
    for offline in (True, False):
        with Switch(offline=offline).gate().http_client() as http:
            assert http.get(f"{server.url}/ua").status_code == 200
    assert guard.attempts == []


def test_the_policy_check_names_what_was_refused():
    switch = Switch(offline=True)
    gate = switch.gate()
    with pytest.raises(OfflineModeEnabled, match="will not download Org/Repo"):
        gate.refuse_if_offline("Org/Repo")
    gate.refuse_if_offline("a local model server", url="http://127.0.0.1:8080/v1")  # loopback: allowed
    with pytest.raises(OfflineModeEnabled):
        gate.refuse_if_offline("the cloud model", url="https://api.openai.com/v1")
    switch.offline = False
    gate.refuse_if_offline("Org/Repo")
    assert gate.offline is False


def test_an_unreadable_setting_keeps_the_gate_shut():
    def broken() -> bool:
        raise RuntimeError("settings are being replaced")

    assert NetworkGate(offline=broken).offline is True


def test_tls_proxies_and_transport_are_not_for_callers_to_change():
    gate = Switch(offline=False).gate()
    for kw in ({"verify": False}, {"transport": None}, {"proxy": "http://x"}, {"mounts": {}}, {"trust_env": False}):
        with pytest.raises(TypeError, match="network gate"):
            gate.http_client(**kw)


def test_huggingface_hub_requests_go_through_the_gate(guard):
    """huggingface_hub's shared client is the gate's: offline, its metadata calls never reach a socket."""
    from huggingface_hub import get_hf_file_metadata
    from huggingface_hub.utils import _http

    import app.services.net as net

    gate = Switch(offline=True).gate()
    with gate.huggingface_hub(), pytest.raises(OfflineModeEnabled):
        get_hf_file_metadata(f"{OUTSIDE}/org/repo/resolve/main/m.gguf", endpoint=OUTSIDE)
    assert _http._GLOBAL_CLIENT_FACTORY is net._hf_client
    # Outside a gate's block huggingface_hub may reach loopback only.
    with pytest.raises(OfflineModeEnabled):
        get_hf_file_metadata(f"{OUTSIDE}/org/repo/resolve/main/m.gguf", endpoint=OUTSIDE)
    assert guard.attempts == []


def test_hub_metadata_and_downloads_send_the_lantern_user_agent(tmp_path):
    from app.services.downloads.transfer import FileTransfer

    with FakeHub() as hub:
        data = payload(64 << 10)
        hub.add_file(REPO, "model.gguf", data)
        switch = Switch(offline=False)
        hc = HubClient(gate=switch.gate(), endpoint=hub.endpoint, retry=FAST_RETRY)
        remote = hc.file_metadata(REPO, "model.gguf")
        assert hc.list_files(REPO)
        FileTransfer(hc, partial_dir=tmp_path / ".partial").run(remote, tmp_path / "m.gguf")
        assert (tmp_path / "m.gguf").read_bytes() == data
        agents = {(r.kind, r.headers.get("User-Agent", "").split("/", 1)[0]) for r in hub.requests}
        assert agents >= {("resolve", "Lantern"), ("api", "Lantern"), ("cdn", "Lantern")}, agents
        switch.offline = True  # the same HubClient, no new one: refused at once
        with pytest.raises(OfflineModeEnabled):
            hc.file_metadata(REPO, "model.gguf")


def test_an_httpx_client_for_the_openai_sdk(server):
    httpx = pytest.importorskip("httpx")
    with Switch(offline=True).gate().httpx_client() as http:
        assert isinstance(http, httpx.Client)
        assert http.get(f"{server.url}/ua").text.startswith("Lantern/")
        with pytest.raises(OfflineModeEnabled):
            http.get(f"{OUTSIDE}/x")


def test_the_async_client_follows_the_same_rules(server, guard):
    import asyncio

    switch = Switch(offline=True)

    async def go() -> str:
        async with switch.gate().async_http_client() as http:
            agent = (await http.get(f"{server.url}/ua")).text
            with pytest.raises(OfflineModeEnabled):
                await http.get(f"{OUTSIDE}/x")
            return agent

    assert asyncio.run(go()).startswith("Lantern/")
    assert guard.attempts == []
