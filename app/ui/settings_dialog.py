"""The settings dialog, generated from `LanternSettings`: one editor per field, built from its type.

Which fields show, and in which tab, is the one hand-written part (`GROUPS`); everything else comes
from the model: the editor from the annotation, spin-box bounds from ge/le, help text from the
field's description. tests/ui/test_settings_dialog.py fails when a new field is neither grouped nor
listed in `HIDDEN_FIELDS`, so a setting cannot silently go missing from the dialog.
Two fields need a hand-made editor: `tier` (a choice of the tiers table's titles, passed in like the
installed models) and `roles` (one line per role, checked with `parse_model_ref` on OK).
"""

from __future__ import annotations

import os
import types
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import ValidationError
from pydantic.fields import FieldInfo
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.core.errors import SettingsInvalid
from app.core.i18n import N_
from app.core.model_roles import Tier
from app.core.settings import LanternSettings
from app.ui.i18n import tr
from app.ui.settings_editors import FieldEditor, FloatEditor, RolesEditor, float_bounds, float_formats

# Tab title -> fields, in the order shown. Titles are English source text, translated when built.
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (N_("Model"), ("chat_model", "embedding_model", "context_length", "n_threads", "gpu_layers", "intent")),
    (N_("Appearance"), ("theme", "font_size", "ui_language")),
    (N_("Answers"), ("cloud_consent", "tier", "roles", "local_first_token_s", "local_total_s",
                     "cloud_monthly_budget_usd", "electricity_price_kwh", "local_watts")),
    (N_("Downloads & privacy"), ("max_parallel_downloads", "offline", "allow_plaintext_secrets")),
    (N_("Advanced"), ("log_level", "models_dir", "router_threshold")),
)
# cloud_providers (name → base URL of an extra OpenAI-compatible server) is edited in the settings file.
HIDDEN_FIELDS = frozenset({"schema_version", "cloud_providers"})
# Fields whose choices are the installed models, passed in by the caller.
MODEL_FIELDS = ("chat_model", "embedding_model")
_INT_MIN, _INT_MAX = -(2**31) + 1, 2**31 - 1  # QSpinBox is 32-bit; one below the minimum is "Automatic"
_ERROR_STYLE = "color: #d93025;"


def shown_fields() -> list[str]:
    return [name for _, names in GROUPS for name in names]


def field_labels() -> dict[str, str]:
    return {
        "chat_model": tr("Chat model"), "embedding_model": tr("Embedding model"),
        "context_length": tr("Context length"), "n_threads": tr("CPU threads"), "gpu_layers": tr("GPU layers"),
        "intent": tr("Main use"), "theme": tr("Theme"), "font_size": tr("Text size"), "ui_language": tr("Language"),
        "max_parallel_downloads": tr("Parallel downloads"), "offline": tr("Offline mode"),
        "allow_plaintext_secrets": tr("Allow tokens in a private file"), "log_level": tr("Log detail"),
        "models_dir": tr("Models folder"), "cloud_consent": tr("Cloud models"), "tier": tr("Tier"),
        "roles": tr("Models by role"), "local_first_token_s": tr("On-device start limit"),
        "local_total_s": tr("On-device time limit"), "cloud_monthly_budget_usd": tr("Monthly cloud budget"),
        "electricity_price_kwh": tr("Electricity price"), "local_watts": tr("Power while answering"),
        "router_threshold": tr("Cloud threshold"),
    }


def choice_labels() -> dict[str, dict[Any, str]]:
    """Human labels for Literal values; a value missing here is shown as itself."""
    return {
        "theme": {"system": tr("Follow the system"), "light": tr("Light"), "dark": tr("Dark")},
        # Language names stay in their own language, so a user can always find theirs.
        "ui_language": {"system": tr("System language"), "en": "English", "vi": "Tiếng Việt"},
        "intent": {"chat": tr("Chat and tutoring"), "code": tr("Programming"), "multilingual": tr("Many languages")},
        "log_level": {"DEBUG": tr("Everything (debug)"), "INFO": tr("Normal"), "WARNING": tr("Warnings and errors"),
                      "ERROR": tr("Errors only")},
        "cloud_consent": {"never": tr("Never"), "ask": tr("Ask me each time"), "when_needed": tr("When needed")},
    }


