"""A hybrid logical clock (Kulkarni et al., 2014): wall-clock milliseconds plus a counter plus the node.

Timestamps are strings that sort the way the clock orders them ("0001733330000000-0000-<node>"), so
SQL `ORDER BY hlc` and `max()` agree with `Timestamp` comparison. A device that hears of a later
timestamp (a pulled record) moves its clock past it, so anything it writes afterwards sorts after
what it has seen even when its own wall clock is behind: skew between devices changes no merge.

A remote timestamp far in the future (a device whose clock is set years ahead) would drag every
clock that sees it along; `observe` refuses to move more than MAX_DRIFT_MS past the local wall clock
and the server refuses such records (ClockTooFarAhead), so one broken clock cannot poison the rest.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

MAX_DRIFT_MS = 24 * 3600 * 1000  # a day: more than any honest clock error, less than a wrong year
_NODE = re.compile(r"[0-9a-f]{8,32}")
_FORMAT = re.compile(r"(\d{16})-([0-9a-f]{4})-([0-9a-f]{8,32})")
HLC_PATTERN = _FORMAT.pattern
MAX_COUNTER = 0xFFFF


class ClockTooFarAhead(ValueError):
    """A timestamp more than MAX_DRIFT_MS ahead of the wall clock."""


@dataclass(frozen=True, order=True)
class Timestamp:
    wall_ms: int
    counter: int
    node: str

    def __str__(self) -> str:
        return f"{self.wall_ms:016d}-{self.counter:04x}-{self.node}"

    @classmethod
    def parse(cls, text: str) -> Timestamp:
        match = _FORMAT.fullmatch(text)
        if match is None:
            raise ValueError(f"not a hybrid-clock timestamp: {text!r}")
        return cls(int(match[1]), int(match[2], 16), match[3])


def check_node(node: str) -> str:
    if not _NODE.fullmatch(node):
        raise ValueError(f"a clock node id is 8-32 lowercase hex digits, not {node!r}")
    return node


class HybridClock:
    """One device's clock. Thread-safe; `now_ms` is injectable so tests can skew it."""

    def __init__(self, node: str, *, last: Timestamp | None = None,
                 now_ms: Callable[[], int] = lambda: int(time.time() * 1000)) -> None:
        self.node = check_node(node)
        self._now_ms = now_ms
        self._wall, self._counter = (last.wall_ms, last.counter) if last is not None else (0, 0)
        self._lock = threading.Lock()

    @property
    def last(self) -> Timestamp:
        return Timestamp(self._wall, self._counter, self.node)

    def tick(self) -> Timestamp:
        """A timestamp for a local write: after every timestamp this clock made or observed."""
        with self._lock:
            physical = self._now_ms()
            if physical > self._wall:
                self._wall, self._counter = physical, 0
            else:
                self._bump()
            return Timestamp(self._wall, self._counter, self.node)

    def observe(self, remote: Timestamp) -> None:
        """Move past a timestamp heard from another device (raises ClockTooFarAhead, moving nothing)."""
        with self._lock:
            physical = self._now_ms()
            if remote.wall_ms > physical + MAX_DRIFT_MS:
                raise ClockTooFarAhead(f"{remote} is more than a day ahead of this clock")
            if remote.wall_ms > self._wall:
                self._wall, self._counter = remote.wall_ms, remote.counter
            elif remote.wall_ms == self._wall and remote.counter > self._counter:
                self._counter = remote.counter

    def _bump(self) -> None:
        # The counter overflows only after 65,536 writes in one millisecond: borrow the next one.
        if self._counter >= MAX_COUNTER:
            self._wall, self._counter = self._wall + 1, 0
        else:
            self._counter += 1
