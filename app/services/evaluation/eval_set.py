"""Read the tutoring eval set shipped in resources/eval/ (or another JSONL file with the same schema)."""

from __future__ import annotations

from pathlib import Path

from app.core.errors import EvalSetInvalid
from app.core.evaluation.eval_set import EvalQuery, parse_eval_set
from app.services.resources import resource_path


def default_eval_set_path() -> Path:
    return resource_path("eval", "tutor_queries.jsonl")


def load_eval_set(path: Path | None = None) -> list[EvalQuery]:
    """All queries of the file; a missing or unreadable file is an EvalSetInvalid too."""
    path = path or default_eval_set_path()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise EvalSetInvalid(f"Cannot read the eval set {path}: {exc.strerror or exc}.",
                             hint="Check the path, or reinstall Lantern to restore resources/eval/.",
                             debug_context={"path": str(path)}) from exc
    except UnicodeDecodeError as exc:
        raise EvalSetInvalid(f"The eval set {path} is not UTF-8 text.", debug_context={"path": str(path)}) from exc
    return parse_eval_set(text.split("\n"), source=path.name)
