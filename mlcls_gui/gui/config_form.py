"""The hyperparameter form, generated from TrainConfig's field metadata.

One row per field, in the groups of ``GROUPS``; tooltips are the fields' help
texts; every edit is checked with the core's ``validate_field`` and a bad value
is marked red with the core's message under it. The data folder is not edited
here (the data panel sets it); the device field is a choice of this machine's
devices.
"""

from __future__ import annotations

import dataclasses
import functools
import html
import logging
import weakref
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from mlcls_gui.core.config import (
    GROUPS,
    TrainConfig,
    field_default,
    field_type,
    parse_field_text,
    validate_field,
)
from mlcls_gui.core.errors import ConfigError

from .dialogs import show_error

logger = logging.getLogger(__name__)

ERROR_STYLE = "QLineEdit, QComboBox { border: 2px solid #d32f2f; border-radius: 3px; background: #fff3f3; }"
# Fields the form does not show as text rows.
DATA_ROOT_FIELD = "images_root"
DEVICE_FIELD = "device"


@dataclasses.dataclass(frozen=True)
class DeviceChoice:
    """One entry of the device list (built from core.devices.DeviceInfo)."""

    id: str
    text: str


DEFAULT_DEVICE_CHOICES = (
    DeviceChoice("auto", "auto — a GPU when there is one, else CPU"),
    DeviceChoice("cpu", "cpu — CPU"),
)


def device_choices_from(infos: list[Any], precisions: dict[str, str] | None = None) -> list[DeviceChoice]:
    """``core.devices.list_devices()`` → the entries of the device box.

    ``precisions`` maps a device id to the mixed precision "auto" picks there
    ("bf16", "fp16" or "off"), shown so the user sees where it applies."""
    precisions = precisions or {}
    choices = [DEFAULT_DEVICE_CHOICES[0]]
    for info in infos:
        text = info.describe()
        precision = precisions.get(info.id)
        if precision:
            text += " · float32" if precision == "off" else f" · {precision} mixed precision"
        choices.append(DeviceChoice(info.id, text))
    return choices


class _FieldRow:
    """The editor of one field, its inline error label and how to read/write it."""

    def __init__(self, name: str, editor: QWidget, value_widget: QWidget, error: QLabel) -> None:
        self.name = name
        self.editor = editor  # the widget holding the value
        self.row_widget = value_widget  # what sits in the form row (editor + buttons)
        self.error = error
        self.kind = field_type(name)

    def text_value(self) -> Any:
        """The editor's value parsed into the field's type; raises ConfigError."""
        if isinstance(self.editor, QCheckBox):
            return self.editor.isChecked()
        if isinstance(self.editor, QComboBox):
            data = self.editor.currentData()
            return data if data is not None else self.editor.currentText()
        assert isinstance(self.editor, QLineEdit)
        if self.kind is str:
            return self.editor.text()
        return parse_field_text(self.name, self.editor.text())

    def set_value(self, value: Any) -> None:
        if isinstance(self.editor, QCheckBox):
            self.editor.setChecked(bool(value))
        elif isinstance(self.editor, QComboBox):
            index = self.editor.findData(value)
            if index < 0:
                self.editor.addItem(f"{value} (not available on this machine)", value)
                index = self.editor.count() - 1
            self.editor.setCurrentIndex(index)
        else:
            assert isinstance(self.editor, QLineEdit)
            self.editor.setText(format_value(value))


def format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


