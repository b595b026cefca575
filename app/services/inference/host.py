"""Owns the loaded models: one per slot, each driven by its own single worker thread.

`ModelHost` is itself a `ChatEngine` over its chat slot: the tutor streams through it from any
thread, and its `capabilities` are the loaded model's (so "where did this answer come from" is
read from the engine, never assumed).

llama.cpp and MLX contexts are not thread-safe, so every call into a loaded model (load, stream,
count, close) runs on that model's one worker; callers on any thread (the GUI's op helper, the
CLI) get plain iterators and futures back. Loading a new model into a slot closes the old one first
and returns its memory before the new one is read, so two large models are never resident at once.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any, Literal

from app.core.inference import CancelToken, ChatMessage, Chunk, EngineCapabilities, GenerationRequest
from app.services.inference.memory import release_freed_memory

log = logging.getLogger(__name__)

Slot = Literal["chat"]  # one slot today; a second local role (e.g. a code model) adds a name here
_END = object()


@dataclass
class _Slot:
    executor: ThreadPoolExecutor
    backend: Any = None
    label: str = ""


class ModelHost:
    def __init__(self) -> None:
        self._slots: dict[str, _Slot] = {}
        self._lock = threading.Lock()
        self._cancels: set[CancelToken] = set()

    def _slot(self, slot_name: Slot) -> _Slot:
        with self._lock:
            slot = self._slots.get(slot_name)
            if slot is None:
                slot = _Slot(ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"lantern-{slot_name}"))
                self._slots[slot_name] = slot
            return slot

    def load(self, slot_name: Slot, loader: Callable[[], Any], *, label: str) -> Future[Any]:
        """Close the slot's current model, then run `loader` on the slot's worker. The future's
        result is whatever `loader` returns (a backend, or a `Loaded` wrapper with `.backend`)."""
        slot = self._slot(slot_name)

        def swap() -> Any:
            _close(slot)
            result = loader()
            slot.backend = getattr(result, "backend", result)
            slot.label = label
            log.info("loaded %s as the %s model", label, slot_name)
            return result

        return slot.executor.submit(swap)

    def unload(self, slot_name: Slot) -> Future[None]:
        slot = self._slot(slot_name)
        return slot.executor.submit(_close, slot)

    def loaded(self, slot_name: Slot) -> str | None:
        slot = self._slots.get(slot_name)
        return slot.label if slot is not None and slot.backend is not None else None

    @property
    def capabilities(self) -> EngineCapabilities:
        """The loaded chat model's capabilities (raises when none is loaded)."""
        caps: EngineCapabilities = _require(self._slot("chat")).capabilities
        return caps

    def count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        slot = self._slot("chat")
        return slot.executor.submit(lambda: _require(slot).count_tokens(messages)).result()

    def stream(self, request: GenerationRequest, cancel: CancelToken | None = None) -> Iterator[Chunk]:
        """Generate on the chat worker; chunks arrive here as they are made. Abandoning the iterator
        (or `cancel`) stops generation at the next token."""
        slot = self._slot("chat")
        token = CancelToken(parent=cancel)  # ours to set when the consumer walks away; theirs stays untouched
        chunks: queue.Queue[Any] = queue.Queue()

        def work() -> None:
            try:
                for chunk in _require(slot).stream(request, token):
                    chunks.put(chunk)
            except BaseException as exc:  # handed to the consumer, raised there
                chunks.put(exc)
            finally:
                chunks.put(_END)

        with self._lock:
            self._cancels.add(token)
        slot.executor.submit(work)
        try:
            while (item := chunks.get()) is not _END:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            token.cancel()  # no-op when finished; stops the worker if the consumer walked away
            with self._lock:
                self._cancels.discard(token)

    def close(self, *, timeout: float = 10.0) -> None:
        """On quit: cancel what runs, close every model, stop the workers."""
        with self._lock:
            for token in self._cancels:
                token.cancel()
            slots = list(self._slots.values())
            self._slots.clear()
        for slot in slots:
            done = slot.executor.submit(_close, slot)
            try:
                done.result(timeout=timeout)
            except FutureTimeout:
                # Still finishing a call; the queued close runs as soon as it returns.
                log.warning("the %s model is still busy after %.0f s; it will close when it finishes", slot.label,
                            timeout)
            except Exception:
                log.exception("closing a model failed")
            slot.executor.shutdown(wait=False)


def _require(slot: _Slot) -> Any:
    if slot.backend is None:
        raise RuntimeError("no model is loaded in this slot")
    return slot.backend


def _close(slot: _Slot) -> None:
    backend, slot.backend = slot.backend, None
    if backend is not None:
        backend.close()
        del backend
        release_freed_memory()  # llama.cpp frees weights and KV cache when the last Python reference goes
        log.info("unloaded %s", slot.label)
