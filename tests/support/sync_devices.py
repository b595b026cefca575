"""Client devices for sync tests: each one its own LANTERN_HOME (database, secrets file), its own clock
node and sync client, talking to a real server on 127.0.0.1.

`cut` makes the next matching request fail the way a dropped connection does: "request" before it
reaches the server, "response" after the server answered (so a push is stored but not acknowledged,
a page is sent but never applied).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2

from app.core.settings import LanternSettings
from app.services.app_services import AppServices
from app.services.net import NetworkGate
from app.services.paths import resolve_paths
from app.services.sync.client import SyncClient

PASSWORD = "correct horse battery"
_users = itertools.count(1)


def new_user(prefix: str = "learner") -> str:
    return f"{prefix}-{next(_users)}"


@dataclass
class Cut:
    phase: str  # "request" | "response"
    method: str  # "POST" (push) | "GET" (pull)
    remaining: int = 1


@dataclass
class Device:
    home: Path
    offline: bool = False
    cuts: list[Cut] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.services = AppServices(LanternSettings(allow_plaintext_secrets=True),
                                    resolve_paths(environ={"LANTERN_HOME": str(self.home)}))
        self.record = self.services.record
        self.gate = NetworkGate(offline=lambda: self.offline)
        self.client = SyncClient(self.record, gate=self.gate, secrets=self.services.secrets, page_size=7,
                                 http_options={"event_hooks": {"request": [self._on_request],
                                                               "response": [self._on_response]}})

    def cut(self, phase: str, method: str) -> None:
        self.cuts.append(Cut(phase, method))

    def _take(self, phase: str, request: Any) -> bool:
        for cut in self.cuts:
            if cut.phase == phase and cut.method == request.method and "/v1/records" in str(request.url):
                self.cuts.remove(cut)
                return True
        return False

    def _on_request(self, request: Any) -> None:
        if self._take("request", request):
            raise httpx2.ConnectError("test: connection cut before the request was sent", request=request)

    def _on_response(self, response: Any) -> None:
        if self._take("response", response.request):
            raise httpx2.ReadError("test: connection cut before the reply arrived", request=response.request)

    def close(self) -> None:
        self.services.close()
