"""Thinking models run without thinking, and no reasoning text reaches the learner (real models).

The llama.cpp fixture is the Qwen2.5-Coder-0.5B test GGUF carrying the real Qwen3 chat template
(tests/support/qwen3_template.py), opened through the app's own loading path (open_chat_model):
an imported GGUF the catalog does not know, so the switch is found in the template text. Its
tokenizer has no `<think>` token, so every tag streams split over several tokens.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.inference import GREEDY, ChatMessage, GenerationRequest, OutputFormat, collect
from app.core.installed import InstalledModel
from app.core.settings import LanternSettings
from app.core.think_filter import NOT_THINKING, DeclaredThinking, unfinished_thought_note
from app.services.catalog_store import default_catalog, default_performance_table
from app.services.inference.backends import open_chat_model
from tests.hardware_scenarios import profile
from tests.support.qwen3_template import qwen3_template, qwen3_template_gguf

pytestmark = pytest.mark.slow

QUESTION = (ChatMessage("user", "Write a Python function named add that returns the sum of a and b."),)
EMPTY_THOUGHT = "<|im_start|>assistant\n<think>\n\n</think>\n\n"


def installed(path: Path, *, model_id: str, catalog_id: str | None = None) -> InstalledModel:
    return InstalledModel(id=model_id, display_name=model_id, source="import", source_ref=str(path), path=str(path),
                          managed=False, format="gguf", backend="llama.cpp", size_bytes=path.stat().st_size,
                          sha256="0" * 64, catalog_id=catalog_id)


def open_model(path: Path, **kw):
    return open_chat_model(installed(path, **kw), profile=profile("ci-box-2core"),
                           settings=LanternSettings(context_length=1024), table=default_performance_table(),
                           catalog=default_catalog()).backend


@pytest.fixture(scope="module")
def qwen3():
    backend = open_model(qwen3_template_gguf(), model_id="imported-qwen3")
    yield backend
    backend.close()


def test_an_imported_qwen3_gguf_is_prompted_in_non_thinking_mode(qwen3):
    assert qwen3.template.kind == "gguf" and qwen3.template.thinking.template_switch
    rendered = qwen3.template.render(QUESTION)
    assert rendered.text.endswith(EMPTY_THOUGHT) and not rendered.opens_thought
    assert "/no_think" not in rendered.text          # the template's own switch, not the soft one
    text, final = collect(qwen3.stream(GenerationRequest(QUESTION, sampling=GREEDY, max_tokens=24)))
    assert final.stats.prompt_tokens == qwen3.count_tokens(QUESTION)   # counted as it was read
    assert "def add" in text and "<think>" not in text and "</think>" not in text


def test_reasoning_the_model_writes_is_never_shown(qwen3):
    assert len(qwen3._llm.tokenize(b"<think>", add_bos=False, special=True)) > 1   # the tag arrives in pieces
    thought = OutputFormat(kind="grammar", grammar='root ::= "<think>\\nThe learner asks about adding.\\n</think>\\n\\n'
                                                   'Use " [a-z ]+')
    chunks = list(qwen3.stream(GenerationRequest(QUESTION, sampling=GREEDY, max_tokens=24, output=thought)))
    text = "".join(c.text for c in chunks)
    assert text.startswith("Use ") and "think>" not in text and "The learner asks" not in text
    assert chunks[-1].stats.completion_tokens == 24  # the hidden tokens were generated, and counted


def test_a_thought_that_never_ends_shows_only_a_note(qwen3):
    endless = OutputFormat(kind="grammar", grammar='root ::= "<think>" [a-z ]+')
    text, final = collect(qwen3.stream(GenerationRequest(QUESTION, sampling=GREEDY, max_tokens=8, output=endless)))
    assert final.finish_reason == "length" and text == unfinished_thought_note()


def test_a_catalog_thinker_whose_template_lacks_the_switch_gets_the_soft_switch(qwen_gguf):
    """The plain Qwen2.5 template has no enable_thinking; the catalog says qwen3 thinks: "/no_think"."""
    backend = open_model(qwen_gguf, model_id="qwen3-0.6b:q4_k_m", catalog_id="qwen3-0.6b")
    try:
        plan = backend.template.thinking
        assert plan.thinks and not plan.template_switch and plan.soft_switch == "/no_think"
        history = (ChatMessage("user", "What is a loop?"), ChatMessage("assistant", "It repeats code."),
                   ChatMessage("user", "Show one."))
        rendered = backend.template.render(history).text
        assert "What is a loop? /no_think<|im_end|>" in rendered and "Show one. /no_think<|im_end|>" in rendered
        assert "<think>" not in rendered
        text, final = collect(backend.stream(GenerationRequest(history, sampling=GREEDY, max_tokens=12)))
        assert final.stats.prompt_tokens == backend.count_tokens(history) and "<think>" not in text
    finally:
        backend.close()


def test_models_that_do_not_think_are_prompted_as_before(qwen_gguf):
    backend = open_model(qwen_gguf, model_id="qwen2.5-coder", catalog_id="qwen2.5-coder-0.5b-instruct")
    try:
        assert backend.template.thinking == NOT_THINKING
        assert "/no_think" not in backend.template.render(QUESTION).text
    finally:
        backend.close()


# -- MLX: the same rules through mlx-lm's own apply_chat_template -----------------------------------

def test_mlx_renders_the_qwen3_template_without_thinking(tiny_mlx_model, tmp_path):
    from app.services.inference.mlx_backend import load_mlx_backend
    from tests.support.tiny_mlx_model import with_chat_template

    folder = with_chat_template(tiny_mlx_model, tmp_path / "qwen3", qwen3_template())
    backend = load_mlx_backend(folder, model_id="tiny-qwen3", context_length=2048)
    try:
        assert backend.thinking.template_switch
        tok = backend._tokenizer
        assert tok.decode(backend._encode(QUESTION)).endswith(EMPTY_THOUGHT)
        text, final = collect(backend.stream(GenerationRequest(QUESTION, sampling=GREEDY, max_tokens=6)))
        assert final.stats.prompt_tokens == backend.count_tokens(QUESTION) and "<think>" not in text
    finally:
        backend.close()


def test_mlx_falls_back_to_the_soft_switch(tiny_mlx_model):
    from app.services.inference.mlx_backend import load_mlx_backend

    backend = load_mlx_backend(tiny_mlx_model, model_id="tiny-chatml", context_length=2048,
                               thinking=DeclaredThinking("template", "/no_think"))
    try:
        assert backend.thinking.thinks and not backend.thinking.template_switch
        assert "sum of a and b. /no_think" in backend._tokenizer.decode(backend._encode(QUESTION))
    finally:
        backend.close()
