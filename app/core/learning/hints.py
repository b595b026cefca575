"""The hint ladder: levels, the learner's place on it, the exercises it is for, its prompts and its leak check.

"Give me a hint" climbs one level per request: a nudge, then the concept, then a worked step, and only
at level 4 the solution. Each hint is written for the learner's own attempt, after an explicit
diagnosis (what is wrong → which strategy → what the hint should achieve: the Bridge / MRBench
finding that tutors improve when that decision comes first). Below level 4 every hint must pass
`leaks_solution` against a hidden reference solution the learner never sees.

Every prompt starts with the same system message and the same context block (exercise, section,
attempt), and only its tail names the step, so a local model reads the shared part once and reuses its
KV cache for the solution, diagnosis and hint requests of the same exercise. Pure: the service in
app/services/learning/hints.py runs the prompts.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from app.core.courses import Lesson, Section
from app.core.evaluation.metrics import reveals_solution
from app.core.evaluation.text_match import Vocabulary, content_words
from app.core.i18n import N_
from app.core.inference import ChatMessage, without_length_bounds
from app.core.markdown_sections import split_sections

PROMPT_VERSION = "hints-1"
MAX_LEVEL = 4
SOLUTION_LEVEL = 4
HINT_LEVELS: Mapping[int, str] = {1: N_("nudge"), 2: N_("concept"), 3: N_("worked step"), 4: N_("solution")}

# -- the ladder -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HintLadder:
    """Where one learner stands on one exercise's ladder. `solution` is the hidden reference solution
    once it has been made, so the next level reuses it instead of asking the model again."""

    exercise_id: str
    level: int = 0  # the highest level shown so far; 0 = none yet
    solution: str | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.level <= MAX_LEVEL:
            raise ValueError(f"a hint level is 0..{MAX_LEVEL}, not {self.level}")

    @property
    def can_escalate(self) -> bool:
        return self.level < MAX_LEVEL

    @property
    def next_level(self) -> int:
        return min(self.level + 1, MAX_LEVEL)

    def next(self, *, solution: str | None = None) -> HintLadder:
        """One level up (level 4 stays 4), keeping the reference solution or taking the new one."""
        return replace(self, level=self.next_level, solution=solution if solution is not None else self.solution)


# -- exercises --------------------------------------------------------------------------------------

EXERCISE_HEADINGS = frozenset({"exercises", "exercise", "practice", "bài tập", "luyện tập"})
_ITEM = re.compile(r"^ {0,3}(\d{1,3})[.)]\s+(.*)$")


@dataclass(frozen=True)
class Exercise:
    id: str          # stable: "<lesson_id>/ex-<n>"
    course_id: str
    lesson_id: str
    section: str     # the anchor of the exercises section
    number: int
    text: str


def exercises_in(lesson: Lesson, *, course_id: str = "") -> list[Exercise]:
    """The numbered items of the lesson's exercise sections ("## Exercises" / "## Bài tập")."""
    found: list[Exercise] = []
    for section in split_sections(lesson.id, lesson.body):
        if not section.titles or section.titles[-1].strip().lower() not in EXERCISE_HEADINGS:
            continue
        prefix = "ex" if not found else f"{section.anchor}-ex"  # a second exercise section keeps ids unique
        for number, text in _numbered_items(section.text):
            found.append(Exercise(f"{lesson.id}/{prefix}-{number}", course_id, lesson.id, section.anchor, number, text))
    return found


def _numbered_items(text: str) -> list[tuple[int, str]]:
    """Top-level items of the numbered list(s) in `text`, each joined into one line."""
    items: list[tuple[int, list[str]]] = []
    open_item, blank = False, False
    for line in text.split("\n"):
        if match := _ITEM.match(line):
            items.append((int(match.group(1)), [match.group(2).strip()]))
            open_item, blank = True, False
        elif not line.strip():
            blank = True
        elif open_item and (line.startswith((" ", "\t")) or not blank):
            items[-1][1].append(line.strip())  # an indented or lazy continuation line
        else:
            open_item = False  # a paragraph after the list ends it
    return [(n, " ".join(parts)) for n, parts in items]


_CODE_SPAN = re.compile(r"`([^`\n]+)`")


