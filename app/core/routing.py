"""The router's decision: does this question need the cloud model, and which role answers it?

Decided before generating (as RouteLLM does), from the text and what the course search already
found, in well under a millisecond: the embedding is given, not computed here. Strong rules come
first, because an explicit "compare", "design" or "explain in detail" says plainly what the learner
wants and a 0.5B model does those poorly; then a small logistic classifier (trained on the eval set's
`needs_cloud` labels by app.services.routing.classifier) rates the rest. A question the course does
not cover is never sent to the cloud by the router: the tutor says the course does not cover it.

Vietnamese learners often type without diacritics ("so sanh", "thiet ke"), so phrases are matched on
the question with its marks stripped, and written here that way once.
Pure: no I/O, no numpy (the weights are a few hundred floats; a dot product in Python is fast enough).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from app.core.errors import LanternError
from app.core.i18n import _
from app.core.tutor import wants_direct_answer, wants_hint

Role = Literal["default", "simple", "code"]
MODEL_FORMAT = 1
# Beyond this many words (code not counted) a question has several parts; the small model loses track.
LONG_QUESTION_WORDS = 60
# A "simple" question: define-like and at most this many words.
SIMPLE_MAX_WORDS = 10
HINT_LEVEL_TO_CLOUD = 3  # the third hint request in a row: the on-device hints have not helped


class RouterModelInvalid(ValueError, LanternError):
    """A router weights file that cannot be read or does not match the current features."""


def fold(text: str) -> str:
    """Lower case without diacritics ("Thiết kế" -> "thiet ke"): one spelling for both ways of typing."""
    decomposed = unicodedata.normalize("NFD", text.lower().replace("đ", "d").replace("Đ", "d"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


# Written folded (no diacritics): they are matched against fold(question).
# An explicit request to compare (strong) vs. two things set side by side ("x vs y", "khác nhau"), which
# is often a quick lookup ("break vs continue") and is left to the classifier.
_COMPARE = _rx(r"\bcompar(e|ed|es|ing|ison)\b|\bdifferences? between\b|\bso sanh\b|\bgiong va khac\b")
_VERSUS = _rx(r"\bvs\b\.?|\bversus\b|\bdifferences?\b|\bkhac nhau\b|\bkhac gi\b|\bgiong nhau\b|"
              r"\b\w+ or \w+\b.*\bwhich\b")
_CHOICE = _rx(r"\bwhen (do|should) i (use|get|pick) (which|each)\b|\bwhich (one|is better|is cleaner|should i)\b|"
              r"\bwhen to use (which|each)\b|\bcai nao\b|\bkhi nao (thi )?dung\b|\bnen dung\b")
_ANALYSE = _rx(r"\banaly[sz](e|es|is|ing)\b|\bphan tich\b|\btrade-?offs?\b|\bpros and cons\b|\buu nhuoc\b|"
               r"\buu diem\b|\bnhuoc diem\b")
_DESIGN = _rx(r"\bdesign\b|\barchitect(ure)?\b|\bstructure\b|\bplan\b|\bthiet ke\b|\bkien truc\b|\bcau truc\b|"
              r"\bke hoach\b|\bto chuc\b")
_DETAIL = _rx(r"\bin (great |more |full )?detail\b|\bin[- ]depth\b|\bthorough(ly)?\b|\bstep[- ]by[- ]step\b|"
              r"\bchi tiet\b|\bcan ke\b|\bky hon\b|\bsau hon\b")
_CODE_INTENT = _rx(r"\b(write|fix|debug|refactor|implement|correct)\b.{0,40}\b(code|function|program|script|loop|"
                   r"class|snippet)\b|\bviet\b.{0,25}\b(code|ham|chuong trinh|doan ma|vong lap)\b|"
                   r"\b(sua|fix|debug)\b.{0,25}\b(code|loi|ham|ma)\b|\bcode (for|to)\b")
_DEFINE = _rx(r"^\s*(what('?s| is| are| does)|define|meaning of)\b|\bla gi\b|\bnghia la gi\b|\bla cai gi\b|"
              r"\blam gi\b|\bmeans?\b\s*\??\s*$|\bdinh nghia\b|^\s*[\w ]{1,24}\?\s*$")
_QUIZ = _rx(r"^\s*quiz\b|\bquiz (me|us)\b|\btest me\b|\bask me\b.{0,20}\bquestions?\b|\bdo (minh|toi|em)\b|"
            r"\btrac nghiem\b")
_SUMMARY = _rx(r"\bsummar(y|i[sz]e)\b|\bsum up\b|\brecap\b|\btl;?dr\b|\btom tat\b|\btom luoc\b")
_HOW_TO = _rx(r"^\s*(how (do|can|would) i|how to)\b|\bcach\b|\blam (sao|the nao) de\b|\bbang cach nao\b|"
              r"\bthe nao\s*\??\s*$|\bviet sao\b|\bthi sao\b")
# A task in the imperative ("remove duplicates from a list", "kiểm tra số chẵn hay lẻ"): a coding question.
_TASK = _rx(r"^\s*(count|print|add|remove|keep|get|make|read|install|repeat|loop|change|load|sort|find|check|"
            r"convert|reverse|split|join|save|create|open|round|show|in|kiem tra|hoi|doc|cai|tao|dem|tinh|"
            r"sap xep|lay|them|xoa|chuyen|nhap)\b")
_EXPLAIN = _rx(r"\bwhy\b|\berror\b|\bexplain\b|\btai sao\b|\bvi sao\b|\bgiai thich\b|\bla sao\b")
_FENCE = re.compile(r"```")
_INLINE_CODE = re.compile(r"`[^`\n]+`")
_CODE_LINE = re.compile(r"^\s*(def |class |for .+:|while .+:|if .+:|import |from \w+ import|print\(|return\b)"
                        r"|[\w\]\)]\s*[+\-*/%]?=\s*\S|\w+\([^)]*\)\s*$", re.MULTILINE)
_WORD = re.compile(r"\w+")

FEATURE_NAMES: tuple[str, ...] = (
    "words", "has_code", "compare", "versus", "choice", "analyse", "design", "detail", "code_intent",
    "define_like", "how_to", "hint_level", "direct_answer")


def _words(text: str) -> int:
    return len(_WORD.findall(_FENCE.split(text)[0] if text.count("```") >= 2 else text))


def _has_code(question: str) -> bool:
    return bool(_FENCE.search(question) or _INLINE_CODE.search(question) or
                (question.count("\n") and _CODE_LINE.search(question)))


def hint_level(question: str, previous: Sequence[str] = ()) -> int:
    """How many hint requests in a row end with this question (0 when it asks for none)."""
    if not wants_hint(question):
        return 0
    level = 1
    for earlier in reversed(previous):
        if not wants_hint(earlier):
            break
        level += 1
    return level


def question_features(question: str, *, previous: Sequence[str] = ()) -> dict[str, float]:
    """The named rule features (FEATURE_NAMES, in order), 0/1 except `words` and `hint_level`."""
    folded = fold(question)

    def has(pattern: re.Pattern[str]) -> float:
        return 1.0 if pattern.search(folded) else 0.0

    return {
        "words": float(_words(question)),
        "has_code": 1.0 if _has_code(question) else 0.0,
        "compare": has(_COMPARE), "versus": has(_VERSUS), "choice": has(_CHOICE), "analyse": has(_ANALYSE),
        "design": has(_DESIGN), "detail": has(_DETAIL), "code_intent": has(_CODE_INTENT),
        "define_like": has(_DEFINE), "how_to": has(_HOW_TO),
        "hint_level": float(hint_level(question, previous)),
        "direct_answer": 1.0 if wants_direct_answer(question) else 0.0,
    }


def question_kind(question: str) -> str:
    """The eval set's question type, guessed from the text (the ledger groups answers by it).
    "off_course" is not among them: that takes the course search to tell."""
    if wants_hint(question):
        return "hint"
    folded = fold(question)
    for kind, pattern in (("quiz", _QUIZ), ("summarise", _SUMMARY), ("design", _DESIGN),
                          ("compare", _COMPARE), ("compare", _VERSUS), ("compare", _CHOICE)):
        if pattern.search(folded):
            return kind
    if _CODE_INTENT.search(folded) or _HOW_TO.search(folded) or _TASK.search(folded):
        return "code"
    if _DEFINE.search(folded) and not _EXPLAIN.search(folded):
        return "define"
    return "explain"


@dataclass(frozen=True)
class RouterModel:
    """Logistic weights over [embedding dims..., rule features...]; the features' standardisation is
    folded into the weights, so applying it is one dot product. `embedder_fingerprint` None: a
    rules-only model (for a learner whose embedding model is not the one the weights were trained on)."""

    feature_names: tuple[str, ...]
    embedding_dim: int
    weights: tuple[float, ...]
    bias: float
    threshold: float
    embedder_fingerprint: str | None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.weights) != self.embedding_dim + len(self.feature_names):
            raise ValueError(f"{len(self.weights)} weights for {self.embedding_dim} embedding dims and "
                             f"{len(self.feature_names)} features")
        if (self.embedding_dim == 0) != (self.embedder_fingerprint is None):
            raise ValueError("an embedding model needs a fingerprint, and a rules-only model has none")
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold {self.threshold} is not between 0 and 1")
        if not all(math.isfinite(w) for w in (*self.weights, self.bias)):
            raise ValueError("weights must be finite numbers")

    @property
    def uses_embedding(self) -> bool:
        return self.embedding_dim > 0

    def probability(self, embedding: Sequence[float] | None, features: Mapping[str, float]) -> float:
        """P(needs cloud) for one question."""
        z = self.bias
        if self.uses_embedding:
            if embedding is None or len(embedding) != self.embedding_dim:
                raise ValueError(f"this router model needs a {self.embedding_dim}-dim embedding, got "
                                 f"{'none' if embedding is None else len(embedding)}")
            z += sum(w * float(x) for w, x in zip(self.weights[:self.embedding_dim], embedding, strict=True))
        tail = self.weights[self.embedding_dim:]
        z += sum(w * float(features[name]) for w, name in zip(tail, self.feature_names, strict=True))
        return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))

    def to_dict(self) -> dict[str, Any]:
        return {"format": MODEL_FORMAT, "feature_names": list(self.feature_names),
                "embedding_dim": self.embedding_dim, "embedder_fingerprint": self.embedder_fingerprint,
                "threshold": self.threshold, "bias": self.bias, "weights": list(self.weights),
                "metadata": dict(self.metadata)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RouterModel:
        """Raises ValueError (or KeyError/TypeError) on anything malformed; the loader words it for the user."""
        if data.get("format") != MODEL_FORMAT:
            raise ValueError(f"format {data.get('format')!r} is not {MODEL_FORMAT}")
        fingerprint = data["embedder_fingerprint"]
        if fingerprint is not None and not isinstance(fingerprint, str):
            raise TypeError("embedder_fingerprint must be text or null")
        metadata = data.get("metadata", {})
        if not isinstance(metadata, dict):
            raise TypeError("metadata must be an object")
        return cls(feature_names=tuple(str(n) for n in data["feature_names"]),
                   embedding_dim=int(data["embedding_dim"]), weights=tuple(float(w) for w in data["weights"]),
                   bias=float(data["bias"]), threshold=float(data["threshold"]), embedder_fingerprint=fingerprint,
                   metadata=metadata)


@dataclass(frozen=True)
class RouteInput:
    question: str
    previous: tuple[str, ...] = ()             # the learner's earlier questions in this session, oldest first
    embedding: tuple[float, ...] | None = None  # the question's vector, as the course search computed it
    covered: bool = True                        # the course covers the question
    best_similarity: float | None = None
    studied: bool | None = None                 # the best passage's lesson was opened by the learner (None: unknown)


@dataclass(frozen=True)
class RouteDecision:
    needs_cloud: bool
    role: Role
    reason: str          # plain language, for the learner
    reason_code: str     # stable: "rule:compare", "classifier", "simple", "off_course", ...
    probability: float | None
    kind: str
    features: Mapping[str, float]


def _role(features: Mapping[str, float]) -> Role:
    if features["code_intent"]:
        return "code"
    heavy = any(features[name] for name in ("compare", "versus", "choice", "analyse", "design", "detail"))
    if features["define_like"] and features["words"] <= SIMPLE_MAX_WORDS and not heavy and not features["has_code"]:
        return "simple"
    return "default"


def _strong_rule(inp: RouteInput, f: Mapping[str, float]) -> tuple[str, str] | None:
    """(reason_code, reason) of the first strong rule that sends the question to the cloud."""
    if f["detail"] or f["analyse"]:
        return "rule:detail", _("asks for a detailed explanation or analysis")
    if f["compare"] or (f["choice"] and f["versus"]):
        return "rule:compare", _("asks for a detailed comparison")
    if f["design"]:
        return "rule:design", _("asks to design or plan something")
    if f["hint_level"] >= HINT_LEVEL_TO_CLOUD:
        return "rule:hint_level", _("a third hint in a row: a stronger model takes a look")
    if f["words"] > LONG_QUESTION_WORDS:
        return "rule:long", _("a long question with several parts")
    if inp.studied is False:
        return "rule:not_studied", _("about a lesson you have not studied yet")
    return None


def decide(inp: RouteInput, model: RouterModel | None, *, threshold: float | None = None) -> RouteDecision:
    """The route for one question: strong rules, then the classifier (if any) against `threshold`
    (default: the model's own). Every decision carries a reason."""
    features = question_features(inp.question, previous=inp.previous)
    kind = question_kind(inp.question)
    role = _role(features)
    probability = None
    if model is not None and (inp.embedding is not None or not model.uses_embedding):
        probability = model.probability(inp.embedding if model.uses_embedding else None, features)

    def made(needs: bool, code: str, reason: str) -> RouteDecision:
        return RouteDecision(needs_cloud=needs, role=role, reason=reason, reason_code=code, probability=probability,
                             kind=kind, features=features)

    if not inp.covered:
        return made(False, "off_course", _("the course does not cover it, so the tutor says so"))
    rule = _strong_rule(inp, features)
    if rule is not None:
        return made(True, *rule)
    limit = threshold if threshold is not None else (model.threshold if model is not None else None)
    if probability is not None and limit is not None and probability >= limit:
        return made(True, "classifier", _("the classifier rates it hard (p={p:.2f})").format(p=probability))
    if role == "simple":
        return made(False, "simple", _("a short definition: the on-device model answers"))
    if role == "code":
        return made(False, "code", _("a coding question: the on-device code model answers"))
    return made(False, "default", _("the on-device model can answer this"))
