"""Generated questions, kept per (section text, model, prompt version, kind) so a section is written and
checked once per model, dropped ones included (the report says how many were dropped and why).

One small JSON file per key in the cache folder, written atomically: a crash mid-write leaves the old
file or none, never half of one, and a damaged file is treated as a miss.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.learning.quiz import Check, QuizQuestion

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Generated:
    """One generation attempt: the question (None when the model's reply made none) and every check it met."""

    kind: str
    question: QuizQuestion | None
    checks: tuple[Check, ...]
    seconds: float

    @property
    def passed(self) -> bool:
        return self.question is not None and all(c.passed for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "question": self.question.to_json() if self.question else None,
                "checks": [c.to_json() for c in self.checks], "seconds": round(self.seconds, 3)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Generated:
        question = QuizQuestion.from_json(data["question"]) if data.get("question") else None
        return cls(kind=str(data["kind"]), question=question,
                   checks=tuple(Check(str(c["name"]), bool(c["passed"]), str(c.get("detail", "")))
                                for c in data.get("checks", ())),
                   seconds=float(data.get("seconds", 0.0)))


class QuizCache:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @staticmethod
    def key(*parts: str) -> str:
        return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:32]

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> Generated | None:
        path = self._path(key)
        try:
            return Generated.from_json(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring a damaged quiz cache file %s: %s", path, exc)
            return None

    def put(self, key: str, generated: Generated) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(generated.to_json(), ensure_ascii=False), encoding="utf-8")
            os.replace(tmp, path)
        except OSError as exc:  # a full disk costs a regeneration next time, not the quiz
            log.warning("could not cache a quiz question in %s: %s", path, exc)
