"""The savings dashboard over real ledger rows in the test's SQLite database (offscreen Qt)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from PySide6.QtCore import Qt

from app.core.ledger import LedgerEntry
from app.services.settings_store import load_settings, paths_for
from app.services.storage.ledger import LedgerStore
from app.ui.app_context import AppContext
from app.ui.dashboard import SavingsDashboard

DAY1 = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
DAY2 = DAY1 + timedelta(days=1)


def answer(route: str, kind: str, at: datetime, *, fell_back: str | None = None, total_s: float = 2.0,
           cost: float = 0.0, cost_if_cloud: float | None = 0.001) -> LedgerEntry:
    return LedgerEntry(at=at, course_id="loops", question_kind=kind, route=route,  # type: ignore[arg-type]
                       reason="r", reason_code=f"fallback:{fell_back}" if fell_back else "classifier",
                       model="local:smollm2" if route == "local" else "cloud:openai/gpt-4o-mini",
                       where="on-device" if route == "local" else "cloud", tokens_in=300, tokens_out=120,
                       ttft_s=0.5, total_s=total_s, cost_usd=cost, cost_if_cloud_usd=cost_if_cloud,
                       fell_back=fell_back is not None, fallback_reason=fell_back, quality="ok",
                       cloud_probability=0.3)


ANSWERS = [
    answer("local", "explain", DAY1, total_s=1.2),
    answer("local", "explain", DAY1, total_s=2.4),
    answer("local", "code", DAY1, total_s=3.1),
    answer("cloud", "code", DAY2, fell_back="marker_only", total_s=9.5, cost=0.0012, cost_if_cloud=0.0012),
    answer("cloud", "compare", DAY2, total_s=4.0, cost=0.0020, cost_if_cloud=0.0020),
]


@pytest.fixture
def ctx():
    settings = load_settings()
    context = AppContext(settings, paths_for(settings))
    yield context
    context.shutdown()


def open_dashboard(qtbot, ctx) -> SavingsDashboard:
    dashboard = SavingsDashboard(ctx)
    qtbot.addWidget(dashboard)
    with qtbot.waitSignal(dashboard.summary_shown, timeout=20_000):
        dashboard.show()
    return dashboard


def test_dashboard_shows_the_ledger(qtbot, ctx):
    store = LedgerStore(ctx.paths.database_file)
    for a in ANSWERS:
        store.record(a)
    store.close()
    dashboard = open_dashboard(qtbot, ctx)
    assert dashboard.pages.currentIndex() == 1
    local = sum(a.route == "local" for a in ANSWERS)
    tried = sum(a.route == "local" or a.fell_back for a in ANSWERS)
    assert dashboard.cards["local_share"].value.text() == f"{local / len(ANSWERS):.1%}" == "60.0%"
    assert dashboard.cards["fallback_rate"].value.text() == f"{1 / tried:.1%}" == "25.0%"
    assert dashboard.cards["spent"].value.text() == "$0.0032"
    assert dashboard.cards["saved"].value.text() == "$0.0030"  # the three local answers' reference price
    assert dashboard.cards["answers"].value.text() == "5"

    table = dashboard.kinds
    rows = [[table.item(r, c).text() for c in range(4)] for r in range(table.rowCount())]
    assert rows == [["code", "2", "50.0%", "marker_only"], ["explain", "2", "0.0%", "—"], ["compare", "1", "—", "—"]]
    table.sortItems(1, Qt.SortOrder.AscendingOrder)  # the user sorts by answers
    assert table.item(0, 0).text() == "compare"

    assert list(dashboard.share_bars.opts["height"]) == pytest.approx([100.0, 0.0])  # day 1: 3 of 3, day 2: 0 of 2
    xs, ys = dashboard.saved_curve.getData()
    assert list(xs) == [0, 1] and list(ys) == pytest.approx([0.003, 0.003])  # one point per day, cumulative
    assert set(dashboard.latency_curves) == {"local", "cloud", "fallback"}
    counts = {route: int(curve.getData()[1].sum()) for route, curve in dashboard.latency_curves.items()}
    assert counts == {"local": 3, "cloud": 1, "fallback": 1}  # every answer in its route's histogram


def test_empty_ledger_says_so(qtbot, ctx):
    dashboard = open_dashboard(qtbot, ctx)
    assert dashboard.pages.currentWidget() is dashboard.empty_label
    assert dashboard.empty_label.text().startswith("No answers yet")
    assert dashboard.share_bars is None and dashboard.latency_curves == {}


def test_the_view_menu_opens_it(qtbot, ctx):
    from app.ui.main_window import MainWindow

    window = MainWindow(ctx)
    qtbot.addWidget(window)
    assert window.dashboard_action.text() == "Savings dashboard…"
    window.dashboard_action.trigger()
    dashboard = window.dashboard
    qtbot.waitUntil(lambda: dashboard.summary is not None, timeout=20_000)
    assert dashboard.isVisible() and dashboard.summary.answers == 0
    dashboard.close()
