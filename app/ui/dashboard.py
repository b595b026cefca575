"""The savings dashboard: what the ledger adds up to, as headline numbers, three charts and a table.

It shows one `LedgerSummary` (app.core.ledger_stats), the same one `lantern stats` prints, so the window
and the command never disagree. The entries are read on the database worker (op helper); the charts are
pyqtgraph, imported here only: this module is imported when the dashboard is opened, not at start-up.

Colours: one hue per route (on-device green, cloud blue, fell back orange), mid-tone so they read on a
light and a dark background; the plot background and axes follow the window's palette.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyqtgraph as pg  # type: ignore[import-untyped]
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.ledger_stats import LATENCY_ROUTES, LedgerSummary, format_share, format_usd, summarise
from app.ui.headline import Headline
from app.ui.i18n import Retranslatable, tr
from app.ui.op import Op

if TYPE_CHECKING:
    from app.ui.app_context import AppContext

ROUTE_COLOURS = {"local": "#2e9e5b", "cloud": "#3a7bd5", "fallback": "#e0892b"}
MAX_BINS = 30
MAX_DATE_TICKS = 8


def route_label(route: str) -> str:
    return {"local": tr("on-device"), "cloud": tr("cloud"), "fallback": tr("fell back")}.get(route, route)


class _SortItem(QTableWidgetItem):
    """A cell that sorts by its number (a share shown as "40.0%"), blanks last."""

    def __init__(self, text: str, key: float | None) -> None:
        super().__init__(text)
        self.key = key

    def __lt__(self, other: QTableWidgetItem) -> bool:
        mine = self.key if self.key is not None else float("-inf")
        theirs = getattr(other, "key", None)
        return mine < (theirs if theirs is not None else float("-inf"))


class SavingsDashboard(Retranslatable, QDialog):
    summary_shown = Signal(object)  # the LedgerSummary now on screen (tests and the screenshot wait for it)

    def __init__(self, ctx: AppContext | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.summary: LedgerSummary | None = None
        self.resize(1100, 760)
        pg.setConfigOptions(antialias=True)

        self.cards = {key: Headline(self) for key in ("local_share", "fallback_rate", "spent", "saved", "answers")}
        cards = QHBoxLayout()
        for card in self.cards.values():
            cards.addWidget(card)

        self.share_plot = self._plot()
        self.saved_plot = self._plot()
        self.latency_plot = self._plot()
        self.latency_plot.addLegend(offset=(-10, 10), labelTextColor=self.palette().color(QPalette.ColorRole.Text))
        self.share_bars: Any = None
        self.saved_curve: Any = None
        self.latency_curves: dict[str, Any] = {}
        self.kinds = QTableWidget(0, 4, self)
        self.kinds.setSortingEnabled(True)
        self.kinds.verticalHeader().setVisible(False)
        self.kinds.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.kinds.horizontalHeader().setStretchLastSection(True)

        self.titles = [QLabel("", self) for _ in range(4)]
        grid = QGridLayout()
        for i, widget in enumerate((self.share_plot, self.saved_plot, self.latency_plot, self.kinds)):
            box = QVBoxLayout()
            box.addWidget(self.titles[i])
            box.addWidget(widget, 1)
            grid.addLayout(box, i // 2, i % 2)
        content = QWidget(self)
        inner = QVBoxLayout(content)
        inner.setContentsMargins(0, 0, 0, 0)
        inner.addLayout(cards)
        inner.addLayout(grid, 1)

        self.empty_label = QLabel("", self)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        self.pages = QStackedWidget(self)
        self.pages.addWidget(self.empty_label)
        self.pages.addWidget(content)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.pages, 1)
        layout.addWidget(buttons)
        self.retranslate()
        if ctx is not None:
            self.reload()

    # -- data ---------------------------------------------------------------------------------------

    def reload(self) -> None:
        """Read the learner's answers on the database worker, then show them."""
        ctx = self.ctx
        if ctx is None:
            return
        self.empty_label.setText(tr("Reading the answers…"))
        self.pages.setCurrentWidget(self.empty_label)
        Op(self, lambda: summarise(ctx.services.ledger.entries())).success(self.show_summary).run(executor=ctx.db)

    def show_summary(self, summary: LedgerSummary) -> None:
        self.summary = summary
        if summary.answers == 0:
            self.empty_label.setText(tr("No answers yet. Ask the tutor a question: each answer is counted here, "
                                        "with where it ran and what it cost."))
            self.pages.setCurrentWidget(self.empty_label)
        else:
            self._show_headline(summary)
            self._show_share(summary)
            self._show_saved(summary)
            self._show_latency(summary)
            self._show_kinds(summary)
            self.pages.setCurrentIndex(1)
        self.summary_shown.emit(summary)

    # -- texts --------------------------------------------------------------------------------------

    def retranslate(self) -> None:
        self.setWindowTitle(tr("Savings dashboard"))
        captions = {"local_share": tr("answered on this device"), "fallback_rate": tr("fell back to the cloud"),
                    "spent": tr("spent on the cloud"), "saved": tr("saved against the cloud"),
                    "answers": tr("answers")}
        for key, card in self.cards.items():
            card.caption.setText(captions[key])
        for label, text in zip(self.titles, (tr("Answered on this device, per day"), tr("Money saved (cumulative)"),
                                             tr("Time to the whole answer"), tr("Which questions fall back")),
                               strict=True):
            label.setText(f"<b>{text}</b>")
        self.kinds.setHorizontalHeaderLabels([tr("Kind"), tr("Answers"), tr("Fallback rate"), tr("Main reason")])
        self.share_plot.setLabel("left", tr("on-device"), units="%")
        self.saved_plot.setLabel("left", tr("saved"), units="USD")
        self.latency_plot.setLabel("left", tr("answers"))
        self.latency_plot.setLabel("bottom", tr("seconds"))
        if self.summary is not None:
            self.show_summary(self.summary)

    # -- pieces -------------------------------------------------------------------------------------

    def _plot(self) -> Any:
        palette = self.palette()
        text = palette.color(QPalette.ColorRole.Text)
        widget = pg.PlotWidget(self, background=palette.color(QPalette.ColorRole.Base))
        widget.setMinimumHeight(200)
        item = widget.getPlotItem()
        item.showGrid(x=False, y=True, alpha=0.25)
        item.setMenuEnabled(False)
        for name in ("left", "bottom"):
            axis = item.getAxis(name)
            axis.setPen(pg.mkPen(text))
            axis.setTextPen(pg.mkPen(text))
            axis.enableAutoSIPrefix(False)  # "mUSD" helps nobody: dollars stay dollars
        return widget

    def _show_headline(self, s: LedgerSummary) -> None:
        values = {"local_share": format_share(s.local_share), "fallback_rate": format_share(s.fallback_rate),
                  "spent": format_usd(s.cost_usd), "saved": format_usd(s.saved_usd), "answers": str(s.answers)}
        for key, card in self.cards.items():
            card.value.setText(values[key])
        self.cards["fallback_rate"].setToolTip(
            tr("{fell} of {tried} answers tried on this device were replaced by the cloud's").format(
                fell=sum(s.fallback_reasons.values()), tried=s.local_attempts))
        self.cards["saved"].setToolTip(tr("All answers on the reference cloud model: {cost}").format(
            cost=format_usd(s.cost_if_all_cloud_usd)))

    def _day_ticks(self, plot: Any, s: LedgerSummary) -> None:
        step = max(1, -(-len(s.daily) // MAX_DATE_TICKS))
        ticks = [(i, row.day.strftime("%m-%d")) for i, row in enumerate(s.daily) if i % step == 0]
        plot.getPlotItem().getAxis("bottom").setTicks([ticks])
        plot.getPlotItem().setXRange(-0.6, len(s.daily) - 0.4, padding=0)

    def _show_share(self, s: LedgerSummary) -> None:
        plot = self.share_plot
        plot.clear()
        xs = list(range(len(s.daily)))
        heights = [100 * (row.local_share or 0.0) for row in s.daily]
        colour = QColor(ROUTE_COLOURS["local"])
        self.share_bars = pg.BarGraphItem(x=xs, height=heights, width=0.7, brush=colour, pen=pg.mkPen(colour))
        plot.addItem(self.share_bars)
        plot.getPlotItem().setYRange(0, 100, padding=0.02)
        self._day_ticks(plot, s)

    def _show_saved(self, s: LedgerSummary) -> None:
        plot = self.saved_plot
        plot.clear()
        colour = QColor(ROUTE_COLOURS["local"])
        fill = QColor(colour)
        fill.setAlpha(60)
        self.saved_curve = plot.plot(list(range(len(s.daily))), [row.saved_cumulative_usd for row in s.daily],
                                     pen=pg.mkPen(colour, width=2), symbol="o", symbolSize=6, symbolBrush=colour,
                                     fillLevel=0, brush=fill)
        self._day_ticks(plot, s)

    def _show_latency(self, s: LedgerSummary) -> None:
        import numpy as np

        plot = self.latency_plot
        plot.clear()
        legend = plot.getPlotItem().legend
        if legend is not None:
            legend.clear()
        self.latency_curves = {}
        everything = [t for route in LATENCY_ROUTES for t in s.latency[route].total_s]
        edges = np.histogram_bin_edges(everything, bins="auto")
        if len(edges) > MAX_BINS + 1:
            edges = np.histogram_bin_edges(everything, bins=MAX_BINS)
        for route in LATENCY_ROUTES:
            times = s.latency[route].total_s
            if not times:
                continue
            counts, _edges = np.histogram(times, bins=edges)
            colour = QColor(ROUTE_COLOURS[route])
            fill = QColor(colour)
            fill.setAlpha(70)
            p50 = s.latency[route].total_p50_s
            name = tr("{route} (p50 {p50:.1f} s)").format(route=route_label(route), p50=p50 or 0.0)
            self.latency_curves[route] = plot.plot(edges, counts, stepMode="center", fillLevel=0, brush=fill,
                                                   pen=pg.mkPen(colour, width=2), name=name)

    def _show_kinds(self, s: LedgerSummary) -> None:
        table = self.kinds
        table.setSortingEnabled(False)
        table.setRowCount(len(s.by_kind))
        for r, row in enumerate(s.by_kind):
            cells = [QTableWidgetItem(row.kind), _SortItem(str(row.answers), row.answers),
                     _SortItem(format_share(row.fallback_rate), row.fallback_rate),
                     QTableWidgetItem(row.main_reason or "—")]
            cells[2].setToolTip(tr("{fell} of its answers fell back").format(fell=row.fell_back))
            for c, cell in enumerate(cells):
                if c in (1, 2):
                    cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                table.setItem(r, c, cell)
        table.resizeColumnsToContents()
        table.setSortingEnabled(True)
        table.sortItems(2, Qt.SortOrder.DescendingOrder)


def open_dashboard(ctx: AppContext, parent: QWidget | None = None) -> SavingsDashboard:
    """Open the dashboard (not modal: it can stay open beside the tutor); Qt deletes it when closed."""
    dialog = SavingsDashboard(ctx, parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.show()
    return dialog
