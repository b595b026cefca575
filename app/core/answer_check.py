"""One answer-quality check: is this a real explanation, or one of the ways small models fail?

`check_answer` is pure (text in, verdict out) so the GUI's "Try again" notice, the eval suite's
real-answer rate and the local/cloud router's fall-back all judge an answer the same way. Each rule
targets a failure seen with the on-device models here (issue 16): Qwen2.5-Coder-0.5B answering
only "[1]" or pasting the passages with their labels, SmolLM2-135M repeating one sentence until the
length limit. The rules are deliberately conservative: a false alarm under a good answer costs the
learner's trust, so a rule fires only when the failure is plain, and the thresholds say so.

`guess_language` is the small deterministic language guess the wrong-language rule uses (Vietnamese
is the first translation; a learner who asks in Vietnamese should be answered in Vietnamese).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from app.core.i18n import _

ProblemCode = Literal["empty", "marker_only", "pasted_passage", "repetition_loop", "refused_although_covered",
                      "wrong_language", "cut_off"]
Language = Literal["vi", "en"]


@dataclass(frozen=True)
class Problem:
    code: ProblemCode
    reason: str  # translated, short, reads after "This answer looks incomplete: "


@dataclass(frozen=True)
class AnswerVerdict:
    ok: bool
    problems: tuple[Problem, ...] = ()

    def __post_init__(self) -> None:
        if self.ok != (not self.problems):
            raise ValueError("ok must be True exactly when there are no problems")

    @property
    def codes(self) -> tuple[ProblemCode, ...]:
        return tuple(p.code for p in self.problems)


# -- text helpers ---------------------------------------------------------------------------------

_FENCE = re.compile(r"```.*?(?:```|\Z)", re.DOTALL)  # an unclosed fence (cut-off answer) runs to the end
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_MARKER = re.compile(r"\[\d+(?:\s*,\s*\d+)*\]")
_WORD = re.compile(r"\w+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def _prose(text: str, *, inline_code: bool = True) -> str:
    """The text without code blocks: code is legitimately copied from a lesson and legitimately
    repetitive. Inline code (`break`) stays as words unless `inline_code` is False."""
    text = _FENCE.sub("\n", unicodedata.normalize("NFC", text))
    return text if inline_code else _INLINE_CODE.sub(" ", text)


def prose(text: str) -> str:
    """The answer without its code blocks (what the prose rules and the eval metrics read)."""
    return _prose(text)


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _ngrams(words: Sequence[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]


# -- language -------------------------------------------------------------------------------------

# Letters only Vietnamese uses among Latin-script languages a learner here writes in (tone marks on
# vowels, the horn and breve vowels, đ). "é" or "à" alone also occur in French, which is fine: the
# guess only has to tell Vietnamese from English.
_VI_LETTERS = frozenset(
    "àáạảãâầấậẩẫăằắặẳẵèéẹẻẽêềếệểễìíịỉĩòóọỏõôồốộổỗơờớợởỡùúụủũưừứựửữỳýỵỷỹđ")
_MIN_WORDS_TO_GUESS = 3
# Most Vietnamese syllables carry a mark (typically 60-80 % of words); English words carry none. A
# share of marked words at or above VI_SHARE reads as Vietnamese, at or below EN_SHARE (a name or a
# quoted term) as English; between the two the text is mixed and no guess is made.
_VI_SHARE = 0.25
_EN_SHARE = 0.05


def guess_language(text: str) -> Language | None:
    """"vi", "en", or None when the text is too short, mixed, or not Latin script. Code is ignored."""
    words = [w for w in _words(_prose(text, inline_code=False)) if w.isalpha()]
    if len(words) < _MIN_WORDS_TO_GUESS:
        return None
    if sum(all(c.isascii() or c in _VI_LETTERS for c in w) for w in words) < 0.8 * len(words):
        return None  # mostly another script (Chinese, Cyrillic...) or another accented language
    marked = sum(any(c in _VI_LETTERS for c in w) for w in words) / len(words)
    if marked >= _VI_SHARE:
        return "vi"
    if marked <= _EN_SHARE:
        return "en"
    return None


# -- the rules ------------------------------------------------------------------------------------

# Words that may sit next to the markers of a marker-only answer ("See [1].", "Nguồn: [2]").
_MARKER_FILLER = frozenset({"see", "source", "sources", "passage", "passages", "refer", "to", "and", "also",
                            "cf", "answer", "xem", "nguồn", "đoạn", "tham", "khảo", "và"})


def _marker_only(answer: str) -> bool:
    # "[1]", "[1][2]", "[1], [3].": what Qwen2.5-Coder-0.5B gave for 14 of 21 covered questions. Up to
    # two filler words ("See [1].") are still nothing but a pointer.
    if not _MARKER.search(answer):
        return False
    rest = _words(_MARKER.sub(" ", answer))
    return len(rest) <= 2 and all(w in _MARKER_FILLER for w in rest)


# The prompt's own passage layout echoed back: "[1] (Loops › Stopping a loop early: break)", a bare
# "[2] Loops › Nested loops" label line, "Passage [1]:", or the "Course material:" heading.
_LABEL_LINE = re.compile(
    r"^\s*(?:\[\d+\]\s*\([^)\n]*\)\s*:?\s*$"
    r"|\[\d+\]\s*:?\s*[^\n]*\S\s›\s\S"
    r"|(?:passage|đoạn)\s*\[?\d+\]?\s*:"
    r"|course material\s*:)",
    re.IGNORECASE | re.MULTILINE)
_COPY_N = 5
# An explanation reuses a passage's phrases; a paste *is* the passage. At or above 60 % of the answer's
# word 5-grams taken from one passage the answer is mostly that passage's text (a good answer here
# shares well under 30 %). Judged only on answers with at least 12 prose words: a one-line quote of
# the lesson inside a short answer is fine.
_COPY_SHARE = 0.6
_COPY_MIN_WORDS = 12


def _pasted(answer: str, passages: Sequence[str]) -> bool:
    if _LABEL_LINE.search(answer):
        return True
    words = _words(_prose(_MARKER.sub(" ", answer)))
    if len(words) < _COPY_MIN_WORDS:
        return False
    grams = _ngrams(words, _COPY_N)
    for passage in passages:
        theirs = set(_ngrams(_words(_prose(passage)), _COPY_N))
        if theirs and sum(g in theirs for g in grams) >= _COPY_SHARE * len(grams):
            return True
    return False


# A degenerate loop repeats itself; a real answer almost never says the same six words three times
# (code, where repetition is normal, is left out). Also a line or a sentence of 4+ words said three
# times, which catches a loop of short sentences that a 6-gram alone would miss.
_LOOP_N = 6
_LOOP_TIMES = 3
_LOOP_MIN_SENTENCE_WORDS = 4


def _looping(answer: str) -> bool:
    prose = _prose(answer)
    words = _words(prose)
    if len(words) >= _LOOP_N and Counter(_ngrams(words, _LOOP_N)).most_common(1)[0][1] >= _LOOP_TIMES:
        return True
    units = Counter(" ".join(ws) for part in _SENTENCE_END.split(prose)
                    if len(ws := _words(part)) >= _LOOP_MIN_SENTENCE_WORDS)
    return bool(units) and units.most_common(1)[0][1] >= _LOOP_TIMES


def repeats_itself(partial: str) -> bool:
    """The repetition rule on an answer still streaming. Its counts only grow as text is added, so a
    partial answer that loops is an answer that will loop: the router can stop it early (issue 17)."""
    return _looping(partial)


# "The course doesn't cover that" / "I don't know" when the search found the section. Only in the
# first 300 characters of an answer under 80 words: a long answer that mentions one gap still teaches.
_NOT = r"(?:\s*n[o'’]?t)"  # "not", "n't", "n’t"
_REFUSAL = re.compile(
    rf"\b(?:do(?:es)?{_NOT} cover|not covered|(?:is|are){_NOT} (?:in|part of) (?:the|this) (?:course|material|lesson)"
    rf"|(?:course|material|passages?|lessons?) do(?:es)?{_NOT} (?:mention|contain|include|say|explain|answer|provide"
    rf"|discuss)|i do{_NOT} know|i(?:'m|’m| am) not sure"
    r"|i (?:cannot|can not|can['’]t|am unable to|['’]m unable to) (?:answer|help)"
    r"|no information (?:about|on)|there is no (?:information|mention)"
    r"|(?:khóa học|tài liệu|bài học|đoạn văn)(?: này)? (?:không|chưa) "
    r"(?:đề cập|bao gồm|nói|có thông tin|giải thích)"
    r"|(?:mình|tôi|em) (?:không|chưa) biết|không thể trả lời|không được đề cập)",
    re.IGNORECASE)
_REFUSAL_HEAD = 300
_REFUSAL_MAX_WORDS = 80


def looks_like_refusal(answer: str) -> bool:
    """The answer says the course does not cover the question (or that the model does not know)."""
    return len(_words(answer)) < _REFUSAL_MAX_WORDS and bool(_REFUSAL.search(answer[:_REFUSAL_HEAD]))


# A language verdict needs some text: an 8-word answer can be one English term and a citation.
_LANGUAGE_MIN_ANSWER_WORDS = 8


def _wrong_language(answer: str, question: str, question_language: str | None) -> Problem | None:
    asked = question_language if question_language is not None else guess_language(question)
    if asked not in ("vi", "en") or len(_words(_prose(answer))) < _LANGUAGE_MIN_ANSWER_WORDS:
        return None
    got = guess_language(answer)
    if got is None or got == asked:
        return None
    if asked == "vi":
        return Problem("wrong_language", _("the question was in Vietnamese but the answer is in English"))
    return Problem("wrong_language", _("the question was in English but the answer is in Vietnamese"))


def check_answer(answer: str, *, question: str, passages: Sequence[str], covered: bool, finish_reason: str,
                 question_language: str | None = None) -> AnswerVerdict:
    """The verdict on one finished answer; `passages` are the texts the model was given, in prompt
    order. Problems come most serious first, so a caller showing one reason shows the right one."""
    problems: list[Problem] = []
    text = answer.strip()
    if not _WORD.search(text):
        # Nothing, or only punctuation ("...", "```\n```"): no text worth reading.
        problems.append(Problem("empty", _("the model gave no text")))
    elif _marker_only(text):
        problems.append(Problem("marker_only", _("it only points at the course passages without explaining "
                                                 "anything")))
    else:
        if _pasted(text, passages):
            problems.append(Problem("pasted_passage", _("it copies the course text instead of explaining it")))
        if _looping(text):
            problems.append(Problem("repetition_loop", _("it repeats the same words over and over")))
        if covered and looks_like_refusal(text):
            problems.append(Problem("refused_although_covered",
                                    _("it says the course does not cover this, but the course does")))
        wrong = _wrong_language(text, question, question_language)
        if wrong is not None:
            problems.append(wrong)
    # A cut-off answer is incomplete whatever else is true of it (finish reasons: app.core.inference).
    if finish_reason == "length":
        problems.append(Problem("cut_off", _("it was cut off at the length limit")))
    elif finish_reason == "context_full":
        problems.append(Problem("cut_off", _("it was cut off because the model's context window is full")))
    return AnswerVerdict(ok=not problems, problems=tuple(problems))
