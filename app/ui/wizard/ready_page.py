"""Step 5: what was set up — the tutor's model and where it runs (the same load plan the app will use),
and whether the course is ready. Finish marks setup as done (SetupWizard.accept)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWizardPage

from app.core.errors import LanternError
from app.core.installed import InstalledModel
from app.ui.i18n import tr
from app.ui.op import Op
from app.ui.wizard.widgets import guarded

if TYPE_CHECKING:
    from app.core.load_plan import LoadPlan
    from app.services.knowledge.course_library import InstalledCourse
    from app.services.knowledge.index_status import IndexStatus
    from app.ui.app_context import AppContext
    from app.ui.wizard.setup_wizard import SetupWizard


@dataclass(frozen=True)
class Summary:
    chat: InstalledModel | None
    plan: LoadPlan | None
    course: InstalledCourse | None
    status: IndexStatus | None


def where_it_runs(plan: LoadPlan) -> str:
    if plan.gpu_layers <= 0:
        return tr("on the processor (CPU, {n} threads)").format(n=plan.n_threads)
    if plan.gpu_layers >= plan.total_layers:
        return tr("entirely on the {device}").format(device=plan.device)
    return tr("{gpu} of its {total} layers on the {device}, the rest on the processor").format(
        gpu=plan.gpu_layers, total=plan.total_layers, device=plan.device)


class ReadyPage(QWizardPage):
    def __init__(self, ctx: AppContext, wizard: SetupWizard) -> None:
        super().__init__()
        self.ctx, self._wizard = ctx, wizard
        self.summary: Summary | None = None
        self._op: Op | None = None
        self.setTitle(tr("Ready"))
        self.setSubTitle(tr("Lantern is set up. You can run this again from the Help menu."))
        self.text = QLabel(tr("Checking…"), self)
        self.text.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addStretch(1)

    def initializePage(self) -> None:
        ctx, course = self.ctx, self._wizard.course_page.selected_course()

        def work() -> Summary:
            return _summarise(ctx, course)

        self._op = Op(self, work).success(guarded(self, self._show)).run(executor=ctx.db)
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return self._op is None or self._op.done

    def _show(self, summary: Summary) -> None:
        self.summary = summary
        lines = []
        if summary.chat is None:
            lines.append(tr("No tutor model is installed yet; the tutor cannot answer until one is."))
        else:
            lines.append(tr("Tutor model: {name} ({id}).").format(name=summary.chat.display_name, id=summary.chat.id))
            if summary.plan is not None:
                lines.append(tr("It runs {where}.").format(where=where_it_runs(summary.plan)))
        if summary.course is not None:
            if summary.status is not None and summary.status.ready:
                lines.append(tr("Course “{title}” is ready.").format(title=summary.course.title))
            else:
                lines.append(tr("Course “{title}” is not prepared yet; Lantern prepares it when you open it.")
                             .format(title=summary.course.title))
        self.text.setText("\n\n".join(lines))
        self.completeChanged.emit()


def _summarise(ctx: AppContext, course: InstalledCourse | None) -> Summary:
    """On the db worker: the registry, the load plan (reads the GGUF header) and the course index."""
    from app.services.catalog_store import default_performance_table
    from app.services.inference.loading import plan_for

    chat: InstalledModel | None
    try:
        chat = ctx.services.chat_model()
    except LanternError:
        chat = None
    plan: Any = None
    if chat is not None and ctx.profile is not None:
        try:
            plan = plan_for(chat, profile=ctx.profile, settings=ctx.settings, table=default_performance_table(),
                            catalog=ctx.services.catalog)
        except LanternError:
            plan = None  # the app says why when it loads the model; the summary stays short
    status = ctx.services.index_status(ctx.services.library.load(course.id)) if course is not None else None
    return Summary(chat, plan, course, status)
