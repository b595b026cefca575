"""How the learning views call the learning use cases without blocking a worker that others need.

A quiz is written by the model for seconds per question, and a short answer is graded by it: run on
the database worker, that would stall notes, progress marks and sync for the whole time; run on the
model's worker, the model could not be called from inside. So a learning use case runs on the shared
thread pool (the op helper's default) and sees the services through `DbBound`: every call on the
learning record or the course library hops to the database worker and waits there, while the model
host already runs each generation on the model's own worker. Widgets never see any of this.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from app.core.learning.quiz import QuizQuestion
from app.ui.app_context import AppContext

# The services the learning use cases read that belong to the database worker.
DB_SERVICES = frozenset({"record", "library"})


class _OnWorker:
    """Every method call on `target` runs on `worker` (the caller waits for its result)."""

    def __init__(self, target: Any, worker: Executor) -> None:
        self._target, self._worker = target, worker

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if not callable(value):
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._worker.submit(value, *args, **kwargs).result()

        return call


class DbBound:
    """The service container as a pool thread may use it: `record` and `library` on the db worker."""

    def __init__(self, ctx: AppContext) -> None:
        self._services, self._db = ctx.services, ctx.db
        self._bound: dict[str, _OnWorker] = {}

    def __getattr__(self, name: str) -> Any:
        if name in DB_SERVICES:
            if name not in self._bound:  # built (the database opened) on the db worker too
                service = self._db.submit(getattr, self._services, name).result()
                self._bound[name] = _OnWorker(service, self._db)
            return self._bound[name]
        return getattr(self._services, name)


def chat_engine(ctx: AppContext) -> Any:
    """The model host when a chat model is loaded (it runs each request on the model's worker), else None:
    then only the course's own questions can be asked, and short answers are graded by their key words."""
    return ctx.host if ctx.host.loaded("chat") is not None else None


def answer_call(ctx: AppContext, question: QuizQuestion, answer: str, *, source: str,
                hints_used: int = 0) -> Callable[..., Any]:
    """The op function that grades and records one answer (a `Feedback`); built on the GUI thread."""
    from app.services.learning.use_cases import answer_question

    services, engine = DbBound(ctx), chat_engine(ctx)

    def answer_it(handle: Any) -> Any:
        return answer_question(services, question, answer, engine=engine, hints_used=hints_used, source=source,
                               cancel=handle.token)

    return answer_it
