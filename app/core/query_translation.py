"""Cross-lingual retrieval: a question in one language about a course in another is translated into
the course's language before the search (issue 16). The course index is embedded by an English-only
model (all-MiniLM) and searched with bm25, neither of which can match "đọc tệp theo từng dòng" with
"read a file line by line"; the on-device chat model can translate a one-line question in well under a
second. (A multilingual embedder would also do, when one is installed: this is what works with the
models every learner has.)

Pure: the request to send and the check on what came back; the tutor session runs it on its engine.
"""

from __future__ import annotations

import re

from app.core.answer_check import guess_language
from app.core.inference import GREEDY, ChatMessage, GenerationRequest

LANGUAGE_NAMES = {"en": "English", "vi": "Vietnamese"}
TRANSLATION_TOKENS = 96  # a learner's question; a longer one is cut, which is fine for a search query
_PREFIX = re.compile(r"^\s*(?:translation|english|vietnamese|bản dịch|dịch)\s*:\s*", re.IGNORECASE)


def needs_translation(question_language: str | None, course_language: str | None) -> bool:
    if question_language is None or course_language is None:
        return False
    course = course_language.split("-")[0].lower()
    return course in LANGUAGE_NAMES and question_language != course


# One worked example per direction: a 0.5B model told only "translate" often answers the question
# instead, or echoes the instruction; shown one pair, it translates.
_EXAMPLES = {
    "en": ("Làm sao để in hai giá trị trên cùng một dòng?", "How do I print two values on the same line?"),
    "vi": ("How do I print two values on the same line?", "Làm sao để in hai giá trị trên cùng một dòng?"),
}


def translation_request(question: str, target_language: str) -> GenerationRequest:
    target = target_language.split("-")[0].lower()
    example, translated = _EXAMPLES[target]
    system = f"Translate the learner's question into {LANGUAGE_NAMES[target]}. Keep code and names as they are."
    return GenerationRequest((ChatMessage("system", system), ChatMessage("user", example),
                              ChatMessage("assistant", translated), ChatMessage("user", question.strip())),
                             sampling=GREEDY, max_tokens=TRANSLATION_TOKENS)


def clean_translation(output: str, *, question: str, target_language: str) -> str | None:
    """The translated question, or None when the model did not translate (so the search uses the
    original words alone): empty, still in the question's language, or far longer than the question
    (it answered instead of translating)."""
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    if not lines:
        return None
    text = _PREFIX.sub("", lines[0]).strip().strip("\"'“”‘’").strip()
    if not text:
        return None
    target = target_language.split("-")[0].lower()
    got = guess_language(text)
    if got is not None and got != target:
        return None
    if len(text) > 3 * len(question) + 40:
        return None
    return text
