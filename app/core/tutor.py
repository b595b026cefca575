"""The tutor's voice: a grounded, Socratic system prompt, numbered course passages, citations, and
an honest reply when the course does not cover the question.

Socratic by default (guide with a question or a hint, as Khanmigo does) because a tutor that hands
over finished answers teaches little; a learner who asks outright ("just tell me", "show me the
solution") gets a direct answer. Passages are numbered [1]..[n] in the final user message
(app.core.context_policy.build_messages) and the model is asked to cite them by number; the answer's
markers are then checked against the passages actually given, so a citation always points at a real
lesson section.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from app.core.context_policy import Passage, PromptParts, Turn
from app.core.courses import CourseChunk
from app.core.i18n import _

_DIRECT = re.compile(
    r"\b(just (tell|give|show)|tell me the answer|give me the (answer|solution|code)|show me the (answer|solution|"
    r"code)|(give|show|tell) me the (full |whole |complete )?solution|the (full|whole|complete) solution|"
    r"write the code|what is the answer|i give up)",
    re.IGNORECASE)
# "[2]" or "[1, 3]", but not list indexing in code ("nums[1]", "f(x)[0]"): no word or ")" right before it.
_CITATION = re.compile(r"(?<![\w)])\[(\d+(?:\s*,\s*\d+)*)\]")

SOCRATIC_STYLE = (
    "Teach the way a good tutor does: do not hand over finished answers or complete solutions. Start from what "
    "the learner already knows, explain the one idea they need in plain words, then ask them a short guiding "
    "question or give a hint so they take the next step themselves.")
DIRECT_STYLE = "The learner asked for the answer outright: give it clearly and completely, then explain why it works."
LANGUAGE_NAMES = {"en": "English", "vi": "Vietnamese (tiếng Việt)"}


@dataclass(frozen=True)
class PromptRecipe:
    """How the tutor asks a model: the system prompt, the layout and the decoding. Each change to any of
    them is a new recipe with a new version (the eval's cache key), and the eval can still run the old
    ones (`lantern eval tutor --prompt VERSION`), so every before/after figure can be reproduced.
    `system` has {title} and {style}; `socratic`/`direct` fill {style}."""

    version: str
    system: str
    socratic: str
    direct: str
    cite_reminder: bool  # repeat the cite instruction after the question (tutor-1: small models echo it as "[1]")
    answer_language: bool  # name the language to answer in (the question's)
    min_tokens: int  # end-of-text is not allowed before this many tokens
    repeat_penalty: float  # greedy decoding with this penalty over the last 64 tokens (1.0: none)
    # Translate a question in another language than the course's before searching (query_translation).
    translate_query: bool = False
    # The style for a hint request (the learner shows an attempt or asks for a hint); None: `socratic`.
    hint: str | None = None
    # After a question in another language than the course's, one line in that language asking for an
    # answer in it: told only in the system prompt, the 0.5B model answered 4 of 8 such tuning questions
    # in the passages' English; with the line, 7 of 8 in Vietnamese.
    language_reminder: bool = False
    # When the answer cites nothing inline: "all" passages over the overlap thresholds (tutor-1 to 3), or
    # only the "best" one (tutor-4: right 56 % of the time on the tuning split against 45 % for "all").
    attribution: Literal["all", "best"] = "all"


_TUTOR_1 = PromptRecipe(
    "tutor-1",
    system=("You are Lantern, a patient tutor for the course \"{title}\". {style} Answer only from the numbered "
            "course material given with the question. Cite the passages you use with their numbers in square "
            "brackets, like [1] or [2]. If the material does not answer the question, say so plainly instead of "
            "guessing. Keep answers short: a few sentences, and a small code example when it helps."),
    socratic=SOCRATIC_STYLE, direct=DIRECT_STYLE, cite_reminder=True, answer_language=False, min_tokens=0,
    repeat_penalty=1.0)
# Short sentences, one instruction each, and nothing a small model can mistake for text to copy: the
# long tutor-1 prompt was echoed back by Qwen2.5-Coder-0.5B and SmolLM2. No cite instruction (a 0.5B
# model answers it with "[1]"): Lantern attributes citations from shared wording (attribute()).
_SOCRATIC_SHORT = ("Explain the idea in plain words. Do not write the whole solution of an exercise for them. "
                   "End with one short question or hint for their next step.")
_DIRECT_SHORT = "The learner asked for the answer outright: give it, then explain why it works."
_TUTOR_2 = PromptRecipe(
    "tutor-2",
    system=("You are Lantern, a friendly tutor for the course \"{title}\". The learner's message has course notes, "
            "then their question. Answer the question in your own words from the notes: a few sentences, and a "
            "short code example when it helps. {style} If the notes do not answer the question, say the course "
            "does not cover it."),
    socratic=_SOCRATIC_SHORT, direct=_DIRECT_SHORT, cite_reminder=False, answer_language=True, min_tokens=16,
    repeat_penalty=1.1)
# tutor-2 made the 0.5B model say "the course does not cover it" on 58 % of covered tuning questions (and
# echo "The learner's message has course notes"): refusing is the retrieval gate's job (CoveragePolicy).
_TUTOR_3 = replace(_TUTOR_2, version="tutor-3", system=(
    "You are Lantern, a friendly tutor for the course \"{title}\". Answer the learner's question in your own "
    "words, using the course notes given with it: a few sentences, and a short code example when it helps. {style}"))
# tutor-4: the question translated for the search when it is not in the course's language (and a line
# asking for an answer in the question's language), a hint style of its own (tutor-3's hints rarely
# asked anything back), and one attributed citation.
_HINT_SHORT = ("The learner wants a hint, not the answer. Point at the one thing to fix in their attempt, then ask "
               "them a short question. Do not write the corrected code.")
_TUTOR_4 = replace(_TUTOR_3, version="tutor-4", translate_query=True, hint=_HINT_SHORT, language_reminder=True,
                   attribution="best")
RECIPES = {r.version: r for r in (_TUTOR_1, _TUTOR_2, _TUTOR_3, _TUTOR_4)}
DEFAULT_RECIPE = RECIPES["tutor-4"]
# Part of the eval's cache key (app/services/evaluation/tutor_eval.py).
PROMPT_VERSION = DEFAULT_RECIPE.version


_NEGATED = re.compile(r"(?:\bnot|n['’]t|\bno|\bwithout|\bnever)\W+(?:\w+\W+)?$", re.IGNORECASE)


def wants_direct_answer(question: str) -> bool:
    """"just tell me", "show me the solution" — but not "don't tell me the answer, just a hint"."""
    return any(not _NEGATED.search(question[:m.start()]) for m in _DIRECT.finditer(question))


_HINT = re.compile(r"\b(?:hint|clue|nudge|stuck)\b|gợi ý|```", re.IGNORECASE)


def wants_hint(question: str) -> bool:
    """A hint request: the learner asks for a hint or pastes their attempt (a code block)."""
    return bool(_HINT.search(question)) and not wants_direct_answer(question)


def tutor_system_prompt(course_title: str, *, direct: bool = False, recipe: PromptRecipe = DEFAULT_RECIPE,
                        language: str | None = None, hint: bool = False) -> str:
    style = recipe.direct if direct else (recipe.hint if hint and recipe.hint else recipe.socratic)
    prompt = recipe.system.format(title=course_title, style=style)
    if recipe.answer_language and language in LANGUAGE_NAMES:
        prompt += f" Answer in {LANGUAGE_NAMES[language]}."
    return prompt


def passage_label(chunk: CourseChunk) -> str:
    """"Loops › Stopping a loop early" — the lesson title, then the section path below it."""
    titles = list(chunk.titles)
    if titles and titles[0].strip().lower() == chunk.lesson_title.strip().lower():
        titles = titles[1:]
    return " › ".join(t for t in (chunk.lesson_title, *titles) if t)


CITE_REMINDER = "Answer from the course material above and cite it by number, like [1]."
LANGUAGE_REMINDERS = {"en": "Please answer in English.", "vi": "Hãy trả lời bằng tiếng Việt."}


def question_language(question: str, fallback: str | None) -> str | None:
    """The language to answer in: the question's when it can be told, else `fallback` (the course's)."""
    from app.core.answer_check import guess_language

    return guess_language(question) or fallback


def tutor_prompt(question: str, chunks: Sequence[CourseChunk], *, course_title: str,
                 history: Sequence[Turn] = (), recipe: PromptRecipe = DEFAULT_RECIPE,
                 language: str | None = None, course_language: str | None = None) -> PromptParts:
    """The prompt parts for one question (`language`: the one to answer in). tutor-1 followed the
    question with a one-line reminder to cite; a 0.5B model answered that reminder with "[1]"."""
    passages = tuple(Passage(text=c.text, source=passage_label(c)) for c in chunks)
    asked = f"{question}\n\n{CITE_REMINDER}" if passages and recipe.cite_reminder else question
    course = (course_language or "").split("-")[0].lower()
    if recipe.language_reminder and language in LANGUAGE_REMINDERS and course and language != course:
        asked = f"{asked}\n\n{LANGUAGE_REMINDERS[language]}"
    return PromptParts(system=tutor_system_prompt(course_title, direct=wants_direct_answer(question), recipe=recipe,
                                                  language=language, hint=wants_hint(question)),
                       question=asked, passages=passages, history=tuple(history))


@dataclass(frozen=True)
class Citation:
    number: int  # the passage's number in the prompt: [number]
    chunk: CourseChunk
    inline: bool = True  # the model wrote [number]; False: attributed by Lantern from shared wording

    @property
    def ref(self) -> str:
        """lesson#anchor: what a UI links to and the CLI prints."""
        return f"{self.chunk.lesson_id}#{self.chunk.anchor}" if self.chunk.anchor else self.chunk.lesson_id


