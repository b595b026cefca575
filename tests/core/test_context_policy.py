"""The context policy: what is dropped, in which order, and that the cached prefix stays stable."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.context_policy import Passage, PromptParts, TrimResult, Turn, build_messages, fit_to_window
from app.core.errors import LanternError, PromptTooLong
from app.core.inference import ChatMessage


class WordCounter:
    """Deterministic stand-in for a tokenizer: words + 4 per message; counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, messages: Sequence[ChatMessage]) -> int:
        self.calls += 1
        return sum(len(m.content.split()) + 4 for m in messages)


def words(n: int, tag: str = "w") -> str:
    return " ".join([tag] * n)


def turns(n: int, size: int = 6, start: int = 0) -> tuple[Turn, ...]:
    """n turns of `size` words per side (2 * (size + 4) tokens each), tagged by index."""
    return tuple(Turn(words(size, f"u{i}"), words(size, f"a{i}")) for i in range(start, start + n))


def passages(n: int, size: int = 6) -> tuple[Passage, ...]:
    return tuple(Passage(words(size, f"p{i}"), f"Lesson {i}", score=1.0 - i / 10) for i in range(n))


# system (1 word) and question (1 word) cost 5 tokens each; each default turn costs 20.
SYSTEM, QUESTION = "Tutor.", "Why?"


def fit(parts: PromptParts, counter: WordCounter | None = None, **kwargs: Any) -> TrimResult:
    """fit_to_window with the small windows these tests use: 100 tokens asked for the answer, 32 at least."""
    kwargs = {"answer_tokens": 100, "min_answer_tokens": 32, **kwargs}
    return fit_to_window(parts, count_tokens=counter or WordCounter(), **kwargs)


def kept_turns(messages: tuple[ChatMessage, ...]) -> list[tuple[str, str]]:
    middle = messages[1:-1]
    return [(middle[i].content, middle[i + 1].content) for i in range(0, len(middle), 2)]


# --- build_messages -------------------------------------------------------------------------------


def test_build_messages_order_and_final_message_format() -> None:
    parts = PromptParts(
        system="You are a tutor.",
        question="What is a loop?",
        passages=(Passage("A loop repeats.", "Lesson 2 › Loops"), Passage("for x in y:", "Lesson 3 › For")),
        history=(Turn("hi", "hello"), Turn("and?", "more")),
    )
    messages = build_messages(parts)
    assert messages == (
        ChatMessage("system", "You are a tutor."),
        ChatMessage("user", "hi"),
        ChatMessage("assistant", "hello"),
        ChatMessage("user", "and?"),
        ChatMessage("assistant", "more"),
        ChatMessage(
            "user",
            "Course material:\n\n[1] (Lesson 2 › Loops)\nA loop repeats.\n\n[2] (Lesson 3 › For)\nfor x in y:"
            "\n\nQuestion: What is a loop?",
        ),
    )
    assert build_messages(parts, first_turn=1, passages=0) == (
        ChatMessage("system", "You are a tutor."),
        ChatMessage("user", "and?"),
        ChatMessage("assistant", "more"),
        ChatMessage("user", "What is a loop?"),
    )


def test_empty_system_prompt_means_no_system_message() -> None:
    assert build_messages(PromptParts(system="", question="q")) == (ChatMessage("user", "q"),)


