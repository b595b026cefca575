"""Every outbound connection goes through the network gate (app/services/net.py).

The import-linter contract in pyproject.toml keeps HTTP libraries out of the rest of `app`; this
scan also catches what a module-level contract cannot: raw sockets and stdlib HTTP, and a client
built outside the gate by a module that may import httpx2 for its types (the downloads package).
"""

from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "app"
GATE = "services/net.py"
DOWNLOADS = "services/downloads/"
CLOUD = "services/inference/"

# module -> where importing it is allowed (paths relative to app/, a trailing "/" is a folder)
NETWORK_MODULES: dict[str, tuple[str, ...]] = {
    # downloads and the cloud engine: exception, timeout and response types only (see CLIENT_CALLS)
    "httpx2": (GATE, DOWNLOADS, CLOUD + "cloud_backend.py", CLOUD + "cloud_errors.py", "services/sync/client.py"),
    "httpx": (GATE,),
    "huggingface_hub": (GATE, DOWNLOADS + "hub.py"),
    # cloud_abort shuts down the socket of a request being cancelled (SHUT_RDWR); it opens none.
    "socket": (CLOUD + "cloud_abort.py",),
    **{name: () for name in ("urllib.request", "http.client", "requests", "urllib3", "aiohttp",
                             "httpcore", "httpcore2", "websockets", "websocket", "ftplib", "smtplib", "telnetlib",
                             "asyncio.streams", "socketserver", "xmlrpc.client")},
}
# Calls that make a client or a request, allowed only in the gate.
CLIENT_CALLS = {"Client", "AsyncClient", "HTTPTransport", "AsyncHTTPTransport", "get", "post", "put", "patch",
                "delete", "head", "options", "request", "stream"}
HTTP_LIBS = {"httpx", "httpx2"}


def allowed(module: str, rel: str) -> bool:
    for name, places in NETWORK_MODULES.items():
        if module == name or module.startswith(name + "."):
            return any(rel == p or (p.endswith("/") and rel.startswith(p)) for p in places)
    return True


def python_files() -> list[tuple[str, ast.Module]]:
    return [(p.relative_to(APP).as_posix(), ast.parse(p.read_text(encoding="utf-8"), filename=str(p)))
            for p in sorted(APP.rglob("*.py"))]


def test_network_libraries_are_imported_only_where_allowed():
    bad = []
    for rel, tree in python_files():
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr == "import_module" and node.args and isinstance(node.args[0], ast.Constant):
                names = [str(node.args[0].value)]  # importlib.import_module("httpx")
            bad += [f"{rel}:{node.lineno} imports {n}" for n in names if not allowed(n, rel)]
    assert not bad, "open connections only through app.services.net:\n" + "\n".join(bad)


def test_http_clients_are_made_only_by_the_gate():
    bad = []
    for rel, tree in python_files():
        if rel == GATE:
            continue
        aliases = {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.Import)
                   for a in n.names if a.name in HTTP_LIBS}
        direct = {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                  and n.module in HTTP_LIBS for a in n.names if a.name in CLIENT_CALLS}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            if (isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id in aliases
                    and f.attr in CLIENT_CALLS) or (isinstance(f, ast.Name) and f.id in direct):
                bad.append(f"{rel}:{node.lineno}: {ast.unparse(f)}(...)")
    assert not bad, "make HTTP clients with NetworkGate.http_client():\n" + "\n".join(bad)


def test_the_scan_sees_what_it_should():
    assert not allowed("socket", "services/knowledge/indexer.py")
    assert not allowed("urllib.request", "services/net.py")
    assert not allowed("httpx2", "ui/main_window.py") and allowed("httpx2", "services/downloads/transfer.py")
    assert not allowed("huggingface_hub.utils", "services/downloads/transfer.py")
    assert allowed("urllib.parse", "core/model_spec.py") and allowed("ssl", "services/downloads/hub.py")