def env_overrides(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Field -> the LANTERN_* variable that sets it; those win over anything the dialog could save."""
    env = os.environ if environ is None else environ
    present = {key.upper(): key for key in env}
    prefix = str(LanternSettings.model_config.get("env_prefix", ""))
    return {name: present[var] for name in LanternSettings.model_fields
            if (var := f"{prefix}{name}".upper()) in present}


def folder_problem(path: Path) -> str | None:
    """Why `path` cannot hold Lantern's files, or None. Pydantic only checks it is a path."""
    if not path.is_absolute():
        return tr("Enter a full path, not a relative one.")
    if path.exists():
        if not path.is_dir():
            return tr("{} is a file, not a folder.").format(path)
        return None if os.access(path, os.W_OK) else tr("Lantern cannot write to {}.").format(path)
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                return tr("{} is a file, so no folder can be made inside it.").format(parent)
            return None if os.access(parent, os.W_OK) else tr("Lantern cannot create a folder in {}.").format(parent)
    return None


class BoolEditor(FieldEditor):
    def __init__(self, text: str) -> None:
        self.widget = self.box = QCheckBox(text)

    def value(self) -> bool:
        return self.box.isChecked()

    def set_value(self, value: Any) -> None:
        self.box.setChecked(bool(value))

    def on_change(self, slot: Callable[[], None]) -> None:
        self.box.toggled.connect(lambda _checked: slot())


class ChoiceEditor(FieldEditor):
    """A combo box of (value, label); a value not offered (an uninstalled model) is added, marked as such."""

    def __init__(self, choices: list[tuple[Any, str]], *, unknown_label: str = "{}") -> None:
        self.widget = self.box = QComboBox()
        self._unknown_label = unknown_label
        for value, label in choices:
            self.box.addItem(label, value)

    def value(self) -> Any:
        return self.box.currentData()

    def set_value(self, value: Any) -> None:
        for index in range(self.box.count()):
            if self.box.itemData(index) == value:
                self.box.setCurrentIndex(index)
                return
        self.box.addItem(self._unknown_label.format(value), value)
        self.box.setCurrentIndex(self.box.count() - 1)

    def on_change(self, slot: Callable[[], None]) -> None:
        self.box.currentIndexChanged.connect(lambda _index: slot())


class IntEditor(FieldEditor):
    """A spin box; for an optional field, one below the minimum shows "Automatic" and means None."""

    def __init__(self, minimum: int, maximum: int, *, optional: bool) -> None:
        self.widget = self.spin = QSpinBox()
        self.optional = optional
        self.spin.setRange(minimum - 1 if optional else minimum, maximum)
        if optional:
            self.spin.setSpecialValueText(tr("Automatic"))
        if maximum - minimum > 1000:
            self.spin.setStepType(QSpinBox.StepType.AdaptiveDecimalStepType)

    def value(self) -> int | None:
        value = self.spin.value()
        return None if self.optional and value == self.spin.minimum() else value

    def set_value(self, value: Any) -> None:
        self.spin.setValue(self.spin.minimum() if value is None else int(value))

    def on_change(self, slot: Callable[[], None]) -> None:
        self.spin.valueChanged.connect(lambda _value: slot())


class TextEditor(FieldEditor):
    def __init__(self, *, optional: bool) -> None:
        self.widget = self.line = QLineEdit()
        self.optional = optional
        if optional:
            self.line.setPlaceholderText(tr("Automatic"))

    def value(self) -> str | None:
        text = self.line.text().strip()
        return None if self.optional and not text else text

    def set_value(self, value: Any) -> None:
        self.line.setText("" if value is None else str(value))

    def on_change(self, slot: Callable[[], None]) -> None:
        self.line.textChanged.connect(lambda _text: slot())


class FolderEditor(TextEditor):
    """A folder path with "Browse…"; empty means None (the default location)."""

    def __init__(self, *, optional: bool) -> None:
        super().__init__(optional=optional)
        self.browse_button = QPushButton(tr("Browse…"))
        self.browse_button.clicked.connect(self._browse)
        self.widget = QWidget()
        row = QHBoxLayout(self.widget)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.line, 1)
        row.addWidget(self.browse_button)
        self.widget.setFocusProxy(self.line)

    def value(self) -> Path | None:  # type: ignore[override]
        text = super().value()
        if not text:
            return None
        path = Path(text).expanduser()
        problem = folder_problem(path)
        if problem:
            raise ValueError(problem)
        return path

    def _browse(self) -> None:
        start = self.line.text().strip() or str(Path.home())
        chosen = QFileDialog.getExistingDirectory(self.widget, tr("Choose a folder for model files"), start)
        if chosen:
            self.line.setText(chosen)


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return annotation, False