@pytest.mark.parametrize("kwargs", [{"first_turn": -1}, {"first_turn": 3}, {"passages": -1}, {"passages": 2}])
def test_build_messages_rejects_out_of_range(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        build_messages(PromptParts(SYSTEM, QUESTION, passages(1), turns(2)), **kwargs)


def test_passages_appear_only_in_the_final_message() -> None:
    parts = PromptParts(SYSTEM, QUESTION, passages(3), turns(4))
    result = fit_to_window(parts, count_tokens=WordCounter(), context_length=10_000, answer_tokens=500)
    for message in result.messages[:-1]:
        assert "p0" not in message.content and "Course material" not in message.content
    assert all(f"p{i}" in result.messages[-1].content for i in range(3))


# --- fit_to_window --------------------------------------------------------------------------------


def test_fits_is_unchanged_with_one_count() -> None:
    parts = PromptParts(SYSTEM, QUESTION, passages(2), turns(3))
    counter = WordCounter()
    result = fit_to_window(parts, count_tokens=counter, context_length=4096, answer_tokens=512)
    assert result.messages == build_messages(parts)
    assert result.prompt_tokens == WordCounter()(result.messages)
    assert (result.first_turn, result.dropped_turns, result.kept_passages, result.dropped_passages) == (0, 0, 2, 0)
    assert result.answer_tokens == 512
    assert result.notes == ()
    assert counter.calls == 1


def test_oldest_turns_dropped_first_down_to_low_water() -> None:
    # 10 turns: 10 + 200 = 210 > budget 200; low water 150 keeps 7 turns (150 tokens).
    parts = PromptParts(SYSTEM, QUESTION, history=turns(10))
    result = fit(parts, context_length=300)
    assert result.first_turn == 3 and result.dropped_turns == 3
    assert result.prompt_tokens == 150
    assert kept_turns(result.messages) == [(t.user, t.assistant) for t in parts.history[3:]]
    assert result.messages[0] == ChatMessage("system", SYSTEM)
    assert result.messages[-1] == ChatMessage("user", QUESTION)
    assert result.notes == ("Left out the 3 oldest turns to fit the 300-token window.",)


def test_without_low_water_only_the_needed_turns_are_dropped() -> None:
    parts = PromptParts(SYSTEM, QUESTION, history=turns(10))
    result = fit(parts, context_length=300, low_water=1.0)
    assert result.first_turn == 1 and result.prompt_tokens == 190
    assert result.notes == ("Left out the oldest turn to fit the 300-token window.",)


def test_low_water_hysteresis_drops_rarely_and_only_when_over_budget() -> None:
    def conversation(low_water: float) -> int:
        counter, first_turn, drops = WordCounter(), 0, 0
        for n in range(1, 41):
            parts = PromptParts(SYSTEM, QUESTION, history=turns(n))
            over = counter(build_messages(parts, first_turn=first_turn)) > 200
            result = fit(parts, counter, context_length=300, first_turn=first_turn, low_water=low_water)
            # A drop happens exactly when the prompt on the old prefix is over budget.
            assert (result.first_turn > first_turn) == over
            assert result.prompt_tokens <= 200
            drops += result.first_turn > first_turn
            first_turn = result.first_turn
        return drops

    # The window holds 9 turns; hysteresis drops to 7, so every third question drops.
    assert conversation(0.75) == 11
    # Without it, every question after the window fills drops one turn.
    assert conversation(1.0) == 31


def test_first_turn_carried_over_keeps_the_prefix_identical() -> None:
    history = turns(16)
    first = fit(PromptParts(SYSTEM, "first?", passages(2), history), context_length=400)
    assert first.dropped_turns > 0
    # Next question: the previous exchange is appended and the retrieved passages are different.
    second_parts = PromptParts(SYSTEM, "second?", passages(3, size=4), (*history, Turn("first?", "answer")))
    second = fit(second_parts, context_length=400, first_turn=first.first_turn)
    assert second.first_turn == first.first_turn and second.dropped_turns == 0
    k = len(first.messages) - 1
    assert second.messages[:k] == first.messages[:k]
    assert second.messages[k:] == (ChatMessage("user", "first?"), ChatMessage("assistant", "answer"),
                                   second.messages[-1])


def test_dropped_turns_stay_dropped_when_everything_would_fit() -> None:
    parts = PromptParts(SYSTEM, QUESTION, history=turns(5))
    result = fit(parts, context_length=10_000, first_turn=2)
    assert result.first_turn == 2 and result.dropped_turns == 0
    assert result.messages == build_messages(parts, first_turn=2)


def test_passages_kept_while_dropping_turns_is_enough() -> None:
    # With no turns: 5 (system) + 8 + 9 per passage (header, "Question:", "[i] (Lesson i)") = 58 tokens.
    # 3 turns make 118 > budget 100; one turn is 78 > low water 75, so every turn goes, no passage.
    parts = PromptParts(SYSTEM, QUESTION, passages(5), turns(3))
    result = fit(parts, context_length=200)
    assert result.first_turn == 3 and result.kept_passages == 5 and result.dropped_passages == 0


def test_passages_dropped_lowest_ranked_first_after_all_turns() -> None:
    # With no turns: 13 + 9 per passage; budget 70 holds 6 of the 8.
    parts = PromptParts(SYSTEM, QUESTION, passages(8), turns(4))
    result = fit(parts, context_length=170)
    assert result.first_turn == 4 and result.dropped_turns == 4
    assert result.kept_passages == 6 and result.prompt_tokens == 67
    assert result.messages == build_messages(parts, first_turn=4, passages=result.kept_passages)
    assert result.dropped_passages == 2
    final = result.messages[-1].content
    assert all(f"p{i}" in final for i in range(result.kept_passages))
    assert not any(f"p{i}" in final for i in range(result.kept_passages, 8))
    assert result.answer_tokens == 100
    assert result.notes == (
        "Left out the 4 oldest turns to fit the 170-token window.",
        "Left out the 2 lowest-ranked course passages to fit the 170-token window.",
    )


def test_answer_reserve_shrinks_after_passages_and_turns_are_gone() -> None:
    parts = PromptParts(SYSTEM, words(236), passages(3), turns(2))  # system + question alone: 5 + 240
    result = fit(parts, context_length=300)
    assert result.first_turn == 2 and result.kept_passages == 0
    assert result.prompt_tokens == 245 and result.answer_tokens == 55
    assert result.notes[-1] == "Shortened the room for the answer to 55 tokens to fit the 300-token window."


def test_answer_reserve_can_shrink_exactly_to_the_minimum() -> None:
    parts = PromptParts(SYSTEM, words(259))  # 5 + 263 = 268 = 300 - 32
    result = fit(parts, context_length=300)
    assert result.answer_tokens == 32 and result.prompt_tokens == 268


def test_prompt_too_long_gives_the_numbers_and_a_hint() -> None:
    parts = PromptParts(SYSTEM, words(5201), passages(2), turns(3))  # 5 + 5205 = 5,210 tokens
    with pytest.raises(PromptTooLong) as info:
        fit_to_window(parts, count_tokens=WordCounter(), context_length=4096, answer_tokens=512)
    error = info.value
    assert isinstance(error, ValueError) and isinstance(error, LanternError)
    assert "5,210 tokens" in error.user_message and "4,096" in error.user_message
    assert "128" in error.user_message
    assert error.hint is not None and "Context length" in error.hint
    assert error.debug_context["prompt_tokens"] == 5210


def test_too_long_by_the_minimum_answer_alone_raises() -> None:
    parts = PromptParts(SYSTEM, words(260))  # 269 tokens: fits 300 but leaves 31 < 32
    with pytest.raises(PromptTooLong):
        fit(parts, context_length=300)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"context_length": 0},
        {"low_water": 0.0},
        {"low_water": 1.5},
        {"answer_tokens": 64, "min_answer_tokens": 128},
        {"answer_tokens": 0, "min_answer_tokens": 0},
        {"first_turn": -1},
        {"first_turn": 4},
    ],
)
def test_bad_arguments_raise_value_error(kwargs: dict[str, float]) -> None:
    args: dict = {"context_length": 4096, "answer_tokens": 512, **kwargs}
    with pytest.raises(ValueError) as info:
        fit_to_window(PromptParts(SYSTEM, QUESTION, history=turns(3)), count_tokens=WordCounter(), **args)
    assert not isinstance(info.value, PromptTooLong)


