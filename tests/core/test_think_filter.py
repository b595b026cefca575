"""Thinking models: the switch decision and the filter that keeps reasoning text off screen."""

from __future__ import annotations

import re
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from app.core.inference import ChatMessage
from app.core.think_filter import (
    NOT_THINKING,
    DeclaredThinking,
    ThinkFilter,
    ThinkingTextStream,
    plan_thinking,
    prompt_opens_thought,
    unfinished_thought_note,
)
from tests.support.qwen3_template import qwen3_template

QWEN3 = DeclaredThinking("template", "/no_think")
CHATML = ("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def filtered(text: str, *, inside: bool = False) -> str:
    f = ThinkFilter(inside=inside)
    return f.feed(text) + f.finish()


def in_chunks(text: str, cuts: list[int], *, inside: bool = False) -> tuple[str, bool]:
    f = ThinkFilter(inside=inside)
    bounds = [0, *sorted({c % (len(text) + 1) for c in cuts}), len(text)]
    out = "".join(f.feed(text[a:b]) for a, b in pairwise(bounds)) + f.finish()
    return out, f.unfinished


def reference(text: str, *, inside: bool = False) -> str:
    """The rule, as one regular expression over the whole text: a think block (to its first closing
    tag, or to the end when it never closes) and a stray closing tag go, each with the whitespace
    after a closing tag."""
    return re.sub(r"<think>.*?(?:</think>\s*|\Z)|</think>\s*", "", ("<think>" if inside else "") + text, flags=re.S)


# Text made of the pieces that matter: tags, partial tags, whitespace, and a few words.
pieces = st.sampled_from(["<think>", "</think>", "<", "</", "<th", "think>", ">", " ", "\n", "a", "Hi", "é", "x<y"])
texts = st.lists(pieces, max_size=25).map("".join)


@given(texts, st.lists(st.integers(min_value=0), max_size=12), st.booleans())
def test_any_chunking_gives_what_the_whole_text_gives(text, cuts, inside):
    out, _unfinished = in_chunks(text, cuts, inside=inside)
    assert out == filtered(text, inside=inside) == reference(text, inside=inside)


@given(texts, st.lists(st.integers(min_value=0), max_size=12))
def test_no_tag_is_ever_shown(text, cuts):
    out, _unfinished = in_chunks(text, cuts)
    assert "<think>" not in out and "</think>" not in out


@given(st.text(alphabet=st.characters(blacklist_characters="<"), max_size=80), st.lists(st.integers(0), max_size=8))
def test_text_without_tags_passes_unchanged(text, cuts):
    assert in_chunks(text, cuts) == (text, False)


def test_a_think_block_split_over_chunks_is_removed_with_the_space_after_it():
    f = ThinkFilter()
    parts = ["<th", "ink>\nLet me", " think about loops.</th", "ink>", "\n\n", "A loop repeats ", "code."]
    assert "".join(f.feed(p) for p in parts) + f.finish() == "A loop repeats code."
    assert f.hidden and not f.unfinished


def test_qwen3s_empty_think_block_leaves_just_the_answer():
    assert filtered("<think>\n\n</think>\n\nA variable names a value.") == "A variable names a value."


def test_an_unterminated_think_block_shows_nothing_and_says_so():
    f = ThinkFilter()
    assert f.feed("<think>Okay, the learner asks about") == ""
    assert f.feed(" lists, so first I") == ""
    assert f.finish() == "" and f.unfinished
    stream = ThinkingTextStream()
    assert stream.feed(b"<think>Okay, the learner").text == ""
    assert stream.flush().text == unfinished_thought_note()


def test_an_answer_before_an_unterminated_block_is_kept_without_a_note():
    stream = ThinkingTextStream()
    shown = stream.feed(b"Loops repeat. <think>but also").text
    assert shown == "Loops repeat. " and stream.flush().text == ""


def test_a_prompt_that_opens_the_block_hides_the_start_of_the_answer():
    assert prompt_opens_thought("<|im_start|>assistant\n<think>\n")
    assert not prompt_opens_thought("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert filtered("reasoning here</think>\n\nThe answer.", inside=True) == "The answer."


def test_the_text_stream_decodes_split_utf8_and_stops_only_on_visible_text():
    stream = ThinkingTextStream(("STOP",))
    data = "<think>no STOP here</think>Xin chào STOP after".encode()
    out = []
    for i in range(len(data)):
        released = stream.feed(data[i:i + 1])
        out.append(released.text)
        if released.stopped:
            break
    assert "".join(out) == "Xin chào " and stream.stopped


def test_the_real_qwen3_template_has_the_switch():
    plan = plan_thinking(qwen3_template(), None)   # an imported GGUF the catalog does not know
    assert plan.thinks and plan.template_switch and plan.soft_switch is None
    assert dict(plan.template_kwargs()) == {"enable_thinking": False}
    assert plan.soft_switched([ChatMessage("user", "Hi")]) == [ChatMessage("user", "Hi")]


def test_a_catalog_thinker_without_the_switch_in_its_template_gets_the_soft_switch():
    plan = plan_thinking(CHATML, QWEN3)
    assert plan.thinks and not plan.template_switch and not plan.template_kwargs()
    history = [ChatMessage("system", "Tutor."), ChatMessage("user", "What is a loop?"),
               ChatMessage("assistant", "It repeats."), ChatMessage("user", "Show one. /no_think")]
    assert [m.content for m in plan.soft_switched(history)] == [
        "Tutor.", "What is a loop? /no_think", "It repeats.", "Show one. /no_think"]   # never twice


def test_models_that_do_not_think_are_left_alone():
    assert plan_thinking(CHATML, None) == NOT_THINKING
    assert plan_thinking(None, None) == NOT_THINKING
    assert plan_thinking(None, DeclaredThinking("always")).thinks        # no template: still filtered
    assert plan_thinking("{{ '<think>' }}", None).soft_switch is None    # always-thinking: hidden, not switched
