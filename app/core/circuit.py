"""A circuit breaker per cloud endpoint, so the next questions don't wait on one that is failing.

After `failures_to_open` failures in a row the endpoint is skipped for a cooldown (doubling on each
new opening, capped); a 429's Retry-After sets the cooldown directly. When the cooldown ends one
question may try again ("half-open"): success closes the circuit, failure re-opens it. LiteLLM's
router has the same idea (cooldown after failures); this one is per endpoint and reports in words.
The clock is injected, so tests and the eval drive it deterministically.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _State:
    failures: int = 0
    open_until: float = 0.0
    openings: int = 0
    last_error: str = ""


class CircuitBreaker:
    def __init__(self, *, failures_to_open: int = 2, cooldown_s: float = 30.0, max_cooldown_s: float = 600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.failures_to_open = failures_to_open
        self.cooldown_s = cooldown_s
        self.max_cooldown_s = max_cooldown_s
        self._clock = clock
        self._states: dict[str, _State] = {}
        self._lock = threading.Lock()

    def retry_in(self, key: str) -> float | None:
        """Seconds until `key` may be tried again; None when it may be tried now."""
        with self._lock:
            state = self._states.get(key)
            if state is None:
                return None
            left = state.open_until - self._clock()
            return left if left > 0 else None

    def last_error(self, key: str) -> str:
        with self._lock:
            state = self._states.get(key)
            return state.last_error if state else ""

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._states.pop(key, None)

    def failed(self, key: str, *, error: str = "", retry_after_s: float | None = None) -> None:
        with self._lock:
            state = self._states.setdefault(key, _State())
            state.failures += 1
            state.last_error = error
            if retry_after_s is not None and retry_after_s > 0:
                # The server said when to come back: believe it (within the cap), even on the first failure.
                state.open_until = self._clock() + min(retry_after_s, self.max_cooldown_s)
                state.openings += 1
            elif state.failures >= self.failures_to_open:
                cooldown = min(self.cooldown_s * 2 ** state.openings, self.max_cooldown_s)
                state.open_until = self._clock() + cooldown
                state.openings += 1
                state.failures = self.failures_to_open - 1  # half-open: one more failure re-opens at once