@pytest.mark.parametrize("n_passages", [0, 50])
def test_token_counts_stay_logarithmic_for_200_turns(n_passages: int) -> None:
    parts = PromptParts(SYSTEM, QUESTION, passages(n_passages), turns(200))
    counter = WordCounter()
    # Small enough that every turn and most passages must go.
    result = fit(parts, counter, context_length=200)
    assert result.dropped_turns > 190
    limit = 2 + math.ceil(math.log2(200)) + (2 + math.ceil(math.log2(n_passages)) if n_passages else 0)
    assert counter.calls <= limit


# --- properties -----------------------------------------------------------------------------------

texts = st.integers(0, 30).map(words)


@st.composite
def cases(draw: st.DrawFn) -> tuple[PromptParts, dict]:
    history = tuple(draw(st.lists(st.builds(Turn, texts, texts), max_size=12)))
    ranked = tuple(draw(st.lists(st.builds(Passage, texts, st.sampled_from(["L1", "L2 › Loops"])), max_size=6)))
    parts = PromptParts(draw(st.integers(1, 40).map(words)), draw(st.integers(1, 40).map(words)), ranked, history)
    min_answer = draw(st.integers(1, 64))
    kwargs = {
        "context_length": draw(st.integers(1, 800)),
        "min_answer_tokens": min_answer,
        "answer_tokens": draw(st.integers(min_answer, 300)),
        "first_turn": draw(st.integers(0, len(history))),
        "low_water": draw(st.floats(0.05, 1.0)),
    }
    return parts, kwargs


