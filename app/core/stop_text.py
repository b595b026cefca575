"""Turning a stream of token bytes into text the user may see.

Two things make this more than concatenation: a token can end in the middle of a UTF-8 character
(Vietnamese text does this constantly), and a stop sequence can arrive split over several tokens,
so any tail that could still become a stop sequence is held back until it cannot.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass


@dataclass(frozen=True)
class Released:
    text: str          # safe to show now
    stopped: bool      # a stop sequence was found; `text` ends just before it


class StopTextStream:
    """Feed token bytes; get the text that can be shown. Call `flush()` at the end of the stream."""

    def __init__(self, stop: tuple[str, ...] = ()) -> None:
        self._stop = tuple(s for s in stop if s)
        self._longest = max((len(s) for s in self._stop), default=0)
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""   # decoded text not yet released
        self.stopped = False

    def feed(self, data: bytes) -> Released:
        if self.stopped:
            return Released("", True)
        self._pending += self._decoder.decode(data)
        return self._release(final=False)

    def flush(self) -> Released:
        """End of stream: whatever is still held is released (a partial stop sequence is just text)."""
        if self.stopped:
            return Released("", True)
        self._pending += self._decoder.decode(b"", final=True)
        return self._release(final=True)

    def _release(self, *, final: bool) -> Released:
        text = self._pending
        hits = [i for i in (text.find(s) for s in self._stop) if i >= 0]
        if hits:
            self.stopped = True
            self._pending = ""
            return Released(text[: min(hits)], True)
        if final or not self._stop:
            self._pending = ""
            return Released(text, False)
        keep = self._held_tail(text)
        self._pending = text[len(text) - keep:] if keep else ""
        return Released(text[: len(text) - keep], False)

    def _held_tail(self, text: str) -> int:
        """Length of the longest tail of `text` that is a proper prefix of some stop sequence."""
        for n in range(min(len(text), self._longest - 1), 0, -1):
            tail = text[-n:]
            if any(s.startswith(tail) for s in self._stop):
                return n
        return 0
