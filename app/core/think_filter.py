"""Thinking models: how tutoring turns their reasoning off, and keeping reasoning text off screen.

Hybrid models (Qwen3) write a hidden `<think>…</think>` block before every answer unless told not
to; at CPU speeds that is tens of seconds before the first visible word. Tutoring runs them in
non-thinking mode, decided by `plan_thinking` from two sources, so an imported GGUF the catalog
does not know works too:
- the catalog entry's `thinking` (and its family's documented soft switch, e.g. "/no_think");
- the chat template text: one that reads `enable_thinking` has the switch itself (the real Qwen3
  template then opens and closes an empty think block in the generation prompt); one that mentions
  `<think>` at all belongs to a model that may think.
The switch is the template's when it has one (rendered with enable_thinking=False); otherwise the
family's soft switch, appended to every user message — every one, not just the last, so earlier
turns render the same each time and the KV-cache prefix stays reusable.

Whatever the switch, a thinking model's stream goes through `ThinkFilter`: reasoning is never
shown, even when a model ignores the switch or a template opens the think block itself.
"""

from __future__ import annotations

import codecs
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from app.core.i18n import _
from app.core.inference import ChatMessage
from app.core.stop_text import Released, StopTextStream

# How a family's thinking is turned off: "template" = its chat template's enable_thinking switch
# (with the soft switch as fallback for a template without it); "soft-switch" = only a marker in
# the messages; "always" = it cannot be turned off (the reasoning is only hidden).
ThinkingSwitch = Literal["template", "soft-switch", "always"]

OPEN, CLOSE = "<think>", "</think>"
TEMPLATE_VARIABLE = "enable_thinking"


@dataclass(frozen=True)
class DeclaredThinking:
    """What the catalog says about a model's thinking (app.core.catalog.CatalogModel.declared_thinking)."""

    switch: ThinkingSwitch
    soft_switch: str | None = None


@dataclass(frozen=True)
class ThinkingPlan:
    """How prompts are rendered and streams filtered for one loaded model."""

    thinks: bool = False             # its output may carry <think> blocks: filter the stream
    template_switch: bool = False    # the chat template reads enable_thinking: render it False
    soft_switch: str | None = None   # otherwise (or in the plain fallback format) append this

    def template_kwargs(self) -> Mapping[str, Any]:
        """Extra variables for the chat template (empty for templates that have no switch)."""
        return {TEMPLATE_VARIABLE: False} if self.template_switch else {}

    def soft_switched(self, messages: Sequence[ChatMessage]) -> list[ChatMessage]:
        """`messages` with the soft switch appended to every user message (for a prompt rendered
        without the template's own switch); unchanged when there is none."""
        marker = self.soft_switch
        if not self.thinks or not marker:
            return list(messages)
        return [replace(m, content=_with_marker(m.content, marker)) if m.role == "user" else m for m in messages]


NOT_THINKING = ThinkingPlan()


def _with_marker(content: str, marker: str) -> str:
    return content if content.rstrip().endswith(marker) else f"{content.rstrip()} {marker}"


def plan_thinking(template: str | None, declared: DeclaredThinking | None = None) -> ThinkingPlan:
    """Decide from the catalog's word (`declared`, None for an unknown model) and the template text."""
    text = template or ""
    has_switch = TEMPLATE_VARIABLE in text
    template_thinks = has_switch or OPEN in text or CLOSE in text
    if declared is None and not template_thinks:
        return NOT_THINKING
    soft = declared.soft_switch if declared is not None and declared.switch != "always" else None
    return ThinkingPlan(thinks=True, template_switch=has_switch, soft_switch=soft)


def prompt_opens_thought(prompt: str) -> bool:
    """A generation prompt that ends inside an open think block (templates of always-thinking
    models write `<think>` themselves): the answer starts with reasoning, not with text to show."""
    tail = prompt.rstrip()
    return tail.endswith(OPEN)


