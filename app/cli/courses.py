"""`lantern courses list|import|index|rm`, `lantern ask` and `lantern eval retrieval` (`eval tutor`: eval_tutor.py)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from app.cli import add_profile_arg, open_services
from app.cli.eval_learning import HANDLERS as EVAL_LEARNING_HANDLERS
from app.cli.eval_learning import add_learning_parser
from app.cli.eval_routing import HANDLERS as EVAL_ROUTING_HANDLERS
from app.cli.eval_routing import add_routing_parser
from app.cli.eval_tutor import HANDLERS as EVAL_TUTOR_HANDLERS
from app.cli.eval_tutor import add_tutor_parser
from app.cli.route_output import print_route, route_json, show_route_event
from app.core.errors import LanternError, OperationCancelled
from app.core.i18n import _

DEFAULT_EVAL_COURSE = "python-from-zero"


def register(sub: Any, *, models_sub: Any) -> None:
    courses = sub.add_parser("courses", help="installed courses: list, import, index for search",
                             description="Courses are what the tutor answers from. Built-in courses ship with "
                                         "Lantern; import your own as a course pack (.zip or folder with "
                                         "course.toml) or as a plain folder of Markdown, HTML, text and PDF files.")
    csub = courses.add_subparsers(dest="sub_command", metavar="SUBCOMMAND", required=True)
    ls = csub.add_parser("list", help="installed courses and whether they are indexed")
    ls.add_argument("--json", action="store_true", help="print the list as JSON")

    imp = csub.add_parser("import", help="import a course pack (.zip), a course folder or a folder of documents",
                          description="Import PATH: a course pack (.zip), a folder with course.toml, or any folder "
                                      "of .md/.txt/.html/.pdf files (an ad-hoc course, one lesson per file). The "
                                      "import is all-or-nothing; importing a course again replaces it, and the next "
                                      "index re-embeds only the lessons that changed. Then it is indexed, if an "
                                      "embedding model is installed.")
    imp.add_argument("path", type=Path, metavar="PATH")
    imp.add_argument("--id", dest="course_id", help="course id for an ad-hoc folder (default: from the folder name)")
    imp.add_argument("--no-index", action="store_true", help="do not index it now")

    idx = csub.add_parser("index", help="index courses for search (incremental; resumes after a stop)",
                          description="Chunk and embed the lessons of course ID (or of every course) and build its "
                                      "hnswlib vector index and SQLite FTS5 text index. Unchanged lessons are "
                                      "skipped; Ctrl-C stops after committing finished lessons, and running it "
                                      "again continues. A new embedding model re-indexes everything.")
    idx.add_argument("course_id", nargs="?", metavar="ID")
    idx.add_argument("--json", action="store_true", help="print what was done as JSON")

    rm = csub.add_parser("rm", help="remove an imported course and its index")
    rm.add_argument("course_id", metavar="ID")

    ask = sub.add_parser("ask", help="ask the tutor a question about a course (on-device first, cloud when needed)",
                         description="Answer QUESTION from the course: hybrid search on this machine finds the "
                                     "sections, the tutor answers (guiding rather than handing over solutions, unless "
                                     "you ask for the answer) and cites them. When the course does not cover the "
                                     "question, it says so instead of guessing. The router answers on-device first; "
                                     "a question it rates hard, or an on-device answer that fails its check or is "
                                     "late, goes to the cloud model of your tier when offline mode is off and the "
                                     "cloud_consent setting allows it ('ask' prompts here; without a terminal it "
                                     "declines). The answer's source, the reason, and what was sent are printed.")
    ask.add_argument("question", metavar="QUESTION")
    ask.add_argument("--course", metavar="ID", help="course to answer from (default: the last course indexed; "
                                                   "on a fresh install, the built-in course in your language)")
    ask.add_argument("--model", metavar="ID", help="installed chat model (default: the 'chat_model' setting, else "
                                                  "the most recently installed chat model)")
    ask.add_argument("--max-tokens", type=int, default=512, metavar="N", help="longest answer, in tokens (512)")
    ask.add_argument("--json", action="store_true", help="print the answer, citations and stats as JSON")
    ask.add_argument("--on-device", action="store_true",
                     help="answer with the on-device model only (no routing, nothing recorded in the ledger)")
    ask.add_argument("--show-sent", action="store_true",
                     help="print exactly what was sent to the cloud model, if anything")
    add_profile_arg(ask)

    ev = sub.add_parser("eval", help="evaluate Lantern's parts on labelled data")
    esub = ev.add_subparsers(dest="sub_command", metavar="SUBCOMMAND", required=True)
    ret = esub.add_parser("retrieval", help="recall@1, recall@5 and MRR of lexical, vector and hybrid search",
                          description="Run the course's labelled questions (questions.toml) through lexical (FTS5 "
                                      "bm25), vector (hnswlib) and hybrid (reciprocal rank fusion) retrieval and "
                                      "print recall@1, recall@5 and MRR@10. A hit is a chunk from the labelled "
                                      "section.")
    ret.add_argument("--course", metavar="ID", default=DEFAULT_EVAL_COURSE,
                     help=f"course with labelled questions (default: {DEFAULT_EVAL_COURSE})")
    ret.add_argument("--json", action="store_true", help="print the scores as JSON")
    add_tutor_parser(esub)
    add_routing_parser(esub)
    add_learning_parser(esub)


def _services(args: argparse.Namespace) -> Any:
    return open_services(args)


class _IndexBar:
    """The indexing progress bar on stderr (nothing when quiet), fed with IndexProgress."""

    def __init__(self, course_id: str, *, quiet: bool) -> None:
        from app.cli.progress import ProgressBar

        self.bar = None if quiet else ProgressBar(f"Indexing {course_id}", amount=lambda n: f"{n}")

    def __call__(self, p: Any) -> None:
        if self.bar is not None:
            self.bar.update(p.lessons_done, p.lessons_total, f"lessons  {p.lesson_id}: {p.chunks_done}/"
                            f"{p.chunks_total} chunks", force=p.chunks_done == p.chunks_total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _stopped(course_id: str) -> LanternError:
    return LanternError(_("Indexing of {id} was stopped.").format(id=course_id),
                        hint=_("Finished lessons are kept; run `lantern courses index {id}` to continue.").format(
                            id=course_id))


def _index_with_progress(services: Any, course_id: str, *, quiet: bool) -> Any:
    """Index one course with a progress bar on stderr; Ctrl-C keeps finished lessons and says so."""
    from app.core.inference import CancelToken

    bar = _IndexBar(course_id, quiet=quiet)
    cancel = CancelToken()
    try:
        return services.index_course(course_id, progress=bar, cancel=cancel)
    except (KeyboardInterrupt, OperationCancelled) as exc:
        cancel.cancel()
        raise _stopped(course_id) from exc
    finally:
        bar.close()


def _report_line(report: Any) -> str:
    parts = [f"{len(report.indexed)} lesson(s) indexed", f"{report.unchanged} unchanged"]
    if report.removed:
        parts.append(f"{len(report.removed)} removed")
    if report.chunks_from_pack:
        parts.append(f"{report.chunks_from_pack} chunk vectors from the course pack")
    line = f"{report.course_id}: " + ", ".join(parts) + f"; {report.chunks_embedded} chunks embedded in " \
                                                         f"{report.seconds:.1f} s"
    return line + (f" (re-indexed from scratch: {report.restarted})" if report.restarted else "")


def cmd_list(args: argparse.Namespace) -> int:
    services = _services(args)
    try:
        rows = []
        for course in services.library.list():
            status = services.index_status(services.library.load(course.id))
            rows.append((course, status))
    finally:
        services.close()
    if args.json:
        print(json.dumps([{"id": c.id, "title": c.title, "version": c.version, "language": c.language,
                           "lessons": c.lesson_count, "builtin": c.builtin, "path": str(c.root),
                           "index": {"state": s.state, "chunks": s.chunks, "changed_lessons": s.changed_lessons,
                                     "embedder": s.embedder}} for c, s in rows], indent=2))
        return 0
    if not rows:
        print("No courses. Import one with `lantern courses import PATH`.")
        return 0
    print(f"{'ID':<28} {'TITLE':<32} {'LANG':<5} {'LESSONS':>7}  {'SOURCE':<9} INDEX")
    for c, s in rows:
        index = s.state + (f" ({s.chunks} chunks)" if s.chunks else "")
        if s.state == "stale":
            index += f", {s.changed_lessons} lesson(s) to update"
        print(f"{c.id:<28} {c.title[:32]:<32} {c.language:<5} {c.lesson_count:>7}  "
              f"{'built-in' if c.builtin else 'imported':<9} {index}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    bars: list[_IndexBar] = []

    def imported(result: Any) -> None:
        course = result.course
        verb = "Replaced" if result.replaced else "Imported"
        print(f"{verb} '{course.id}': {course.title} ({course.lesson_count} lessons, {course.language})"
              + (" as an ad-hoc course" if result.adhoc else ""), flush=True)
        for path, reason in result.skipped:
            print(f"  skipped {path}: {reason}")
        bars.append(_IndexBar(course.id, quiet=args.no_index))

    with _services(args) as services:
        try:
            outcome = services.import_course(args.path, course_id=args.course_id, index=not args.no_index,
                                             on_imported=imported, progress=lambda p: bars[0](p))
        except (KeyboardInterrupt, OperationCancelled) as exc:
            raise _stopped(args.course_id or args.path.name) from exc
        finally:
            for bar in bars:
                bar.close()
    course = outcome.result.course
    if args.no_index:
        print(f"Index it with `lantern courses index {course.id}`.")
    elif outcome.not_indexed_reason:
        print(f"Not indexed yet: {outcome.not_indexed_reason}")
    elif outcome.report is not None:
        print(_report_line(outcome.report))
    return 0


def cmd_index(args: argparse.Namespace) -> int:
    services = _services(args)
    try:
        ids = [args.course_id] if args.course_id else [c.id for c in services.library.list()]
        if args.course_id:
            services.library.get(args.course_id)
        reports = [_index_with_progress(services, course_id, quiet=args.json) for course_id in ids]
    finally:
        services.close()
    if args.json:
        print(json.dumps([vars(r) for r in reports], indent=2))
    else:
        for report in reports:
            print(_report_line(report))
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    with _services(args) as services:
        course = services.remove_course(args.course_id)
    print(f"Removed '{course.id}' and its index.")
    return 0


def _ensure_indexed(services: Any, course_id: str, *, quiet: bool) -> None:
    """Index first when the index is missing or stale (services.ensure_indexed), with the same progress
    bar as `courses index`; Ctrl-C keeps finished lessons and says so."""
    from app.core.inference import CancelToken

    bars: list[_IndexBar] = []
    cancel = CancelToken()

    def before(status: Any) -> None:
        if not quiet:
            print(f"The course '{course_id}' is {status.state}; indexing it first.", file=sys.stderr)
        bars.append(_IndexBar(course_id, quiet=quiet))

    try:
        report = services.ensure_indexed(course_id, progress=lambda p: bars[0](p), cancel=cancel, before=before)
    except (KeyboardInterrupt, OperationCancelled) as exc:
        cancel.cancel()
        raise _stopped(course_id) from exc
    finally:
        for bar in bars:
            bar.close()
    if report is not None and not quiet:
        print(_report_line(report), file=sys.stderr)


def cmd_ask(args: argparse.Namespace) -> int:
    from app.services.knowledge.tutor_session import Answer, AnswerText

    if not args.question.strip():
        raise LanternError(_("The question is empty."), hint=_('Ask something, e.g. lantern ask "How do loops work?"'))
    if args.max_tokens < 16:
        raise LanternError(_("--max-tokens must be at least 16."), hint=_("The default is 512."))
    with _services(args) as services:
        course = services.pick_course(args.course)
        _ensure_indexed(services, course.id, quiet=args.json)
        installed = services.chat_model(args.model)
        loaded = services.open_chat(installed)
        engine = loaded.backend
        try:
            if loaded.notice and not args.json:
                print(loaded.notice, file=sys.stderr)
            router = None if args.on_device else services.chat_router(engine)
            tutor = services.tutor(course.id, engine=engine, answer_tokens=args.max_tokens, router=router)
            answer = None
            try:
                for event in tutor.ask(args.question):
                    if isinstance(event, AnswerText) and not args.json:
                        print(event.text, end="", flush=True)
                    elif isinstance(event, Answer):
                        answer = event
                    else:
                        show_route_event(event, quiet=args.json)
            finally:
                tutor.close()
            caps = engine.capabilities
        finally:
            engine.close()
    assert answer is not None
    if args.json:
        print(json.dumps(answer_json(args.question, course.id, answer, engine=caps), indent=2, ensure_ascii=False))
    else:
        print()
        print_sources(answer)
        print_route(answer, show_sent=args.show_sent)
    return 0


def answer_json(question: str, course_id: str, answer: Any, *, engine: Any) -> dict[str, Any]:
    """`engine` is the capabilities of the engine that was asked: where the answer was produced is read
    from it (a "not covered" reply asks no model, so its own `where` is null, and `engine` says which
    would have answered)."""
    from app.core.tutor import passage_label

    stats = answer.stats
    where = answer.where
    return {
        "question": question, "course": course_id, "answer": answer.text, "covered": answer.covered,
        "citations": [{"number": c.number, "lesson": c.chunk.lesson_id, "section": c.chunk.anchor,
                       "title": passage_label(c.chunk), "ref": c.ref, "inline": c.inline} for c in answer.citations],
        "invalid_citations": answer.invalid_markers,
        "passages": [{"number": i, "lesson": ch.lesson_id, "section": ch.anchor, "title": passage_label(ch)}
                     for i, ch in enumerate(answer.passages, start=1)],
        "model": answer.model_id or engine.model_id, "where": where, "on_device": answer.on_device,
        "backend": answer.backend,
        "engine": {"model": engine.model_id, "backend": engine.backend, "where": engine.where,
                   "on_device": engine.on_device, "context_length": engine.context_length},
        "finish_reason": answer.finish_reason,
        "stats": None if stats is None else {
            "prompt_tokens": stats.prompt_tokens, "completion_tokens": stats.completion_tokens,
            "time_to_first_token_s": stats.time_to_first_token_s,
            "tokens_per_second": stats.generation_tokens_per_second},
        "notes": list(answer.notes),
        "quality": None if answer.quality is None else {
            "ok": answer.quality.ok, "problems": list(answer.quality.codes)},
        "route": route_json(answer.route),
    }


def print_sources(answer: Any) -> None:
    from app.core.tutor import passage_label

    if not answer.covered:
        return
    cited = {c.number for c in answer.citations}
    if answer.citations:
        inline = all(c.inline for c in answer.citations)
        print("\nSources:" if inline else "\nSources (the answer cites none by number; these are the sections it "
                                            "draws on):")
        for c in answer.citations:
            print(f"  [{c.number}] {passage_label(c.chunk)} ({c.ref})")
    uncited = [(i, ch) for i, ch in enumerate(answer.passages, start=1) if i not in cited]
    if uncited:
        print("\nAlso given to the tutor:" if answer.citations else "\nCourse sections given to the tutor:")
        for i, ch in uncited:
            ref = f"{ch.lesson_id}#{ch.anchor}" if ch.anchor else ch.lesson_id
            print(f"  [{i}] {passage_label(ch)} ({ref})")
    if answer.invalid_markers:
        print(f"(The answer cited [{'], ['.join(map(str, answer.invalid_markers))}], which match no passage.)")
    stats = answer.stats
    if stats is not None:
        rate = stats.generation_tokens_per_second
        print(f"\n{answer.model_id} · {answer.where or '?'} · {stats.completion_tokens} tokens"
              + (f" · {rate:.1f} tok/s" if rate else ""), file=sys.stderr)


def cmd_eval_retrieval(args: argparse.Namespace) -> int:
    from app.services.knowledge.evaluation import evaluate_retrieval

    services = _services(args)
    try:
        course = services.library.load(services.library.get(args.course).id)
        if not course.questions:
            raise LanternError(_("The course '{id}' has no labelled questions.").format(id=course.id),
                               hint=_("Add a questions.toml (see docs/courses.md), or pick another --course."))
        _ensure_indexed(services, course.id, quiet=args.json)
        searcher = services.searcher(course.id)
        try:
            scores = evaluate_retrieval(searcher, course.questions)
        finally:
            searcher.close()
        embedder = services.embedding_model().id
    finally:
        services.close()
    if args.json:
        print(json.dumps({"course": course.id, "embedder": embedder, "questions": len(course.questions),
                          "modes": [s.to_dict() for s in scores]}, indent=2, ensure_ascii=False))
        return 0
    print(f"Course {course.id}: {len(course.questions)} labelled questions, embedder {embedder}")
    print(f"{'MODE':<9} {'RECALL@1':>9} {'RECALL@5':>9} {'MRR@10':>7}")
    for s in scores:
        print(f"{s.mode:<9} {s.recall_at_1:>9.3f} {s.recall_at_5:>9.3f} {s.mrr:>7.3f}")
    hybrid = next(s for s in scores if s.mode == "hybrid")
    if hybrid.missed:
        print("\nHybrid misses (not in the top 5):")
        for q in hybrid.missed:
            print(f"  - {q}")
    return 0


HANDLERS = {"courses list": cmd_list, "courses import": cmd_import, "courses index": cmd_index,
            "courses rm": cmd_rm, "ask": cmd_ask, "eval retrieval": cmd_eval_retrieval, **EVAL_TUTOR_HANDLERS,
            **EVAL_ROUTING_HANDLERS, **EVAL_LEARNING_HANDLERS}