@settings(max_examples=400, deadline=None)
@given(cases())
def test_result_always_fits_and_keeps_system_question_and_a_newest_suffix(case: tuple[PromptParts, dict]) -> None:
    parts, kw = case
    count = WordCounter()
    n = len(parts.history)
    try:
        result = fit_to_window(parts, count_tokens=count, **kw)
    except PromptTooLong:
        assert count(build_messages(parts, first_turn=n, passages=0)) > kw["context_length"] - kw["min_answer_tokens"]
        return
    messages = result.messages
    assert messages[0] == ChatMessage("system", parts.system)
    assert messages[-1].role == "user" and messages[-1].content.endswith(parts.question)
    assert result.prompt_tokens == count(messages)
    assert kw["min_answer_tokens"] <= result.answer_tokens <= kw["answer_tokens"]
    assert result.prompt_tokens + result.answer_tokens <= kw["context_length"]
    # Kept turns are a contiguous newest suffix, starting no earlier than the caller's first_turn.
    assert kw["first_turn"] <= result.first_turn <= n
    assert result.dropped_turns == result.first_turn - kw["first_turn"]
    assert kept_turns(messages) == [(t.user, t.assistant) for t in parts.history[result.first_turn:]]
    assert messages == build_messages(parts, first_turn=result.first_turn, passages=result.kept_passages)
    assert result.kept_passages + result.dropped_passages == len(parts.passages)
    # Order of the policy: passages only after every turn, the answer reserve only after every passage.
    if result.dropped_passages:
        assert result.first_turn == n
    if result.answer_tokens < kw["answer_tokens"]:
        assert result.first_turn == n and result.kept_passages == 0
    budget = kw["context_length"] - kw["answer_tokens"]
    full = len(parts.passages)
    if result.dropped_turns:  # dropped down to low water (or no turns), not further
        at = count(build_messages(parts, first_turn=result.first_turn))
        assert at <= kw["low_water"] * budget or result.first_turn == n
        assert count(build_messages(parts, first_turn=result.first_turn - 1)) > kw["low_water"] * budget
        assert count(build_messages(parts, first_turn=kw["first_turn"])) > budget
    if result.dropped_passages and result.answer_tokens == kw["answer_tokens"]:
        assert count(build_messages(parts, first_turn=n, passages=result.kept_passages + 1)) > budget
    if not result.notes:
        assert result.first_turn == kw["first_turn"] and result.kept_passages == full