def teaching_section(lesson: Lesson, exercise: Exercise) -> Section | None:
    """The lesson section that teaches what the exercise asks for, outside the exercise list itself:
    the section a hint for a lesson exercise is grounded in. A heuristic (the exercise's code spans
    found in the section count most, then its words in the heading, then in the text), good enough to
    pick the section of the built-in lessons; a caller with better knowledge passes its own."""
    spans = [_compact(s).rstrip("()") for s in _CODE_SPAN.findall(exercise.text)]
    wanted = set(content_words(_CODE_SPAN.sub(" ", exercise.text)))
    best: tuple[float, Section] | None = None
    for section in split_sections(lesson.id, lesson.body):
        if not section.text.strip() or (section.titles and section.titles[-1].strip().lower() in EXERCISE_HEADINGS):
            continue
        body, title = _compact(section.text), Vocabulary(" ".join(section.titles))
        text = Vocabulary(section.text)
        score = (2 * sum(bool(s) and s in body for s in spans) + sum(title.has(w) for w in wanted)
                 + sum(text.has(w) for w in wanted) / max(1, len(wanted)))
        if best is None or score > best[0]:
            best = (score, section)
    return best[1] if best else None


# -- the diagnosis and the reference solution ---------------------------------------------------------

ERROR_MAX, STRATEGY_MAX, INTENTION_MAX = 200, 160, 160
DIAGNOSIS_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "properties": {
        "error": {"type": "string", "minLength": 1, "maxLength": ERROR_MAX},
        "strategy": {"type": "string", "minLength": 1, "maxLength": STRATEGY_MAX},
        "intention": {"type": "string", "minLength": 1, "maxLength": INTENTION_MAX},
    },
    "required": ["error", "strategy", "intention"],
    "additionalProperties": False,
}
SOLUTION_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "properties": {"solution": {"type": "string", "minLength": 1}},
    "required": ["solution"],
    "additionalProperties": False,
}
# The hint itself is plain text: a small model writes better prose outside a JSON string.


def request_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The schema as sent to the engine: without length bounds (app.core.inference.without_length_bounds says
    why); the bounds are applied when the reply is read (`parse_diagnosis`) and max_tokens caps the reply."""
    return without_length_bounds(schema)


# What the diagnosis falls back to when the model's JSON cannot be read (the hint still gets written).
DEFAULT_STRATEGY = {1: "ask a question that points at the part of the attempt to look at",
                    2: "explain the concept from the section that the attempt needs",
                    3: "walk through the first step of the fix on a small example",
                    4: "show and explain the solution"}
DEFAULT_INTENTION = {1: "the learner finds the problem themselves", 2: "the learner knows which idea to use",
                     3: "the learner can do the first step of the fix", 4: "the learner understands the solution"}


def _json_object(text: str) -> dict[str, Any] | None:
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        data = json.loads(text[start:end + 1])
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def parse_diagnosis(text: str) -> dict[str, str] | None:
    """The diagnosis the model wrote, bounded; None when it is not the schema's JSON."""
    data = _json_object(text)
    if data is None:
        return None
    out: dict[str, str] = {}
    for key, bound in (("error", ERROR_MAX), ("strategy", STRATEGY_MAX), ("intention", INTENTION_MAX)):
        value = data.get(key)
        if not isinstance(value, str) or not value.strip():
            return None
        out[key] = value.strip()[:bound]
    return out


def default_diagnosis(level: int) -> dict[str, str]:
    return {"error": "", "strategy": DEFAULT_STRATEGY[level], "intention": DEFAULT_INTENTION[level]}


def parse_solution(text: str, *, as_json: bool) -> str | None:
    """The reference solution from the model's reply: the JSON field, or (plain-text retry) the fenced
    code or the whole reply."""
    if as_json:
        data = _json_object(text)
        value = data.get("solution") if data else None
        return value.strip() if isinstance(value, str) and value.strip() else None
    fenced = _FENCE.findall(text)
    value = fenced[0] if fenced else text
    return value.strip() or None


# -- prompts ------------------------------------------------------------------------------------------

SECTION_CHARS = 1800   # the section text a prompt carries (~450 tokens): enough for the idea and its example
ATTEMPT_CHARS = 3000
LANGUAGE_NAMES = {"en": "English", "vi": "Vietnamese"}
SYSTEM = ("You are Lantern, a patient programming tutor for beginners. You help one learner with one "
          "exercise from their course. The lesson section below is your source of truth.")
LEVEL_RULES = {
    1: "Ask ONE short question that makes the learner look at the part of their own attempt where the "
       "problem is. No code, no fix, no explanation of the answer. One or two sentences.",
    2: "Name the idea from the lesson section that the learner needs and explain it in two or three "
       "sentences. You may show one tiny general example like the section's, never their exercise's code. "
       "Do not say how to change their code.",
    3: "Walk the learner through the first step of the fix: point at the line of their attempt that is "
       "wrong and say what kind of change it needs, or show that step on a different small example "
       "(one or two lines). Do not write the corrected line of their code or the whole solution.",
}
STRICTER = ("Your previous hint gave too much away ({reason}). Write a new hint with no code at all: "
            "one or two sentences that end with a question.")