def _partial_tag(text: str, tags: tuple[str, ...]) -> int:
    """Length of the longest tail of `text` that is a proper prefix of one of `tags`."""
    longest = max(len(t) for t in tags) - 1
    for n in range(min(len(text), longest), 0, -1):
        tail = text[-n:]
        if any(t.startswith(tail) for t in tags):
            return n
    return 0


class ThinkFilter:
    """Feed streamed text; get it back without `<think>…</think>` spans (tags may arrive split over
    any number of chunks; the same text in any chunking gives the same output).

    A stray `</think>` (the model reasoned without an opening tag the prompt did not show) is dropped
    too, and whitespace right after a closing tag is skipped: an answer starts at its first word.
    `finish()` ends the stream; `unfinished` then says a think block never closed (its text is
    dropped: there was no answer after it)."""

    def __init__(self, *, inside: bool = False) -> None:
        self._inside = inside
        self._skip_space = False
        self._held = ""
        self.hidden = inside     # some reasoning was removed
        self.unfinished = False

    def feed(self, text: str) -> str:
        buf = self._held + text
        out: list[str] = []
        while buf:
            if self._inside:
                end = buf.find(CLOSE)
                if end < 0:
                    keep = _partial_tag(buf, (CLOSE,))
                    buf = buf[len(buf) - keep:] if keep else ""
                    break
                buf = buf[end + len(CLOSE):]
                self._inside, self._skip_space = False, True
                continue
            if self._skip_space:
                buf = buf.lstrip()
                if not buf:
                    break
                self._skip_space = False
            hits = [(i, tag) for tag in (OPEN, CLOSE) if (i := buf.find(tag)) >= 0]
            if not hits:
                keep = _partial_tag(buf, (OPEN, CLOSE))
                out.append(buf[: len(buf) - keep])
                buf = buf[len(buf) - keep:] if keep else ""
                break
            at, tag = min(hits)
            out.append(buf[:at])
            buf = buf[at + len(tag):]
            self.hidden = True
            if tag == OPEN:
                self._inside = True
            else:
                self._skip_space = True
        self._held = buf
        return "".join(out)

    def finish(self) -> str:
        """The end of the stream: a held partial tag outside a think block is plain text."""
        held, self._held = self._held, ""
        if self._inside:
            self.unfinished = True
            return ""
        return held.lstrip() if self._skip_space else held


def unfinished_thought_note() -> str:
    return _("(The model was still thinking when it stopped, so there is no answer to show. "
             "Ask again, or allow a longer answer.)")


class ThinkingTextStream:
    """`StopTextStream` for a thinking model: token bytes are decoded, reasoning is removed, and only
    then are stop sequences looked for (a stop sequence inside hidden reasoning stops nothing).

    Same interface as StopTextStream (`feed(bytes)`, `flush()`, `stopped`). When the stream ends
    inside a think block and nothing was shown, `flush()` returns a short note instead of nothing."""

    def __init__(self, stop: tuple[str, ...] = (), *, inside: bool = False) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.filter = ThinkFilter(inside=inside)
        self._stop = StopTextStream(stop)
        self._shown = False
        self._flushed = False

    @property
    def stopped(self) -> bool:
        return self._stop.stopped

    def feed(self, data: bytes) -> Released:
        if self._stop.stopped:
            return Released("", True)
        visible = self.filter.feed(self._decoder.decode(data))
        return self._seen(self._stop.feed(visible.encode("utf-8")))

    def flush(self) -> Released:
        if self._stop.stopped or self._flushed:
            return Released("", self._stop.stopped)
        self._flushed = True
        visible = self.filter.feed(self._decoder.decode(b"", final=True)) + self.filter.finish()
        fed = self._stop.feed(visible.encode("utf-8"))
        rest = self._seen(fed if fed.stopped else Released(fed.text + self._stop.flush().text, False))
        if self.filter.unfinished and not self._shown:
            return Released(unfinished_thought_note(), rest.stopped)
        return rest

    def _seen(self, released: Released) -> Released:
        if released.text.strip():
            self._shown = True
        return released
