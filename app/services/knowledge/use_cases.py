"""Course use cases, written once for the CLI and the GUI (both call them through AppServices)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from app.core.errors import LanternError
from app.core.i18n import _, active_language
from app.core.inference import CancelToken
from app.core.retrieval import fusion_weights
from app.services.knowledge.course_library import ImportResult, InstalledCourse
from app.services.knowledge.indexer import IndexProgress
from app.services.knowledge.search import CourseSearcher

if TYPE_CHECKING:
    from app.services.app_services import AppServices, CourseImport


def import_course(services: AppServices, path: Path, *, course_id: str | None, index: bool,
                  on_imported: Callable[[ImportResult], None] | None,
                  progress: Callable[[IndexProgress], None] | None, cancel: CancelToken | None) -> CourseImport:
    """Import (all-or-nothing), then index if asked and an embedding model is installed; a missing
    embedder is not a failure of the import: the reason comes back for the caller to show."""
    from app.services.app_services import CourseImport

    result = services.library.import_path(path.expanduser(), course_id=course_id)
    if on_imported is not None:
        on_imported(result)
    if not index:
        return CourseImport(result, None, None)
    try:
        services.embedding_model()
    except LookupError as exc:
        reason = exc.user_message if isinstance(exc, LanternError) else str(exc)
        hint = exc.hint if isinstance(exc, LanternError) else None
        return CourseImport(result, None, f"{reason} {hint or ''}".strip())
    report = services.index_course(result.course.id, progress=progress, cancel=cancel)
    return CourseImport(result, report, None)


def open_searcher(services: AppServices, course_id: str) -> CourseSearcher:
    """The hybrid searcher over an indexed course, weighted for the course's and the embedder's languages."""
    embedder, identity = services.embedder()
    model = services.embedding_model()
    entry = next((m for m in services.catalog.models if m.id == model.catalog_id), None) if model.catalog_id else None
    weights = fusion_weights(services.library.get(course_id).language, entry.languages if entry else None)
    return CourseSearcher(course_id, index_dir=services.paths.index_dir, embedder=embedder, identity=identity,
                          weights=weights)


def pick_course(services: AppServices, wanted: str | None) -> InstalledCourse:
    """`wanted`; else the most recently indexed course that is still installed; else (a fresh install)
    the built-in course in the learner's language, falling back to the English one."""
    if wanted:
        course: InstalledCourse = services.library.get(wanted)
        return course
    indexed = [(p.stat().st_mtime, p.parent.name) for p in services.paths.index_dir.glob("*/chunks.sqlite3")]
    installed = services.library.list()
    known = {c.id: c for c in installed}
    for _mtime, course_id in sorted(indexed, reverse=True):
        if course_id in known:
            return known[course_id]
    builtin = [c for c in installed if c.builtin]
    for language in (active_language(), "en"):
        found = next((c for c in builtin if c.language == language), None)
        if found is not None:
            return found
    raise LanternError(_("Which course? None has been indexed yet."),
                       hint=_("Pass --course ID (see `lantern courses list`)."))