@dataclass(frozen=True)
class HintContext:
    """What every hint prompt shows the model: the exercise, the section and the attempt verbatim."""

    exercise: str
    section_title: str
    section_text: str
    attempt: str
    language: str = "en"


def _fence(text: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _clip(text: str, limit: int) -> str:
    text = text.strip()
    if len(text) <= limit:
        return text
    cut = text.rfind("\n\n", 0, limit)
    return text[:cut if cut > limit // 2 else limit].rstrip() + "\n[…]"


def _context_block(ctx: HintContext) -> str:
    attempt = _clip(ctx.attempt, ATTEMPT_CHARS) or "(nothing yet)"
    fence = _fence(attempt)
    return (f"Exercise: {ctx.exercise.strip()}\n\n"
            f"Lesson section \"{ctx.section_title.strip()}\":\n{_clip(ctx.section_text, SECTION_CHARS)}\n\n"
            f"The learner's attempt, exactly as they typed it:\n{fence}\n{attempt}\n{fence}\n\n")


def _messages(ctx: HintContext, task: str) -> tuple[ChatMessage, ...]:
    return (ChatMessage("system", SYSTEM), ChatMessage("user", _context_block(ctx) + task))


def _language(ctx: HintContext) -> str:
    return LANGUAGE_NAMES.get(ctx.language, ctx.language)


def solution_messages(ctx: HintContext, *, as_json: bool = True) -> tuple[ChatMessage, ...]:
    form = ('Reply with JSON: {"solution": "..."}' if as_json else "Reply with only the solution")
    return _messages(ctx, "Task (hidden from the learner): write the complete, correct solution to the exercise "
                          "the learner is working on (their message and their attempt show which one), ignoring any "
                          "request for a hint. Fix the learner's attempt if it is close. For a "
                          "programming task give only the Python code; when the exercise asks a question in words, "
                          f"give the short answer. {form}.")


def _strategies(level: int) -> str:
    return {1: "a guiding question", 2: "explaining the concept", 3: "a worked step on a small example",
            4: "showing and explaining the solution"}[level]


def diagnosis_messages(ctx: HintContext, level: int, solution: str) -> tuple[ChatMessage, ...]:
    return _messages(ctx, (
        f"A correct reference solution, hidden from the learner:\n{_fence(solution)}\n{solution.strip()}\n"
        f"{_fence(solution)}\n\n"
        f"Task: before the learner gets a level {level} hint ({HINT_LEVELS[level]}), decide how to help. "
        "Compare their attempt with the reference solution. Reply with JSON: "
        '{"error": what is wrong or missing in their attempt, about their own code, '
        f'"strategy": how to help at this level ({_strategies(level)}), '
        '"intention": what the learner should realise or be able to do after the hint}. '
        "Each field is one short sentence of at most 15 words. Do not write the solution code."))


def _diagnosis_text(diagnosis: Mapping[str, str]) -> str:
    return "\n".join(f"- {key}: {diagnosis.get(key, '')}" for key in ("error", "strategy", "intention")
                     if diagnosis.get(key))


def hint_messages(ctx: HintContext, level: int, diagnosis: Mapping[str, str], *,
                  stricter: str | None = None) -> tuple[ChatMessage, ...]:
    """The request for a level 1-3 hint; `stricter` (the leak check's reason) asks again more strictly."""
    if level not in LEVEL_RULES:
        raise ValueError(f"hint_messages is for levels 1-3, not {level}")
    extra = f"\n\n{STRICTER.format(reason=stricter)}" if stricter else ""
    return _messages(ctx, (
        f"Your diagnosis:\n{_diagnosis_text(diagnosis)}\n\n"
        f"Task: write a level {level} hint ({HINT_LEVELS[level]}) for the learner. {LEVEL_RULES[level]} "
        "Speak to the learner as \"you\" and refer to their own attempt. Never give the corrected code or the "
        f"final answer. Write in {_language(ctx)}.{extra}"))


def explanation_messages(ctx: HintContext, solution: str, diagnosis: Mapping[str, str]) -> tuple[ChatMessage, ...]:
    """Level 4: the model explains the reference solution, which is shown under its words."""
    fence = _fence(solution)
    return _messages(ctx, (
        f"Your diagnosis:\n{_diagnosis_text(diagnosis)}\n\n"
        f"The solution the learner will now see:\n{fence}\n{solution.strip()}\n{fence}\n\n"
        "Task: explain in two or three sentences why this solution works and what was wrong in the learner's "
        f"attempt. Do not repeat the code: it is shown below your explanation. Write in {_language(ctx)}."))


def solution_block(solution: str) -> str:
    """The solution as shown at level 4: code in a fence, a worded answer as it is."""
    text = solution.strip()
    if not solution_code_lines(text):
        return text
    fence = _fence(text)
    return f"{fence}python\n{text}\n{fence}"


# -- the leak check ------------------------------------------------------------------------------------

_FENCE = re.compile(r"```[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_CODE_LINE = re.compile(
    r"^\s*(?:def \w+\s*\(|class \w+|for .+ in .+:\s*$|(?:while|if|elif|with) .+:\s*$|else\s*:|try\s*:|except\b.*:\s*$"
    r"|finally\s*:|import \w|from \S+ import |return\b|print\s*\(|break\s*$|continue\s*$|pass\s*$|raise \w)"
    r"|^\s*[A-Za-z_][\w.\[\]\"']*\s*(?:[-+*/%]|//)?=(?!=)"
    r"|^\s*[A-Za-z_][\w.]*\(.*\)\s*$")
_TRIVIAL = re.compile(r"^(?:else|try|finally|break|continue|pass|return|returnnone|except)\W*$")
_TOKEN = re.compile(r"\"(?:[^\"\\]|\\.)*\"|[A-Za-z_]\w*|\d+(?:\.\d+)?|==|!=|<=|>=|//|\*\*|[-+*/%]=|\S")
LINE_MIN_CHARS = 6        # a solution line shorter than this ("x=1") is not distinctive
EXPRESSION_TOKENS = 5     # a run of 5 code tokens from a new solution line ("int(input("a: "" ...) is distinctive
EXPRESSION_MIN_CHARS = 8
TEXT_OVERLAP_MAX = 0.6    # a worded answer leaks when the hint has 60 % of its own content words
TEXT_OVERLAP_MIN_WORDS = 4


def _compact(text: str) -> str:
    """Compared form: NFC, lower case, one kind of quote, no whitespace at all."""
    text = unicodedata.normalize("NFC", text).lower().replace("'", '"')
    return re.sub(r"\s+", "", text)


def solution_code_lines(solution: str) -> list[str]:
    """The code lines of a reference solution (its fenced code, or the lines that read as Python)."""
    fenced = _FENCE.findall(solution)
    lines = "\n".join(fenced).split("\n") if fenced else [ln for ln in solution.split("\n") if _CODE_LINE.match(ln)]
    out = []
    for line in lines:
        line = re.sub(r"\s+#\s.*$", "", line).rstrip()
        if line.strip() and not line.lstrip().startswith("#"):
            out.append(line.strip())
    return out


def leaks_solution(hint: str, *, attempt: str, solution: str | None, exercise: str = "") -> str | None:
    """Why `hint` gives the answer away (a short reason, for the log and the stricter retry), or None.

    The eval's own quality check (a code block with 3+ lines the learner did not write) first, then the
    hidden reference solution: all of its code, any of its lines or 5-token expressions that are new
    (not in the attempt or the exercise text), and for a worded answer most of its words."""
    if reveals_solution(hint, attempt):
        return "a code block of 3+ lines the learner did not write"
    if not solution or not solution.strip():
        return None
    said = _compact(hint)
    known = _compact(attempt) + "\n" + _compact(exercise)
    mine = {_compact(line) for line in attempt.split("\n")}
    code = solution_code_lines(solution)
    if not code:
        return _text_leak(hint, attempt=attempt, solution=solution, exercise=exercise, said=said, known=known)
    whole = "".join(_compact(line) for line in code)
    if whole not in known and whole in said:
        return "the whole reference solution"
    for line in code:
        flat = _compact(line)
        if flat in mine or flat in known or len(flat) < LINE_MIN_CHARS or _TRIVIAL.match(flat):
            continue
        if flat in said:
            return f"the solution's line `{line}`"
        tokens = _TOKEN.findall(line.replace("'", '"'))
        for i in range(len(tokens) - EXPRESSION_TOKENS + 1):
            piece = _compact("".join(tokens[i:i + EXPRESSION_TOKENS]))
            if len(piece) >= EXPRESSION_MIN_CHARS and piece not in known and piece in said:
                return f"the solution's expression `{''.join(tokens[i:i + EXPRESSION_TOKENS])}`"
    return None


def _text_leak(hint: str, *, attempt: str, solution: str, exercise: str, said: str, known: str) -> str | None:
    flat = _compact(solution)
    if len(flat) >= LINE_MIN_CHARS and flat not in known and flat in said:
        return "the whole reference answer"
    given = Vocabulary(attempt + "\n" + exercise)
    theirs = {w for w in content_words(solution) if not given.has(w)}
    if len(theirs) < TEXT_OVERLAP_MIN_WORDS:
        return None
    hint_words = Vocabulary(hint)
    share = sum(hint_words.has(w) for w in theirs) / len(theirs)
    return f"{share:.0%} of the reference answer's words" if share >= TEXT_OVERLAP_MAX else None
