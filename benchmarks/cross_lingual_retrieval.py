"""Cross-lingual retrieval with and without the query translation (issue 16, docs/benchmarks.md).

    python benchmarks/cross_lingual_retrieval.py [--split tuning|held_out] [--model ID]

For every covered eval-set question asked in the other language than its course's, searches the
course with the question as typed and with its translation by the chat model (the tutor's own
request, app/core/query_translation.py), and prints the share whose top 4 passages contain a gold
section while the course is judged to cover the question. Uses the installed models and courses.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from app.core.inference import collect
from app.core.query_translation import clean_translation, translation_request
from app.core.retrieval import retrieval_query
from app.services.app_services import AppServices
from app.services.evaluation.eval_set import load_eval_set
from app.services.settings_store import load_settings, paths_for


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=("tuning", "held_out"), default="tuning")
    parser.add_argument("--model", help="chat model that translates (default: the tutor's)")
    args = parser.parse_args()
    settings = load_settings()
    with AppServices(settings, paths_for(settings)) as services:
        languages = {c.id: c.language for c in services.library.list()}
        queries = [q for q in load_eval_set() if q.split == args.split and q.type != "off_course"
                   and q.language != languages[q.course]]
        for course in {q.course for q in queries}:
            services.ensure_indexed(course)
        loaded = services.open_chat(services.chat_model(args.model))
        searchers = {c: services.searcher(c) for c in {q.course for q in queries}}
        before = after = 0
        try:
            for q in queries:
                searcher, target = searchers[q.course], languages[q.course]

                def found(result, q=q):
                    return result.covered and any(h.chunk.covers(g.lesson, g.section)
                                                  for h in result.hits for g in q.gold)

                plain = searcher.search(retrieval_query(q.question), k=4)
                text, _final = collect(loaded.backend.stream(translation_request(q.question, target)))
                translated = clean_translation(text, question=q.question, target_language=target)
                query = replace(retrieval_query(translated), original=q.question) if translated \
                    else retrieval_query(q.question)
                result = searcher.search(query, k=4)
                before += found(plain)
                after += found(result)
                print(f"{q.id:22} {int(found(plain))} -> {int(found(result))}  {translated!r}")
        finally:
            for searcher in searchers.values():
                searcher.close()
            loaded.backend.close()
        n = max(1, len(queries))
        print(f"{args.split}: {len(queries)} cross-lingual questions; gold section in the top 4 and covered: "
              f"{before / n:.3f} as typed, {after / n:.3f} translated")


if __name__ == "__main__":
    main()