def _int_bounds(field: FieldInfo) -> tuple[int, int]:
    low, high = _INT_MIN, _INT_MAX
    for meta in field.metadata:
        if getattr(meta, "ge", None) is not None:
            low = max(low, int(meta.ge))
        if getattr(meta, "gt", None) is not None:
            low = max(low, int(meta.gt) + 1)
        if getattr(meta, "le", None) is not None:
            high = min(high, int(meta.le))
        if getattr(meta, "lt", None) is not None:
            high = min(high, int(meta.lt) - 1)
    return low, high


def editor_for(name: str, field: FieldInfo, *, models: Mapping[str, list[str]],
               tiers: Mapping[str, Tier] | None = None) -> FieldEditor:
    """Build the editor a field's annotation calls for; an unsupported type fails loudly, not silently."""
    kind, optional = _unwrap_optional(field.annotation)
    if name in models:
        choices = [(None, tr("Automatic")), *((model_id, model_id) for model_id in models[name])]
        return ChoiceEditor(choices, unknown_label=tr("{} (not installed)"))
    if name == "tier":
        return ChoiceEditor([(key, tr(tier.title)) for key, tier in (tiers or {}).items()],
                            unknown_label=tr("{} (not in the tiers table)"))
    if name == "roles":
        return RolesEditor(tiers or {})
    if kind is bool:
        return BoolEditor(field_labels().get(name, name))
    if get_origin(kind) is Literal:
        labels = choice_labels().get(name, {})
        choices = [(value, labels.get(value, str(value))) for value in get_args(kind)]
        return ChoiceEditor([(None, tr("Automatic")), *choices] if optional else choices)
    if kind is int:
        low, high = _int_bounds(field)
        return IntEditor(low, high, optional=optional)
    if kind is float:
        low_f, high_f = float_bounds(field)
        prefix, suffix, unset = float_formats().get(name, ("", "", ""))
        return FloatEditor(low_f, high_f, optional=optional, unset=unset, prefix=prefix, suffix=suffix)
    if kind is Path:
        return FolderEditor(optional=optional)
    if kind is str:
        return TextEditor(optional=optional)
    raise TypeError(f"no settings editor for {name}: {field.annotation!r}")


