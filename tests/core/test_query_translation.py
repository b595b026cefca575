"""The cross-lingual search's pure parts: when to translate, the request, and what counts as a translation."""

from __future__ import annotations

from app.core.query_translation import clean_translation, needs_translation, translation_request

Q = "Làm sao để đọc một tệp theo từng dòng?"


def test_only_a_question_in_another_known_language_is_translated():
    assert needs_translation("vi", "en") and needs_translation("en", "vi-VN")
    assert not needs_translation("en", "en") and not needs_translation(None, "en")
    assert not needs_translation("vi", None) and not needs_translation("vi", "fr")


def test_the_request_shows_one_worked_example_and_ends_with_the_question():
    request = translation_request(Q, "en")
    roles = [m.role for m in request.messages]
    assert roles == ["system", "user", "assistant", "user"] and request.messages[-1].content == Q
    assert "English" in request.messages[0].content and request.sampling.temperature == 0


def test_what_came_back_is_checked():
    assert clean_translation('Translation: "How do I read a file line by line?"\nNote: ...', question=Q,
                             target_language="en") == "How do I read a file line by line?"
    assert clean_translation("", question=Q, target_language="en") is None
    # Still Vietnamese: the model did not translate.
    assert clean_translation("Làm sao để đọc tệp từng dòng vậy?", question=Q, target_language="en") is None
    # An answer, not a translation: far longer than the question.
    assert clean_translation("To read a file line by line " + "you open it and loop over it " * 20, question=Q,
                             target_language="en") is None
