"""The settings dialog's editor base, and the editors of its Answers page (app.ui.settings_dialog builds
the pages): decimal spin boxes for the time limits and prices, and one line per model role, checked with
`parse_model_ref` when the dialog is accepted so a bad reference is refused beside the field."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

from pydantic.fields import FieldInfo
from PySide6.QtWidgets import QDoubleSpinBox, QFormLayout, QLineEdit, QWidget

from app.core.errors import SettingsInvalid
from app.core.model_roles import ROLES, Tier, parse_model_ref
from app.ui.i18n import tr


def role_labels() -> dict[str, str]:
    return {"default": tr("Most questions"), "simple": tr("Simple questions"), "code": tr("Code questions"),
            "fallback": tr("Fallback (hard or unsatisfactory answers)")}


def float_formats() -> dict[str, tuple[str, str, str]]:
    """Field -> (prefix, suffix, text for "unset") of its spin box."""
    return {"local_first_token_s": ("", tr(" s"), ""), "local_total_s": ("", tr(" s"), ""),
            "cloud_monthly_budget_usd": ("$", "", tr("No limit")),
            "electricity_price_kwh": ("", tr(" per kWh"), tr("Not counted")),
            "local_watts": ("", tr(" W"), tr("Not counted")), "router_threshold": ("", "", tr("Shipped default"))}


def float_bounds(field: FieldInfo, resolution: float = 0.01) -> tuple[float, float]:
    low, high = 0.0, 1e9
    for meta in field.metadata:
        if getattr(meta, "ge", None) is not None:
            low = max(low, float(meta.ge))
        if getattr(meta, "gt", None) is not None:
            low = max(low, float(meta.gt) + resolution)
        if getattr(meta, "le", None) is not None:
            high = min(high, float(meta.le))
        if getattr(meta, "lt", None) is not None:
            high = min(high, float(meta.lt) - resolution)
    return low, high


class FieldEditor(ABC):
    """One field's widget; `value()` raises ValueError (with a message for the user) for input it refuses."""

    widget: QWidget

    @abstractmethod
    def value(self) -> Any: ...

    @abstractmethod
    def set_value(self, value: Any) -> None: ...

    @abstractmethod
    def on_change(self, slot: Callable[[], None]) -> None: ...


class FloatEditor(FieldEditor):
    """A decimal spin box; for an optional field its lowest value shows `unset` and means None."""

    def __init__(self, minimum: float, maximum: float, *, optional: bool, unset: str = "", prefix: str = "",
                 suffix: str = "") -> None:
        self.widget = self.spin = QDoubleSpinBox()
        self.optional = optional
        step = 0.01 if maximum - minimum <= 1 else 1.0
        self.spin.setDecimals(2)
        self.spin.setSingleStep(step)
        self.spin.setRange(minimum - step if optional else minimum, maximum)
        self.spin.setPrefix(prefix)
        self.spin.setSuffix(suffix)
        if optional:
            self.spin.setSpecialValueText(unset or tr("Automatic"))

    def value(self) -> float | None:
        value = self.spin.value()
        return None if self.optional and value == self.spin.minimum() else value

    def set_value(self, value: Any) -> None:
        self.spin.setValue(self.spin.minimum() if value is None else float(value))

    def on_change(self, slot: Callable[[], None]) -> None:
        self.spin.valueChanged.connect(lambda _value: slot())


class RolesEditor(FieldEditor):
    """One line per role: empty takes the tier's model (shown greyed in the line), anything else overrides it.
    Each line is checked with `parse_model_ref` when the dialog is accepted."""

    def __init__(self, tiers: Mapping[str, Tier]) -> None:
        self.widget = QWidget()
        self.tiers = dict(tiers)
        self.lines: dict[str, QLineEdit] = {}
        self._others: dict[str, str] = {}  # keys that are not roles: kept, and refused by the model's check
        form = QFormLayout(self.widget)
        form.setContentsMargins(0, 0, 0, 0)
        labels = role_labels()
        for role in ROLES:
            line = QLineEdit()
            line.setObjectName(f"role_{role}")
            self.lines[role] = line
            form.addRow(labels[role], line)
        self.set_tier(None)

    def set_tier(self, tier: str | None) -> None:
        """Show the tier's model in each empty line, so "empty" visibly means "from the tier"."""
        chosen = self.tiers.get(tier or "")
        for role, line in self.lines.items():
            ref = chosen.roles.get(role) if chosen is not None else None  # type: ignore[call-overload]
            model = str(ref) if ref is not None else "none"
            line.setPlaceholderText(tr("From the tier: {model}").format(model=model) if chosen is not None
                                    else tr("From the tier"))

    def value(self) -> dict[str, str]:
        overrides = dict(self._others)
        problems: list[str] = []
        for role, line in self.lines.items():
            text = line.text().strip()
            if not text:
                continue
            try:
                parse_model_ref(text)
            except SettingsInvalid as exc:
                problems.append(f"{role_labels()[role]}: {exc.user_message} {exc.hint or ''}".strip())
                continue
            overrides[role] = text
        if problems:
            raise ValueError("\n".join(problems))
        return overrides

    def set_value(self, value: Any) -> None:
        value = dict(value or {})
        for role, line in self.lines.items():
            line.setText(str(value.pop(role, "")))
        self._others = {str(k): str(v) for k, v in value.items()}

    def on_change(self, slot: Callable[[], None]) -> None:
        for line in self.lines.values():
            line.textChanged.connect(lambda _text: slot())
