"""The toolbar's model picker and offline toggle, and the status bar's device and memory readouts."""

from __future__ import annotations

import psutil
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QProgressBar, QToolButton, QWidget

from app.core.downloads import human_bytes
from app.core.installed import InstalledModel
from app.core.profile import GIB, DeviceProfile
from app.ui.i18n import Retranslatable, tr

MEMORY_REFRESH_MS = 2_000


def device_summary(profile: DeviceProfile) -> str:
    """One line for the status bar: processor, memory, and the accelerator models can use."""
    cpu, mem = profile.cpu, profile.memory
    cores = tr("{n} cores").format(n=cpu.physical_cores or cpu.logical_cores or "?")
    parts = [f"{cpu.brand or tr('Unknown processor')} ({cores})"]
    if mem.total_bytes:
        parts.append(tr("{gb:.0f} GB memory").format(gb=mem.total_bytes / GIB))
    if profile.apple:
        parts.append(profile.apple.chip or tr("Apple Silicon"))
    gpus = [g for g in profile.gpus if g.vendor != "apple"]
    if gpus:
        g = gpus[0]
        vram = f", {g.total_vram_bytes / GIB:.0f} GB" if g.total_vram_bytes else ""
        parts.append(f"{g.name}{vram}")
    elif not profile.apple:
        parts.append(tr("no GPU: models run on the processor"))
    return " · ".join(parts)


class ModelPicker(Retranslatable, QWidget):
    """The installed chat models; choosing one asks the window to load it (which shows progress here)."""

    model_chosen = Signal(str)  # model id

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.combo = QComboBox(self)
        self.combo.setMinimumContentsLength(22)
        self.combo.activated.connect(self._activated)
        self.busy = QProgressBar(self)
        self.busy.setRange(0, 0)  # llama.cpp reports no load progress; show that work is under way
        self.busy.setMaximumWidth(90)
        self.busy.hide()
        self.label = QLabel(self)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.combo)
        layout.addWidget(self.busy)
        self.loaded_id: str | None = None
        self.retranslate()


    def retranslate(self) -> None:
        self.combo.setToolTip(tr("The model the tutor answers with (installed models)"))
        self.label.setText(tr("Model:"))
        if self.combo.count() == 1 and self.combo.itemData(0) is None:
            self.combo.setItemText(0, tr("No model installed"))

    def set_models(self, models: list[InstalledModel], *, loaded: str | None) -> None:
        self.combo.blockSignals(True)
        self.combo.clear()
        for m in models:
            size = human_bytes(m.size_bytes)
            self.combo.addItem(f"{m.display_name} · {m.quant or m.format} · {size}", m.id)
        if not models:
            self.combo.addItem(tr("No model installed"), None)
        self.combo.setEnabled(bool(models))
        self.combo.blockSignals(False)
        self.show_loaded(loaded)

    def show_loaded(self, model_id: str | None) -> None:
        self.loaded_id = model_id
        index = self.combo.findData(model_id) if model_id else -1
        if index >= 0:
            self.combo.setCurrentIndex(index)

    def set_loading(self, loading: bool) -> None:
        self.busy.setVisible(loading)
        self.combo.setEnabled(not loading and self.combo.count() > 0 and self.combo.itemData(0) is not None)

    def _activated(self, index: int) -> None:
        model_id = self.combo.itemData(index)
        if model_id and model_id != self.loaded_id:
            self.model_chosen.emit(model_id)


class OfflineToggle(Retranslatable, QToolButton):
    """A clearly visible on/off switch; the window persists the state and disables network actions."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setCheckable(True)
        self.setObjectName("offlineToggle")
        self.toggled.connect(self._restyle)
        self._restyle(False)

    def retranslate(self) -> None:
        self._restyle(self.isChecked())

    def _restyle(self, offline: bool) -> None:
        self.setText(tr("● Offline mode: on") if offline else tr("○ Offline mode: off"))
        self.setToolTip(tr("Offline mode is on: nothing leaves this computer (no downloads, no cloud model, no "
                           "sync). Click to go online.") if offline else
                        tr("Click to turn on offline mode: nothing will leave this computer."))
        self.setStyleSheet("QToolButton#offlineToggle { font-weight: bold; padding: 3px 8px; border-radius: 4px;"
                           + (" background: #b45309; color: white; }" if offline else " }"))


class MemoryLabel(Retranslatable, QLabel):
    """This process's resident memory (the loaded models are most of it), refreshed every 2 s."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._process = psutil.Process()
        self._timer = QTimer(self)
        self._timer.setInterval(MEMORY_REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        self._timer.start()
        self.refresh()

    def retranslate(self) -> None:
        self.refresh()

    def refresh(self) -> None:
        try:
            rss = self._process.memory_info().rss
        except psutil.Error:
            return
        self.setText(tr("Memory in use: {amount}").format(amount=human_bytes(rss)))
