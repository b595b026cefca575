"""The chat template from the GGUF metadata, with a safe fallback.

The template (Jinja, `tokenizer.chat_template`) is rendered with llama-cpp-python's sandboxed
Jinja2ChatFormatter, the same renderer its own chat API uses. Templates differ in what they accept:
some refuse a system message (Gemma 2, Mistral v1), base models carry none at all. So: render as
given; if the template rejects it, fold the system prompt into the first user message and render
again; if there is no template or it still fails, use a plain transcript format whose stop sequence
keeps a base model from writing the next user turn itself. The choice is logged once per model.

Thinking models (app.core.think_filter) are rendered in non-thinking mode: with enable_thinking=False
when the template reads that switch (the real Qwen3 template then ends the generation prompt with an
empty think block), else with the family's soft switch in the user messages. `count_tokens` and
`stream` both render through `render`, so what is counted is what is read.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from app.core.inference import ChatMessage
from app.core.think_filter import DeclaredThinking, ThinkingPlan, plan_thinking, prompt_opens_thought

log = logging.getLogger(__name__)

FALLBACK_STOP = ("\nUser:", "\nSystem:")


@dataclass(frozen=True)
class RenderedPrompt:
    text: str
    stop: tuple[str, ...]   # extra stop sequences this format needs (the fallback's turn markers)
    opens_thought: bool = False   # the prompt ends inside an open <think> block (the answer starts hidden)


class ChatTemplate:
    def __init__(self, template: str | None, *, bos_token: str, eos_token: str, model_id: str,
                 thinking: DeclaredThinking | None = None) -> None:
        self.model_id = model_id
        self.bos_token = bos_token
        self._formatter: Any = None
        self.kind = "fallback"
        if template:
            try:
                from llama_cpp.llama_chat_format import Jinja2ChatFormatter

                self._formatter = Jinja2ChatFormatter(template=template, eos_token=eos_token, bos_token=bos_token)
                self.kind = "gguf"
            except Exception as exc:  # a template Jinja cannot even parse: the fallback serves
                log.warning("%s: the GGUF chat template does not parse (%s); using a plain format", model_id, exc)
        else:
            log.info("%s has no chat template in its metadata; using a plain transcript format", model_id)
        self.thinking: ThinkingPlan = plan_thinking(template, thinking)
        if self._formatter is None and self.thinking.template_switch:   # its switch is in a template we cannot render
            self.thinking = replace(self.thinking, template_switch=False)
        if self.thinking.thinks:
            log.info("%s is a thinking model; tutoring runs it without thinking (%s)", model_id,
                     "enable_thinking=False" if self.thinking.template_switch else
                     f"soft switch {self.thinking.soft_switch!r}" if self.thinking.soft_switch else "reasoning hidden")
        self._warned: set[str] = set()

    def render(self, messages: Sequence[ChatMessage]) -> RenderedPrompt:
        """Decided per call: one conversation a template rejects must not change how every later
        one is rendered (that would also throw away the KV-cache prefix)."""
        plan = self.thinking
        if self._formatter is not None:
            convo = messages if plan.template_switch else plan.soft_switched(messages)
            as_dicts = [{"role": m.role, "content": m.content} for m in convo]
            forms = [as_dicts, fold_system(as_dicts)] if any(m.role == "system" for m in messages) else [as_dicts]
            problem: Exception | None = None
            for form in forms:
                try:
                    text = self._formatter(messages=form, **plan.template_kwargs()).prompt
                except Exception as exc:  # the template's own raise_exception, or a Jinja error
                    problem = exc
                    continue
                return RenderedPrompt(text, (), opens_thought=plan.thinks and prompt_opens_thought(text))
            self._warn(f"the chat template failed ({problem}); using a plain transcript format")
        return RenderedPrompt(plain_transcript(plan.soft_switched(messages)), FALLBACK_STOP)

    def _warn(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            log.warning("%s: %s", self.model_id, message)


def fold_system(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """Put the system prompt at the top of the first user message (what Gemma's own template does)."""
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    rest = [dict(m) for m in messages if m["role"] != "system"]
    if system:
        first_user = next((m for m in rest if m["role"] == "user"), None)
        if first_user is None:
            rest.insert(0, {"role": "user", "content": system})
        else:
            first_user["content"] = f"{system}\n\n{first_user['content']}"
    return rest


def plain_transcript(messages: Sequence[ChatMessage]) -> str:
    names = {"system": "System", "user": "User", "assistant": "Assistant"}
    body = "\n\n".join(f"{names[m.role]}: {m.content}" for m in messages)
    return f"{body}\n\nAssistant:"
