"""Word-level matching the eval metrics share: does a text contain a fact, a sentence, a passage?

Deterministic and language-agnostic (letters of any script), with a light tolerance for English
plurals and suffixes ("loop" / "loops" / "looping") instead of a stemmer: the eval must give the same
number on every machine, and a stemmer would treat Vietnamese syllables as English words.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

_WORD = re.compile(r"[^\W_]+")  # letters and digits of any script
# Function words that carry no fact; short on purpose (a key point's "not" and "only" do carry facts, but
# a paraphrase drops them as often as it keeps them, so they are not required).
STOP = frozenset({
    "the", "a", "an", "and", "or", "of", "to", "is", "it", "in", "on", "at", "as", "be", "by", "for", "with", "not",
    "are", "but", "you", "your", "can", "its", "that", "this", "from", "has", "have", "into", "only", "also", "than",
    "any", "one", "if", "so", "do", "does",
    "và", "là", "của", "có", "không", "các", "một", "những", "được", "cho", "khi", "để", "thì",
})
_PREFIX = 5  # words of 6+ letters match on their first five ("variable" ~ "variables" ~ "variably")


def words(text: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFC", text).lower())


def content_words(text: str) -> list[str]:
    return [w for w in words(text) if w not in STOP and (len(w) > 1 or w.isdigit())]


class Vocabulary:
    """The words of a text, ready for many `coverage` questions."""

    def __init__(self, text: str | Iterable[str]) -> None:
        self.words = set(words(text)) if isinstance(text, str) else set(text)
        self._prefixes = {w[:_PREFIX] for w in self.words if len(w) >= _PREFIX}

    def has(self, word: str) -> bool:
        return (word in self.words or word + "s" in self.words or word.rstrip("s") in self.words
                or (len(word) > _PREFIX and word[:_PREFIX] in self._prefixes))

    def coverage(self, text: str) -> float:
        """Share of `text`'s content words found here; 1.0 for a text with none."""
        content = content_words(text)
        if not content:
            return 1.0
        return sum(self.has(w) for w in content) / len(content)


def point_coverage(point: str, text: str) -> float:
    """Share of a fact's content words that `text` contains (plural/suffix-tolerant)."""
    return Vocabulary(text).coverage(point)


def ngrams(seq: Sequence[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(seq[i:i + n]) for i in range(len(seq) - n + 1)]
