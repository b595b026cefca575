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
from dataclasses import dataclass

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


def wants_direct_answer(question: str) -> bool:
    return bool(_DIRECT.search(question))


def tutor_system_prompt(course_title: str, *, direct: bool = False) -> str:
    return (
        f"You are Lantern, a patient tutor for the course \"{course_title}\". "
        f"{DIRECT_STYLE if direct else SOCRATIC_STYLE} "
        "Answer only from the numbered course material given with the question. Cite the passages you use with "
        "their numbers in square brackets, like [1] or [2]. If the material does not answer the question, say so "
        "plainly instead of guessing. Keep answers short: a few sentences, and a small code example when it helps.")


def passage_label(chunk: CourseChunk) -> str:
    """"Loops › Stopping a loop early" — the lesson title, then the section path below it."""
    titles = list(chunk.titles)
    if titles and titles[0].strip().lower() == chunk.lesson_title.strip().lower():
        titles = titles[1:]
    return " › ".join(t for t in (chunk.lesson_title, *titles) if t)


CITE_REMINDER = "Answer from the course material above and cite it by number, like [1]."


def tutor_prompt(question: str, chunks: Sequence[CourseChunk], *, course_title: str,
                 history: Sequence[Turn] = ()) -> PromptParts:
    """The prompt parts for one question. With passages, a one-line reminder to cite follows the
    question: small models follow the end of the prompt far better than a system prompt."""
    passages = tuple(Passage(text=c.text, source=passage_label(c)) for c in chunks)
    asked = f"{question}\n\n{CITE_REMINDER}" if passages else question
    return PromptParts(system=tutor_system_prompt(course_title, direct=wants_direct_answer(question)),
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


def attribute(answer: str, given: Sequence[CourseChunk], *, min_shared: int = 3,
              min_fraction: float = 0.2) -> list[Citation]:
    """Citations for an answer that cites nothing inline (small models often don't): the passages whose
    content words the answer reuses — at least `min_shared` of them and `min_fraction` of the answer's.
    Post-hoc attribution by overlap, so a source is only named when the answer visibly draws on it."""
    from app.core.retrieval import terms

    said = set(terms(answer))
    if not said:
        return []
    found = []
    for number, chunk in enumerate(given, start=1):
        shared = said & set(terms(chunk.text))
        if len(shared) >= min_shared and len(shared) >= min_fraction * len(said):
            found.append(Citation(number, chunk, inline=False))
    return found


def not_covered_reply(course_title: str, nearest: Sequence[CourseChunk] = ()) -> str:
    """What the tutor says when retrieval finds nothing relevant: no guess dressed up as course content."""
    reply = _("The course \"{title}\" doesn't cover that, so I can't answer it from the course material. "
              "Try rephrasing with words the lessons use, or ask about one of its topics.").format(title=course_title)
    labels = list(dict.fromkeys(passage_label(c) for c in nearest))[:3]
    if labels:
        reply += " " + _("The closest sections are: {sections}.").format(sections="; ".join(labels))
    return reply
