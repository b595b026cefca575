"""`lantern eval tutor`: the eval set through the tutor, for every chosen chat model.

Each query goes through the same path the app uses (`AppServices.tutor` → `TutorSession.ask`: the
same retrieval, prompt, context trimming, streaming and citation check), one fresh conversation per
query. Answers are cached (app/services/evaluation/answer_cache.py) and committed one by one, so a
rerun computes only what changed and Ctrl-C keeps every finished answer. Scoring happens after the
answers, from the records alone (app.core.evaluation.metrics), so the report of a cancelled run is
the report of the answers it has.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import psutil

from app.core.errors import LanternError
from app.core.evaluation.eval_set import EvalQuery
from app.core.evaluation.judge import (
    JUDGE_RUNS,
    JUDGE_TOKENS,
    JUDGE_VERSION,
    judge_messages,
    judge_sampling,
    mean_score,
    parse_judge_score,
)
from app.core.evaluation.metrics import QueryScore, score_query, sentences
from app.core.evaluation.records import AnswerRecord, CitationRecord, PassageRecord
from app.core.inference import ChatEngine, GenerationRequest, collect
from app.core.installed import InstalledModel
from app.core.tutor import DEFAULT_RECIPE, PromptRecipe, passage_label
from app.services.evaluation.answer_cache import AnswerCache, cache_key
from app.services.knowledge.tutor_session import PASSAGES, Answer, AnswerText

if TYPE_CHECKING:
    from app.services.app_services import AppServices


@dataclass(frozen=True)
class EvalProgress:
    done: int
    total: int
    cached: int  # of `done`, answers taken from the cache
    model_id: str
    query_id: str
    elapsed_s: float
    eta_s: float | None  # from the pace of the answers computed so far; None before the first one


@dataclass
class ModelRun:
    model_id: str
    sha256: str
    backend: str | None = None
    where: str | None = None
    records: dict[str, AnswerRecord] = field(default_factory=dict)
    judge_scores: dict[str, float | None] = field(default_factory=dict)
    computed: int = 0
    cached: int = 0
    load_s: float | None = None


@dataclass
class TutorEvalRun:
    queries: list[EvalQuery]
    models: list[ModelRun]
    course_languages: dict[str, str]
    config: dict[str, Any]
    machine: dict[str, Any]
    started_at: str
    finished_at: str = ""
    interrupted: bool = False
    judge_model: str | None = None
    judge_computed: int = 0  # judge scores asked of the judge model in this run (the rest were cached)
    scores: list[QueryScore] = field(default_factory=list)


def select_queries(queries: Sequence[EvalQuery], *, split: str | None = None, types: Sequence[str] = (),
                   limit: int | None = None, ids: Sequence[str] = ()) -> list[EvalQuery]:
    """The subset a run asks: by split and type, then the first `limit` in a stable order that keeps
    the type mix (round-robin over types, each in file order), so a small --limit still covers every kind."""
    chosen = [q for q in queries if (split is None or q.split == split) and (not types or q.type in types)
              and (not ids or q.id in ids)]
    if limit is None or limit >= len(chosen):
        return chosen
    by_type: dict[str, list[EvalQuery]] = {}
    for q in chosen:
        by_type.setdefault(q.type, []).append(q)
    mixed: list[EvalQuery] = []
    while len(mixed) < limit:
        for bucket in by_type.values():
            if bucket and len(mixed) < limit:
                mixed.append(bucket.pop(0))
    return mixed


def chat_models(services: AppServices, wanted: Sequence[str] = ()) -> list[InstalledModel]:
    """The chosen models, else every usable installed chat model (oldest first)."""
    from app.services.knowledge.models import usable_chat_models

    if wanted:
        return [services.chat_model(ref) for ref in wanted]
    found = sorted(usable_chat_models(services.registry.list(), services.catalog), key=lambda m: m.added_at)
    if not found:
        services.chat_model(None)  # raises ModelNotInstalled with the install hint
    return found


def _course_fingerprint(services: AppServices, course_id: str) -> str:
    course = services.library.load(course_id)
    digest = hashlib.sha256()
    for lesson in sorted(course.lessons, key=lambda item: item.id):
        digest.update(f"{lesson.id}\0{lesson.content_hash}\n".encode())
    return digest.hexdigest()[:16]


def _query_fingerprint(query: EvalQuery) -> str:
    # Only what changes the answer: relabelling key points or the split does not need a new answer.
    return cache_key(query.course, query.question, query.attempt, query.language)


def _question_text(query: EvalQuery) -> str:
    """What the learner types: a hint request carries their attempt, as they would paste it."""
    if query.attempt:
        return f"{query.question}\n\n```\n{query.attempt.strip()}\n```"
    return query.question


def _machine(services: AppServices) -> dict[str, Any]:
    profile = services.profile()
    return {"cpu": profile.cpu.brand, "cores": profile.cpu.logical_cores,
            "ram_gb": round((profile.memory.total_bytes or 0) / 2**30, 1),
            "gpus": [g.name for g in profile.gpus], "os": profile.os.version or profile.os.system}


def _record(query: EvalQuery, answer: Answer, *, model_id: str, ttft: float | None, total: float,
            peak_rss: int, retrieval_query: str) -> AnswerRecord:
    stats = answer.stats
    return AnswerRecord(
        query_id=query.id, model_id=model_id, text=answer.text, covered=answer.covered,
        passages=tuple(PassageRecord(lesson=c.lesson_id, anchors=c.anchors, title=passage_label(c), text=c.text)
                       for c in answer.passages),
        citations=tuple(CitationRecord(number=c.number, inline=c.inline) for c in answer.citations),
        finish_reason=answer.finish_reason, problems=answer.quality.codes if answer.quality else (),
        where=answer.where, backend=answer.backend, retrieval_query=retrieval_query,
        time_to_first_token_s=ttft if answer.covered else None, total_s=total if answer.covered else None,
        prompt_tokens=stats.prompt_tokens if stats else None,
        completion_tokens=stats.completion_tokens if stats else None,
        tokens_per_second=stats.generation_tokens_per_second if stats else None,
        peak_rss_bytes=peak_rss)


class TutorEval:
    """One run. `progress` is called after every answer (cached or computed)."""

    def __init__(self, services: AppServices, *, answer_tokens: int = 512, use_cache: bool = True,
                 recipe: PromptRecipe = DEFAULT_RECIPE,
                 progress: Callable[[EvalProgress], None] | None = None) -> None:
        self.services = services
        self.recipe = recipe
        self.answer_tokens = answer_tokens
        self.progress = progress
        self._cache = AnswerCache(services.paths.cache_dir / "eval" / "tutor-answers.sqlite3") if use_cache else None
        self._process = psutil.Process()

    def close(self) -> None:
        if self._cache is not None:
            self._cache.close()

    def run(self, queries: Sequence[EvalQuery], models: Sequence[InstalledModel], *,
            judge: InstalledModel | None = None) -> TutorEvalRun:
        if not queries:
            raise LanternError("No eval queries match the filters.", hint="Check --split, --types and --limit.")
        services = self.services
        courses = sorted({q.course for q in queries})
        for course_id in courses:
            services.library.get(course_id)  # a clear CourseNotFound before any model loads
        for course_id in courses:
            services.ensure_indexed(course_id)
        _embedder, identity = services.embedder()
        languages = {c: services.library.get(c).language for c in courses}
        config = {"prompt_version": self.recipe.version, "recipe": asdict(self.recipe),
                  "answer_tokens": self.answer_tokens, "passages": PASSAGES, "embedder": identity.fingerprint,
                  "courses": {c: _course_fingerprint(services, c) for c in courses}}
        run = TutorEvalRun(queries=list(queries), models=[], course_languages=languages, config=config,
                           machine=_machine(services), started_at=datetime.now(UTC).isoformat(timespec="seconds"))
        total = len(queries) * len(models)
        self._done = self._cached = self._computed = 0
        self._computed_s = 0.0
        self._started = time.perf_counter()
        try:
            for installed in models:
                model_run = ModelRun(model_id=installed.id, sha256=installed.sha256 or
                                     f"{installed.id}@{installed.size_bytes}")
                run.models.append(model_run)
                self._run_model(run, model_run, installed, total)
            if judge is not None:
                run.judge_model = judge.id
                self._judge(run, judge)
        except KeyboardInterrupt:
            run.interrupted = True
        run.finished_at = datetime.now(UTC).isoformat(timespec="seconds")
        run.scores = self.score(run)
        return run

    # -- answering ----------------------------------------------------------------------------------

    def _key(self, run: TutorEvalRun, model_run: ModelRun, query: EvalQuery) -> str:
        # The recipe counts by its version (every change gets a new one), so a field added to
        # PromptRecipe later does not throw away every cached answer.
        config = {k: v for k, v in run.config.items() if k != "recipe"}
        config["courses"] = run.config["courses"][query.course]
        return cache_key(model_run.sha256, self.recipe.version, _query_fingerprint(query), config)

    def _tick(self, model_id: str, query_id: str, total: int, *, cached: bool, seconds: float = 0.0) -> None:
        self._done += 1
        if cached:
            self._cached += 1
        else:
            self._computed += 1
            self._computed_s += seconds
        if self.progress is None:
            return
        remaining = total - self._done
        eta = self._computed_s / self._computed * remaining if self._computed else None
        self.progress(EvalProgress(self._done, total, self._cached, model_id, query_id,
                                   time.perf_counter() - self._started, eta))

    def _run_model(self, run: TutorEvalRun, model_run: ModelRun, installed: InstalledModel, total: int) -> None:
        todo: list[tuple[EvalQuery, str]] = []
        for query in run.queries:
            key = self._key(run, model_run, query)
            found = self._cache.get(key) if self._cache is not None else None
            if found is not None:
                model_run.records[query.id] = found
                model_run.cached += 1
                self._tick(installed.id, query.id, total, cached=True)
            else:
                todo.append((query, key))
        if not todo:
            return
        started = time.perf_counter()
        loaded = self.services.open_chat(installed)
        model_run.load_s = time.perf_counter() - started
        engine: ChatEngine = loaded.backend
        caps = engine.capabilities
        model_run.backend, model_run.where = caps.backend, caps.where
        searchers: dict[str, Any] = {}
        try:
            for query, key in todo:
                if query.course not in searchers:
                    searchers[query.course] = self.services.searcher(query.course)
                began = time.perf_counter()
                record = self._ask(query, engine, searchers[query.course], installed.id)
                model_run.records[query.id] = record
                model_run.computed += 1
                if self._cache is not None and record.error is None:
                    self._cache.put(key, record, model_sha256=model_run.sha256, prompt_version=self.recipe.version)
                self._tick(installed.id, query.id, total, cached=False, seconds=time.perf_counter() - began)
        finally:
            for searcher in searchers.values():
                searcher.close()
            loaded.backend.close()

    def _ask(self, query: EvalQuery, engine: ChatEngine, searcher: Any, model_id: str) -> AnswerRecord:
        tutor = self.services.tutor(query.course, engine=engine, searcher=searcher, answer_tokens=self.answer_tokens,
                                    recipe=self.recipe)
        question = _question_text(query)
        peak = self._process.memory_info().rss
        first: float | None = None
        answer: Answer | None = None
        began = time.perf_counter()
        try:
            for event in tutor.ask(question):
                if isinstance(event, AnswerText) and first is None and event.text.strip():
                    first = time.perf_counter() - began
                elif isinstance(event, Answer):
                    answer = event
                peak = max(peak, self._process.memory_info().rss)
        except LanternError as exc:
            # One query the model cannot take (a prompt too long for its window, …) is a result, not
            # the end of the run: it is reported and never cached.
            return AnswerRecord(query_id=query.id, model_id=model_id, text="", covered=True, error=exc.user_message,
                                peak_rss_bytes=peak)
        if answer is None:
            raise RuntimeError("TutorSession.ask ended without an Answer")
        return _record(query, answer, model_id=model_id, ttft=first, total=time.perf_counter() - began,
                       peak_rss=peak, retrieval_query=tutor.last_retrieval_query)

    # -- the judge ----------------------------------------------------------------------------------

    def _judge(self, run: TutorEvalRun, judge: InstalledModel) -> None:
        """Judge scores, from the cache where they are; the judge model is loaded only for the rest."""
        sha = judge.sha256 or f"{judge.id}@{judge.size_bytes}"
        loaded: Any = None
        try:
            for model_run in run.models:
                for query in run.queries:
                    record = model_run.records.get(query.id)
                    if record is None:
                        continue
                    key = cache_key(JUDGE_VERSION, sha, _query_fingerprint(query), query.key_points, record.text)
                    found, score = self._cache.judge_score(key) if self._cache is not None else (False, None)
                    if not found:
                        if loaded is None:
                            loaded = self.services.open_chat(judge)
                        engine: ChatEngine = loaded.backend
                        scores = []
                        for number in range(JUDGE_RUNS):
                            request = GenerationRequest(messages=judge_messages(query, record.text),
                                                        sampling=judge_sampling(number), max_tokens=JUDGE_TOKENS)
                            text, _final = collect(engine.stream(request))
                            scores.append(parse_judge_score(text))
                        score = mean_score(scores)
                        run.judge_computed += 1
                        if self._cache is not None:
                            self._cache.put_judge_score(key, score)
                    model_run.judge_scores[query.id] = score
        finally:
            if loaded is not None:
                loaded.backend.close()

    # -- scoring ------------------------------------------------------------------------------------

    def score(self, run: TutorEvalRun) -> list[QueryScore]:
        """Scores of every finished answer; key points are compared with the answer sentences by the
        installed embedding model (the one retrieval uses)."""
        embedder, _identity = self.services.embedder()
        scores = []
        for model_run in run.models:
            for query in run.queries:
                record = model_run.records.get(query.id)
                if record is None:
                    continue
                course_language = run.course_languages[query.course]
                similarities = None
                if query.key_points and query.language == course_language:
                    similarities = _point_similarities(embedder, query.key_points, record)
                scores.append(score_query(query, record, course_language=course_language,
                                          point_similarities=similarities,
                                          judge=model_run.judge_scores.get(query.id)))
        return scores


def _point_similarities(embedder: Any, points: Sequence[str], record: AnswerRecord) -> list[float]:
    """For each key point, the best cosine with one answer sentence (0 when the answer has none)."""
    said = sentences(record.text) if record.generated else []
    if not said:
        return [0.0] * len(points)
    vectors = np.asarray(embedder.embed([*points, *said]), dtype=np.float32)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    cosine = vectors[:len(points)] @ vectors[len(points):].T
    return [float(v) for v in cosine.max(axis=1)]
