"""Text checks a generated question must pass before it is shown (the model's own second opinion and the
sandboxed run are in app/services/learning/quiz_generation.py).

They are deliberately strict: a dropped question costs a little generation time, a wrong question
shown to a beginner costs their trust (the issue's target is >= 90 % of shown questions correct).
Thresholds were set on the English course's tuning runs (docs/benchmarks.md).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence

from app.core.evaluation.metrics import sentences as sentences_of
from app.core.evaluation.text_match import Vocabulary, content_words, ngrams, words
from app.core.learning.generation import SCHEMAS, SectionSource
from app.core.learning.quiz import Check, QuizQuestion

ANSWER_SUPPORT_MIN = 0.75   # share of the correct answer's content words found in the section
MAX_OUTPUT_LINES = 6
MAX_OUTPUT_CHARS = 240
MAX_CODE_LINES = 12
# A question that points at something the learner cannot see ("the following code") cannot be answered.
_UNSEEN = re.compile(r"\b(the|this|these) (following|above|below)\b|\b(following|above|below) (code|snippet|example|"
                     r"program|output|statement)|\b(this|the) (code|snippet|example|program)\b|\bthe lesson\b|"
                     r"\bin the section\b|\bof the section\b", re.IGNORECASE)
_VAGUE = re.compile(r"\b(all|none|both) of the (above|options|answers)\b|\bnone of these\b", re.IGNORECASE)
_CODE_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\(|[=+\-*/%<>!]=?|\[|\]|\{|\}")
# Snippets whose output is not a fact about the code (time, randomness, the machine) or that read input.
_UNSTABLE_NAMES = frozenset({"input", "random", "time", "datetime", "os", "sys", "id", "hash", "open", "uuid",
                             "__import__", "exec", "eval"})


def _norm(text: str) -> str:
    return " ".join(words(text))


def answer_supported(question: QuizQuestion, source: SectionSource) -> Check:
    """The correct answer's content words are in the section (plural/suffix-tolerant)."""
    vocab = Vocabulary(source.text)
    content = content_words(question.reference)
    if not content:
        return Check("answer_supported", False, "the answer has no content words")
    share = vocab.coverage(question.reference)
    missing = [w for w in content if not vocab.has(w)]
    ok = share >= ANSWER_SUPPORT_MIN
    detail = f"{share:.0%} of the answer's words are in the section" + (f" (missing: {', '.join(missing[:5])})"
                                                                         if missing else "")
    return Check("answer_supported", ok, detail)


QUESTION_ON_TOPIC_MIN = 0.5  # share of the question's content words found in the section


def question_on_topic(question: QuizQuestion, source: SectionSource) -> Check:
    """A question about something the section does not talk about cannot be answered from it."""
    share = Vocabulary(source.text + " " + source.title).coverage(question.prompt)
    return Check("on_topic", share >= QUESTION_ON_TOPIC_MIN, f"{share:.0%} of the question's words are in the section")


def _limits(kind: str) -> tuple[int, int]:
    props = SCHEMAS[kind]["properties"]  # type: ignore[index]
    return int(props["question"]["maxLength"]), int(props["answer"]["maxLength"])


LENGTH_LIMITS = {kind: _limits(kind) for kind in ("choice", "short")} | {"output": (10**6, 10**6)}


def question_well_formed(question: QuizQuestion) -> Check:
    """Things a reader spots at once: the answer given away by the question, duplicate or vague options."""
    prompt = _norm(question.prompt)
    if len(prompt.split()) < 4:
        return Check("well_formed", False, "the question is too short")
    if question.kind != "output" and _UNSEEN.search(question.prompt):
        return Check("well_formed", False, "the question points at something the learner cannot see")
    limits = LENGTH_LIMITS[question.kind]
    texts = [("question", question.prompt, limits[0]), ("answer", question.reference, limits[1]),
             *(("option", o, limits[1]) for o in question.options)]
    for what, text, limit in texts:
        if len(text) > limit:
            return Check("well_formed", False, f"the {what} is longer than {limit} characters")
    if question.kind == "choice":
        options = [_norm(o) for o in question.options]
        if len(set(options)) != len(options) or any(not o for o in options):
            return Check("well_formed", False, "two options are the same (or one is empty)")
        if not 3 <= len(options) <= 4:
            return Check("well_formed", False, f"{len(options)} options (3-4 needed)")
        if any(_VAGUE.search(o) for o in question.options):
            return Check("well_formed", False, "an option is 'all/none of the above'")
        correct = options[question.answer or 0]
        for i, option in enumerate(options):
            if i != question.answer and (option in correct or correct in option):
                return Check("well_formed", False, f"option '{question.options[i]}' contains the answer or is in it")
    reference = _norm(question.reference)
    if question.kind != "output" and reference and len(reference) > 3 and reference in prompt:
        return Check("well_formed", False, "the question contains its own answer")
    return Check("well_formed", True, "")


DISTRACTOR_TRUE_MIN = 0.9  # a wrong option this well covered by one sentence of the section is probably true


SHORT_SENTENCE_MIN = 0.85  # a short answer's content words found in ONE sentence of the section
SHORT_MIN_WORDS = 3