class SettingsDialog(QDialog):
    def __init__(self, settings: LanternSettings, *, chat_models: list[str], embedding_models: list[str],
                 tiers: Mapping[str, Tier] | None = None, extra_pages: Sequence[tuple[str, QWidget]] = (),
                 parent: QWidget | None = None) -> None:
        """`extra_pages` are (translated title, page) tabs added after the settings ones, for what is not a
        settings field (the sync account, app/ui/account_page.py); they act on their own, not on OK."""
        super().__init__(parent)
        self.setWindowTitle(tr("Settings"))
        self._settings = settings
        self._models = {"chat_model": list(chat_models), "embedding_model": list(embedding_models)}
        if tiers is None:
            from app.services.cloud_config import default_tiers

            tiers = default_tiers()
        self._tiers = dict(tiers)
        self.overrides = env_overrides()
        self.editors: dict[str, FieldEditor] = {}
        self.error_labels: dict[str, QLabel] = {}
        self._tab_of: dict[str, int] = {}
        self.tabs = QTabWidget()
        for title, names in GROUPS:
            index = self.tabs.addTab(self._build_page(title, names), tr(title).replace("&", "&&"))
            self._tab_of.update(dict.fromkeys(names, index))
        for title, page in extra_pages:
            self.tabs.addTab(page, title.replace("&", "&&"))
        self.general_error = QLabel()
        self.general_error.setStyleSheet(_ERROR_STYLE)
        self.general_error.setWordWrap(True)
        self.general_error.hide()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
                                        | QDialogButtonBox.StandardButton.RestoreDefaults)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText(tr("OK"))
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setText(tr("Cancel"))
        self.restore_button = self.buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults)
        self.restore_button.setText(tr("Restore defaults"))
        self.restore_button.clicked.connect(self.restore_defaults)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addWidget(self.general_error)
        layout.addWidget(self.buttons)
        roles, tier = self.editors["roles"], self.editors["tier"]
        if isinstance(roles, RolesEditor):
            tier.on_change(lambda: roles.set_tier(tier.value()))
        self._load(settings)
        if isinstance(roles, RolesEditor):
            roles.set_tier(tier.value())

    def show_page(self, page: QWidget) -> None:
        """Bring one of the tabs (an extra page, say) to the front."""
        index = self.tabs.indexOf(page)
        if index >= 0:
            self.tabs.setCurrentIndex(index)

    def _build_page(self, title: str, names: tuple[str, ...]) -> QWidget:
        page = QWidget()
        outer = QVBoxLayout(page)
        if title == "Model":
            note = QLabel(tr("Changes to the model, context length, threads and GPU layers apply when the model "
                             "is next loaded."))
            note.setWordWrap(True)
            outer.addWidget(note)
        if title == "Answers":
            note = QLabel(tr("Questions are answered on this device first; a cloud model is asked only as chosen "
                             "here. Offline mode always wins: with it on, nothing is sent to a cloud model."))
            note.setWordWrap(True)
            outer.addWidget(note)
        form = QFormLayout()
        outer.addLayout(form)
        outer.addStretch(1)
        labels = field_labels()
        for name in names:
            self._add_row(form, name, labels.get(name, name.replace("_", " ").capitalize()))
        return page

    def _add_row(self, form: QFormLayout, name: str, label_text: str) -> None:
        field = LanternSettings.model_fields[name]
        editor = editor_for(name, field, models=self._models, tiers=self._tiers)
        help_text = tr(field.description or "")
        variable = self.overrides.get(name)
        if variable:
            editor.widget.setEnabled(False)
            help_text += "\n" + tr("Set by the environment variable {}: unset it to change this here.").format(variable)
        editor.widget.setToolTip(help_text)
        help_label = QLabel(help_text)
        help_label.setWordWrap(True)
        help_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        error = QLabel()
        error.setWordWrap(True)
        error.setStyleSheet(_ERROR_STYLE)
        error.hide()
        cell = QWidget()
        column = QVBoxLayout(cell)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        for widget in (editor.widget, help_label, error):
            column.addWidget(widget)
        if isinstance(editor, BoolEditor):
            form.addRow(cell)
        else:
            label = QLabel(label_text)
            label.setToolTip(help_text)
            label.setBuddy(editor.widget)
            form.addRow(label, cell)
        editor.on_change(error.hide)
        self.editors[name] = editor
        self.error_labels[name] = error

    def _load(self, settings: LanternSettings) -> None:
        for name, editor in self.editors.items():
            editor.set_value(getattr(settings, name))

    def restore_defaults(self) -> None:
        """Put every editable field back to its default; fields set by the environment keep their value."""
        for name, editor in self.editors.items():
            if name not in self.overrides:
                editor.set_value(LanternSettings.model_fields[name].get_default(call_default_factory=True))
        self._show_errors({})

    def _validated(self) -> tuple[LanternSettings | None, dict[str, str]]:
        update: dict[str, Any] = {}
        problems: dict[str, str] = {}
        for name, editor in self.editors.items():
            if name in self.overrides:
                continue
            try:
                update[name] = editor.value()
            except ValueError as exc:
                problems[name] = str(exc)
        if problems:
            return None, problems
        try:
            return LanternSettings.model_validate({**self._settings.model_dump(), **update}), {}
        except ValidationError as exc:
            for error in exc.errors():
                where = str(error["loc"][0]) if error["loc"] else ""
                problems.setdefault(where, error["msg"])
            return None, problems

    def _show_errors(self, problems: dict[str, str]) -> None:
        for name, label in self.error_labels.items():
            label.setText(problems.get(name, ""))
            label.setVisible(name in problems)
        labels = field_labels()
        others = [f"{labels.get(name, name)}: {message}" for name, message in problems.items()
                  if name not in self.error_labels]
        self.general_error.setText("\n".join(others))
        self.general_error.setVisible(bool(others))
        first = next((name for name in shown_fields() if name in problems), None)
        if first is not None:
            self.tabs.setCurrentIndex(self._tab_of[first])

    def result_settings(self) -> LanternSettings:
        """The edited settings, validated. Raises SettingsInvalid if the dialog holds invalid input."""
        settings, problems = self._validated()
        if settings is None:
            details = "; ".join(f"{name}: {message}" for name, message in problems.items())
            raise SettingsInvalid(f"Some settings are invalid: {details}", hint="Fix the fields marked in red.")
        return settings

    def accept(self) -> None:
        settings, problems = self._validated()
        self._show_errors(problems)
        if settings is None:
            return  # stay open: the messages are shown beside the fields
        super().accept()