class ConfigForm(QWidget):
    """Edits a TrainConfig; ``config()`` returns it, or None while a value is invalid."""

    changed = Signal()  # any edit (valid or not)
    validity_changed = Signal(bool)
    config_loaded = Signal(object)  # TrainConfig read from a JSON file

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rows: dict[str, _FieldRow] = {}
        self._errors: dict[str, str] = {}
        self._images_root = ""
        self._valid = True
        self._loading = False
        self._advanced_rows: list[tuple[QFormLayout, QWidget]] = []

        content = QWidget()
        content_layout = QVBoxLayout(content)
        content_layout.setContentsMargins(4, 4, 4, 4)
        self.group_boxes: dict[str, QGroupBox] = {}
        for group in GROUPS:
            box = QGroupBox(group.replace("&", "&&"))  # "&" would be a mnemonic
            form = QFormLayout(box)
            form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
            form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.group_boxes[group] = box
            content_layout.addWidget(box)
        for f in dataclasses.fields(TrainConfig):
            if f.name == DATA_ROOT_FIELD:
                continue
            self._add_row(f.name, f.metadata["spec"])
        content_layout.addStretch(1)

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(content)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

        self.advanced_check = QCheckBox("Show advanced settings")
        self.advanced_check.toggled.connect(self._on_advanced_check_toggled)
        self.reset_button = QPushButton("Reset to defaults")
        self.reset_button.setToolTip("Put every setting back to its default (the data folder stays).")
        self.reset_button.clicked.connect(self._on_reset_button_clicked)
        self.load_button = QPushButton("Load…")
        self.load_button.setToolTip("Load settings from a config JSON file.")
        self.save_button = QPushButton("Save…")
        self.save_button.setToolTip("Save these settings as a config JSON file.")
        self.load_button.clicked.connect(self._on_load_button_clicked)
        self.save_button.clicked.connect(self._on_save_button_clicked)
        self.form_error = QLabel()
        self.form_error.setWordWrap(True)
        self.form_error.setStyleSheet("color: #c62828;")
        self.form_error.hide()

        buttons = QHBoxLayout()
        buttons.addWidget(self.reset_button)
        buttons.addWidget(self.load_button)
        buttons.addWidget(self.save_button)
        buttons.addStretch(1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(buttons)
        layout.addWidget(self.advanced_check)
        layout.addWidget(self.form_error)
        layout.addWidget(scroll, 1)

        self.set_device_choices(list(DEFAULT_DEVICE_CHOICES))
        self.set_config(TrainConfig())
        self._on_advanced_check_toggled(False)

    # ------------------------------------------------------------ building
    def _add_row(self, name: str, spec: Any) -> None:
        kind = field_type(name)
        # A weak proxy in the partials: a child's connection must not keep the
        # form's wrapper alive (PySide would delete the form a second time).
        me = weakref.proxy(self)
        box = self.group_boxes[spec.group]
        form = box.layout()
        assert isinstance(form, QFormLayout)
        editor: QWidget
        value_widget: QWidget
        if name == DEVICE_FIELD:
            editor = QComboBox()
            editor.currentIndexChanged.connect(functools.partial(type(self)._on_editor_changed, me, name))
            value_widget = editor
        elif kind is bool:
            editor = QCheckBox()
            editor.toggled.connect(functools.partial(type(self)._on_editor_changed, me, name))
            value_widget = editor
        elif spec.choices:
            editor = QComboBox()
            for choice in spec.choices:
                editor.addItem(choice, choice)
            editor.currentIndexChanged.connect(functools.partial(type(self)._on_editor_changed, me, name))
            value_widget = editor
        else:
            editor = QLineEdit()
            editor.textChanged.connect(functools.partial(type(self)._on_editor_changed, me, name))
            value_widget = editor
            if spec.path_kind:
                browse = QPushButton("Browse…")
                browse.clicked.connect(functools.partial(type(self)._on_browse_clicked, me, name, spec.path_kind))
                value_widget = QWidget()
                line = QHBoxLayout(value_widget)
                line.setContentsMargins(0, 0, 0, 0)
                line.addWidget(editor, 1)
                line.addWidget(browse)
        editor.setObjectName(f"field_{name}")
        tip = f"<b>{html.escape(spec.label)}</b> (<code>{name}</code>)<br>{html.escape(spec.help)}"
        allowed = html.escape(spec.describe_allowed(kind))
        default = html.escape(format_value(field_default(name)))
        tip += f"<br><i>Allowed: {allowed}; default {default}.</i>"
        editor.setToolTip(tip)
        error = QLabel()
        error.setWordWrap(True)
        error.setStyleSheet("color: #c62828; font-size: 9pt;")
        error.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        error.hide()
        holder = QWidget()
        holder_layout = QVBoxLayout(holder)
        holder_layout.setContentsMargins(0, 0, 0, 0)
        holder_layout.setSpacing(1)
        holder_layout.addWidget(value_widget)
        holder_layout.addWidget(error)
        label = QLabel(spec.label)
        label.setToolTip(tip)
        label.setBuddy(editor)
        form.addRow(label, holder)
        if spec.advanced:
            self._advanced_rows.append((form, holder))
        self._rows[name] = _FieldRow(name, editor, value_widget, error)

    # -------------------------------------------------------------- public
    def editor(self, name: str) -> QWidget:
        return self._rows[name].editor

    def set_device_choices(self, choices: list[DeviceChoice]) -> None:
        combo = self._rows[DEVICE_FIELD].editor
        assert isinstance(combo, QComboBox)
        current = combo.currentData() or "auto"
        self._loading = True
        combo.clear()
        for choice in choices:
            combo.addItem(choice.text, choice.id)
            combo.setItemData(combo.count() - 1, choice.text, Qt.ItemDataRole.ToolTipRole)
        self._loading = False
        self._rows[DEVICE_FIELD].set_value(current)
        self._validate_all()

    def set_config(self, config: TrainConfig) -> None:
        """Show ``config`` in the form (the data folder included)."""
        self._loading = True
        try:
            for name, row in self._rows.items():
                row.set_value(getattr(config, name))
            self._images_root = config.images_root
        finally:
            self._loading = False
        self._validate_all()
        self.changed.emit()

    def set_images_root(self, root: str) -> None:
        self._images_root = root
        self._validate_all()
        self.changed.emit()

    def images_root(self) -> str:
        return self._images_root

    def errors(self) -> dict[str, str]:
        """Field name (or "" for cross-field rules) → message, for invalid values."""
        return dict(self._errors)

    def is_valid(self) -> bool:
        return not self._errors

    def config(self) -> TrainConfig | None:
        """The config the form shows, or None when a value is invalid."""
        values = self._values()
        if values is None:
            return None
        try:
            return TrainConfig(**values)
        except ConfigError:
            return None

    def reset_to_defaults(self) -> None:
        root = self._images_root
        self.set_config(dataclasses.replace(TrainConfig(), images_root=root))

    def load_from_file(self, path: str) -> bool:
        """Read a config JSON into the form; a bad file gives an error dialog."""
        try:
            config = TrainConfig.load_json(path)
        except ConfigError as exc:
            show_error(self, "Cannot load the config", str(exc))
            return False
        self.set_config(config)
        self.config_loaded.emit(config)
        logger.info("Loaded settings from %s", path)
        return True

    def save_to_file(self, path: str) -> bool:
        """Write the form's config as JSON; refuses while a value is invalid."""
        config = self.config()
        if config is None:
            problems = "\n".join(self._errors.values())
            show_error(self, "Cannot save the config",
                       "Some settings are invalid; fix the values marked in red first.", problems)
            return False
        try:
            config.save_json(path)
        except OSError as exc:
            show_error(self, "Cannot save the config", f"Could not write {path}: {exc.strerror or exc}.")
            return False
        logger.info("Saved settings to %s", path)
        return True

    def set_locked(self, locked: bool) -> None:
        """Lock every editor while a run trains."""
        for button in (self.reset_button, self.load_button):
            button.setEnabled(not locked)
        for box in self.group_boxes.values():
            box.setEnabled(not locked)

    # ------------------------------------------------------------ internal
    def _values(self) -> dict[str, Any] | None:
        values: dict[str, Any] = {DATA_ROOT_FIELD: self._images_root}
        for name, row in self._rows.items():
            try:
                values[name] = row.text_value()
            except ConfigError:
                return None
        return values

    def _validate_all(self) -> None:
        for name in self._rows:
            self._validate_field(name)
        self._validate_cross_fields()
        self._update_validity()

    def _validate_field(self, name: str) -> None:
        row = self._rows[name]
        message = ""
        try:
            value = row.text_value()
            validate_field(name, value)
        except ConfigError as exc:
            message = str(exc)
        if name == DEVICE_FIELD and not message and isinstance(row.editor, QComboBox):
            if "not available" in row.editor.currentText():
                row.error.setText("This device is not available on this machine; the run will fail. Choose another.")
                row.error.setStyleSheet("color: #b26a00; font-size: 9pt;")
                row.error.show()
                self._errors.pop(name, None)
                return
        row.error.setStyleSheet("color: #c62828; font-size: 9pt;")
        if message:
            self._errors[name] = message
            row.error.setText(message)
            row.error.show()
            row.editor.setStyleSheet(ERROR_STYLE)
        else:
            self._errors.pop(name, None)
            row.error.hide()
            row.editor.setStyleSheet("")

    def _validate_cross_fields(self) -> None:
        self._errors.pop("", None)
        values = self._values()
        if values is None or any(name in self._errors for name in self._rows):
            self.form_error.hide()
            return
        try:
            TrainConfig(**values)
        except ConfigError as exc:
            self._errors[""] = str(exc)
            self.form_error.setText(str(exc))
            self.form_error.show()
        else:
            self.form_error.hide()

    def _update_validity(self) -> None:
        valid = not self._errors
        if valid != self._valid:
            self._valid = valid
            self.validity_changed.emit(valid)

    @Slot()
    def _on_editor_changed(self, name: str, *_args: Any) -> None:
        if self._loading:
            return
        self._validate_field(name)
        self._validate_cross_fields()
        self._update_validity()
        self.changed.emit()

    @Slot()
    def _on_browse_clicked(self, name: str, path_kind: str, *_args: Any) -> None:
        editor = self._rows[name].editor
        assert isinstance(editor, QLineEdit)
        if path_kind == "path_dir":
            chosen = QFileDialog.getExistingDirectory(self, "Choose a folder", editor.text())
        else:
            chosen, _ = QFileDialog.getOpenFileName(self, "Choose a file", editor.text())
        if chosen:
            editor.setText(chosen)

    @Slot()
    def _on_load_button_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load settings", "", "Config JSON (*.json);;All files (*)")
        if path:
            self.load_from_file(path)

    @Slot()
    def _on_save_button_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save settings", "config.json", "Config JSON (*.json)")
        if path:
            self.save_to_file(path)

    @Slot(bool)
    def _on_advanced_check_toggled(self, shown: bool) -> None:
        for form, holder in self._advanced_rows:
            form.setRowVisible(holder, shown)

    @Slot()
    def _on_reset_button_clicked(self) -> None:
        self.reset_to_defaults()
