"""What one eval run keeps per (model, query): the answer and everything measured while producing it.

Plain data with a JSON form, because records are cached between runs (so a rerun only computes what
changed) and written into the JSON report (so `--compare` and the HTML report read the same thing).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class PassageRecord:
    """One course passage the model was given, in prompt order ([1] is the first)."""

    lesson: str
    anchors: tuple[str, ...]  # the section path's anchors; the chunk lies in each of these sections
    title: str
    text: str

    def covers(self, lesson: str, section: str) -> bool:
        return self.lesson == lesson and section in self.anchors

    @property
    def ref(self) -> str:
        return f"{self.lesson}#{self.anchors[-1]}" if self.anchors else self.lesson


@dataclass(frozen=True)
class CitationRecord:
    number: int  # [number] in the answer, 1-based into the passages
    inline: bool  # False: attributed by Lantern from shared wording (app.core.tutor.attribute)


@dataclass(frozen=True)
class AnswerRecord:
    query_id: str
    model_id: str
    text: str
    covered: bool  # retrieval found the course relevant (False: the "not covered" reply, no model asked)
    passages: tuple[PassageRecord, ...] = ()
    citations: tuple[CitationRecord, ...] = ()
    finish_reason: str = "stop"
    problems: tuple[str, ...] = ()  # app.core.answer_check codes
    where: str | None = None  # "on-device" | "cloud"; None when no model was asked
    backend: str | None = None
    retrieval_query: str = ""  # what was searched (the question, or its translation for the course)
    time_to_first_token_s: float | None = None
    total_s: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    tokens_per_second: float | None = None
    peak_rss_bytes: int | None = None
    cost_usd: float = 0.0  # 0 for an on-device model
    error: str | None = None  # the LanternError message when the model failed on this query
    extra: dict[str, Any] = field(default_factory=dict)  # room for later fields without a cache break

    @property
    def generated(self) -> bool:
        """A model produced this text (not the retrieval's "not covered" reply, not an error)."""
        return self.covered and self.error is None

    def cited_passages(self) -> list[PassageRecord]:
        return [self.passages[c.number - 1] for c in self.citations if 1 <= c.number <= len(self.passages)]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AnswerRecord:
        values = dict(data)
        values["passages"] = tuple(PassageRecord(lesson=p["lesson"], anchors=tuple(p["anchors"]), title=p["title"],
                                                 text=p["text"]) for p in data.get("passages", ()))
        values["citations"] = tuple(CitationRecord(number=int(c["number"]), inline=bool(c["inline"]))
                                    for c in data.get("citations", ()))
        values["problems"] = tuple(data.get("problems", ()))
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in values.items() if k in known})