def short_answer_stated(question: QuizQuestion, source: SectionSource) -> Check:
    """A short answer must be a phrase the section states in one sentence: a bare number or a one-word
    answer is too easy to get wrong in the key ("the last index of 'Python' is 6"), and an answer pieced
    together from several sentences is the model's own claim, not the section's."""
    if question.kind != "short":
        return Check("answer_stated", True, "not a short-answer question")
    content = content_words(question.reference)
    if len(content) < SHORT_MIN_WORDS or sum(w.isdigit() for w in content) * 2 >= len(content):
        return Check("answer_stated", False, "the answer is too short (or mostly numbers) to check against the text")
    best = max((Vocabulary(s).coverage(question.reference) for s in sentences_of(source.text)), default=0.0)
    return Check("answer_stated", best >= SHORT_SENTENCE_MIN, f"{best:.0%} of the answer's words are in one sentence")


def distractors_wrong(question: QuizQuestion, source: SectionSource) -> Check:
    """A wrong option that one sentence of the section states (nearly every content word of it in that
    sentence) is probably a true statement too; a short one named in the same sentence as the answer is
    probably another member of the same list ("falsy: False, 0, 0.0"). Either way: drop the question
    rather than mark a right answer wrong."""
    if question.kind != "choice":
        return Check("distractors_wrong", True, "not a choice question")
    sentences = [Vocabulary(s) for s in sentences_of(source.text)]
    with_answer = [v for v in sentences if v.coverage(question.reference) >= ANSWER_SUPPORT_MIN]
    for i, option in enumerate(question.options):
        if i == question.answer or not content_words(option):
            continue
        if len(content_words(option)) >= 3 and any(v.coverage(option) >= DISTRACTOR_TRUE_MIN for v in sentences):
            return Check("distractors_wrong", False, f"the section states '{option}'")
        if len(content_words(option)) == 1 and any(v.coverage(option) == 1.0 for v in with_answer):
            return Check("distractors_wrong", False, f"the section names '{option}' together with the answer")
    return Check("distractors_wrong", True, "no wrong option is stated by the section")


COPIED_RUN = 8  # words in a row of one section sentence: a question made by bending a sentence of the text


def in_own_words(question: QuizQuestion, source: SectionSource) -> Check:
    """A question that copies a long run of a section sentence is usually that sentence bent into a
    question ("What does the while loop check its condition, runs the body if ..."), not a question."""
    prompt = words(question.prompt)
    runs = {gram for s in sentences_of(source.text) for gram in ngrams(words(s), COPIED_RUN)}
    copied = next((gram for gram in ngrams(prompt, COPIED_RUN) if gram in runs), None)
    if copied:
        return Check("own_words", False, f"the question copies the section: '{' '.join(copied)}'")
    return Check("own_words", True, "")


def _names(code: str) -> set[str] | None:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    names |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    names |= {alias.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
              for alias in n.names}
    return names


def snippet_suitable(code: str, source: SectionSource) -> Check:
    """Short, parseable, deterministic, no input, and about what the section teaches (a name its code uses)."""
    lines = [line for line in code.splitlines() if line.strip()]
    if not 1 <= len(lines) <= MAX_CODE_LINES:
        return Check("snippet_suitable", False, f"{len(lines)} lines of code (1-{MAX_CODE_LINES} wanted)")
    names = _names(code)
    if names is None:
        return Check("snippet_suitable", False, "the code is not valid Python")
    unstable = sorted(names & _UNSTABLE_NAMES)
    if unstable:
        return Check("snippet_suitable", False, f"uses {', '.join(unstable)} (input or a changing result)")
    taught: set[str] = set()
    for block in source.code_blocks:
        taught |= _names(block) or set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", block))
    shared = sorted((names & taught) - {"print"})
    if not shared and taught - {"print"}:
        return Check("snippet_suitable", False, "uses nothing the section's examples use")
    return Check("snippet_suitable", True, f"uses {', '.join(shared[:4]) or 'print'} like the section")


def output_usable(output: str) -> Check:
    lines = output.rstrip("\n").splitlines()
    if not output.strip():
        return Check("output_usable", False, "prints nothing")
    if len(lines) > MAX_OUTPUT_LINES or len(output) > MAX_OUTPUT_CHARS:
        return Check("output_usable", False, f"prints {len(lines)} lines / {len(output)} characters (too long to type)")
    return Check("output_usable", True, f"{len(lines)} line(s)")


def text_checks(question: QuizQuestion, source: SectionSource) -> list[Check]:
    """The checks that need no model and no run, in the order they are reported."""
    if question.kind == "output":
        return [snippet_suitable(question.code, source)]
    found = [question_well_formed(question), question_on_topic(question, source), in_own_words(question, source),
             answer_supported(question, source)]
    return found + ([short_answer_stated(question, source)] if question.kind == "short"
                    else [distractors_wrong(question, source)])


def first_failure(checks: Sequence[Check]) -> Check | None:
    return next((c for c in checks if not c.passed), None)


def looks_like_code(text: str) -> bool:
    return bool(_CODE_TOKEN.search(text))
