"""The model list of the wizard's model step: every catalog option with its fit badge, memory, speed and
download size; the recommended pick starred, bold and selected; options that will not run here are
hidden (or, with "show all", shown greyed out and not selectable)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from app.core.downloads import human_bytes
from app.core.i18n import N_
from app.core.profile import GIB
from app.core.recommend import Option, Recommendation
from app.core.report import VERDICT_TEXT
from app.ui.i18n import tr

BADGE_COLOURS = {"full_gpu": "#d4f4dc", "partial_gpu": "#dbe8ff", "cpu_only": "#ececec"}
REFUSED_COLOUR = "#fde1e1"
PICK_COLOUR = "#fff3c4"
OPTION_ROLE = Qt.ItemDataRole.UserRole


def verdict_text(o: Option) -> str:
    if o.fit.verdict in ("full_gpu", "partial_gpu", "cpu_only") and not o.disk_ok:
        return tr("exceeds free disk")
    text = tr(VERDICT_TEXT[o.fit.verdict])
    if o.fit.verdict == "partial_gpu":
        text += f" {o.fit.gpu_layers}/{o.fit.total_layers}"
    return text


class OptionTable(QTableWidget):
    COLUMNS = (N_("Model"), N_("Quant"), N_("Fit"), N_("Memory"), N_("Speed"), N_("Download"))

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(self.COLUMNS), parent)
        self.setHorizontalHeaderLabels([tr(c) for c in self.COLUMNS])
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.options: list[Option] = []
        self.pick: Option | None = None
        self.show_all = False

    def show_recommendation(self, rec: Recommendation) -> None:
        self.clearSelection()
        self.options, self.pick = list(rec.options), rec.pick
        self.setRowCount(len(self.options))
        for row, o in enumerate(self.options):
            self._fill_row(row, o, picked=o is rec.pick)
        self.resizeColumnsToContents()
        self.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.set_show_all(self.show_all)
        if rec.pick is not None:
            row = self.options.index(rec.pick)
            self.selectRow(row)
            self.scrollTo(self.model().index(row, 0))

    def set_show_all(self, show_all: bool) -> None:
        self.show_all = show_all
        for row, o in enumerate(self.options):
            self.setRowHidden(row, not (o.runs or show_all))

    def selected_option(self) -> Option | None:
        rows = {i.row() for i in self.selectedItems()}
        if len(rows) != 1:
            return None
        option = self.options[rows.pop()]
        return option if option.runs else None

    def row_of(self, model_id: str, quant: str) -> int | None:
        for row, o in enumerate(self.options):
            if o.model.id == model_id and o.variant.quant.upper() == quant.upper():
                return row
        return None

    def _fill_row(self, row: int, o: Option, *, picked: bool) -> None:
        tps = o.fit.tokens_per_second
        cells = (
            ("★ " if picked else "") + o.model.name,
            o.variant.quant,
            verdict_text(o),
            f"{o.fit.memory.total_bytes / GIB:.1f} GB",
            "" if tps is None else tr("~{n} tok/s").format(n=f"{tps:.0f}"),
            ("~" if o.download_is_estimate else "") + human_bytes(o.download_bytes),
        )
        flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable if o.runs else Qt.ItemFlag.NoItemFlags
        for col, value in enumerate(cells):
            item = QTableWidgetItem(value)
            item.setFlags(flags)
            item.setToolTip(o.fit.reason)
            if picked:
                font = QFont(item.font())
                font.setBold(True)
                item.setFont(font)
                item.setBackground(QBrush(QColor(PICK_COLOUR)))
            if col == 2:
                item.setBackground(QBrush(QColor(BADGE_COLOURS.get(o.fit.verdict, REFUSED_COLOUR)
                                                 if o.disk_ok else REFUSED_COLOUR)))
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            if col == 0:
                item.setData(OPTION_ROLE, row)
            self.setItem(row, col, item)
