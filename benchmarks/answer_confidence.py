"""Does llama.cpp's token log-probability say which on-device answers fail? (issue 17)

    python benchmarks/answer_confidence.py [--limit 90] [--model ID]

Asks the first LIMIT tuning-split questions (round-robin over types) through the tutor, the way the
eval does, with `GenerationRequest.logprobs` forced on, and prints the mean token log-probability of
the answers that pass the answer check against those that fail it, and, among the passing ones, the
key-point coverage of the least confident quarter against the rest. Uses the installed models of the
real data folder (or LANTERN_HOME).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.cli import open_services
from app.core.evaluation.text_match import point_coverage
from app.services.evaluation.eval_set import load_eval_set
from app.services.evaluation.tutor_eval import _question_text, select_queries
from app.services.knowledge.tutor_session import Answer


class WithLogprobs:
    """The loaded model, asked for token log-probabilities on every request."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    @property
    def capabilities(self) -> Any:
        return self.inner.capabilities

    def count_tokens(self, messages: Any) -> int:
        return int(self.inner.count_tokens(messages))

    def stream(self, request: Any, cancel: Any = None) -> Any:
        return self.inner.stream(replace(request, logprobs=True), cancel)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=90)
    parser.add_argument("--model", help="installed chat model (default: the one `lantern ask` uses)")
    args = parser.parse_args()
    rows = []
    with open_services(argparse.Namespace(debug=False, profile=None)) as services:
        loaded = services.open_chat(services.chat_model(args.model))
        engine = WithLogprobs(loaded.backend)
        searchers: dict[str, Any] = {}
        for query in select_queries(load_eval_set(None), split="tuning", limit=args.limit):
            services.ensure_indexed(query.course)
            searcher = searchers.setdefault(query.course, services.searcher(query.course))
            tutor = services.tutor(query.course, engine=engine, searcher=searcher)
            answer = next(e for e in tutor.ask(_question_text(query)) if isinstance(e, Answer))
            if answer.covered and answer.stats is not None and answer.stats.mean_logprob is not None:
                coverage = statistics.mean(point_coverage(p, answer.text) for p in query.key_points) \
                    if query.key_points else None
                rows.append((answer.quality is not None and answer.quality.ok, answer.stats.mean_logprob, coverage))
        loaded.backend.close()
    good = [lp for ok, lp, _ in rows if ok]
    bad = [lp for ok, lp, _ in rows if not ok]
    print(f"{len(rows)} covered answers: {len(good)} pass the answer check, {len(bad)} fail it")
    if good and bad:
        print(f"median mean log-prob: passing {statistics.median(good):.2f}, failing {statistics.median(bad):.2f}")
    scored = sorted((lp, cov) for ok, lp, cov in rows if ok and cov is not None)
    quarter = len(scored) // 4
    if quarter:
        low = statistics.mean(c for _, c in scored[:quarter])
        rest = statistics.mean(c for _, c in scored[quarter:])
        print(f"key-point coverage of passing answers: least confident quarter {low:.3f}, the rest {rest:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