def cited_numbers(answer: str) -> list[int]:
    """Every [n] / [n, m] marker in the answer, in order of first use."""
    seen: dict[int, None] = {}
    for group in _CITATION.findall(answer):
        for number in group.split(","):
            seen.setdefault(int(number), None)
    return list(seen)


def citations(answer: str, given: Sequence[CourseChunk]) -> tuple[list[Citation], list[int]]:
    """(valid citations, markers that point at no given passage)."""
    valid, invalid = [], []
    for number in cited_numbers(answer):
        if 1 <= number <= len(given):
            valid.append(Citation(number, given[number - 1]))
        else:
            invalid.append(number)
    return valid, invalid


def attribute(answer: str, given: Sequence[CourseChunk], *, mode: Literal["all", "best"] = "best",
              min_shared: int = 3, min_fraction: float = 0.2) -> list[Citation]:
    """Citations for an answer that cites nothing inline (small models can't, so the current recipe
    does not ask them to): the passages whose content words the answer reuses — at least `min_shared`
    of them and `min_fraction` of the answer's. Mode "best" names only the one it reuses most (a tie
    goes to the better-ranked passage): on the tuning split, naming every passage over the thresholds
    was right 45 % of the time, the best one alone 56 % (docs/benchmarks.md)."""
    from app.core.retrieval import terms

    said = set(terms(answer))
    if not said:
        return []
    shared = [len(said & set(terms(chunk.text))) for chunk in given]
    over = [i for i, n in enumerate(shared) if n >= min_shared and n >= min_fraction * len(said)]
    if mode == "best" and over:
        over = [max(over, key=lambda i: (shared[i], -i))]
    return [Citation(i + 1, given[i], inline=False) for i in over]


def not_covered_reply(course_title: str, nearest: Sequence[CourseChunk] = ()) -> str:
    """What the tutor says when retrieval finds nothing relevant: no guess dressed up as course content."""
    reply = _("The course \"{title}\" doesn't cover that, so I can't answer it from the course material. "
              "Try rephrasing with words the lessons use, or ask about one of its topics.").format(title=course_title)
    labels = list(dict.fromkeys(passage_label(c) for c in nearest))[:3]
    if labels:
        reply += " " + _("The closest sections are: {sections}.").format(sections="; ".join(labels))
    return reply
