"""The answer badge says where the answer was produced, read from the engine's capabilities."""

from __future__ import annotations

import pytest

from app.core.inference import GenerationStats
from app.services.knowledge.tutor_session import Answer
from app.ui.chat_panel import AnswerCard

pytestmark = pytest.mark.gui


def stats() -> GenerationStats:
    return GenerationStats(backend="x", model="m", prompt_tokens=10, cached_prompt_tokens=0, completion_tokens=11,
                           time_to_first_token_s=0.1, prompt_seconds=0.1, generation_seconds=1.0,
                           finish_reason="stop")


@pytest.mark.parametrize(("where", "shown", "not_shown"), [("on-device", "on-device", "cloud"),
                                                          ("cloud", "cloud", "on-device")])
def test_the_badge_names_where_the_engine_ran(qtbot, where, shown, not_shown):
    card = AnswerCard("q")
    qtbot.addWidget(card)
    card.finish(Answer("An answer.", covered=True, citations=[], passages=[], stats=stats(), model_id="some-model",
                       where=where, backend="llama.cpp" if where == "on-device" else "openai"))
    badge = card.badge.text()
    assert "some-model" in badge and shown in badge and not_shown not in badge and "10.0 tok/s" in badge


def test_a_not_covered_reply_claims_no_engine(qtbot):
    card = AnswerCard("q")
    qtbot.addWidget(card)
    card.finish(Answer("Not covered.", covered=False, citations=[], passages=[]))
    assert card.badge.text() == "not in this course"
