"""One row of the Settings form: the editor of a config field, read and written as the field's type."""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import SignalInstance
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QWidget

from mlcls_gui.core.config import TrainConfig, field_type, parse_field_text
from mlcls_gui.core.errors import ConfigError, field_ref
from mlcls_gui.gui.settings.arch_picker import ArchPicker
from mlcls_gui.gui.widgets.field_labels import with_form_labels
from mlcls_gui.gui.widgets.fields import OneLineLabel
from mlcls_gui.gui.widgets.wheel_guard import guard_wheel

logger = logging.getLogger(__name__)


class FieldRow:
    """The editor of one field, its inline error label and how to read/write it."""

    def __init__(self, name: str, editor: QWidget, value_widget: QWidget, error: OneLineLabel | None,
                 label: QLabel, text: str) -> None:
        self.name = name
        self.editor = editor  # the widget holding the value
        self.row_widget = value_widget  # what sits in the form row (editor + buttons)
        self.error = error  # the reserved message line (None: the value cannot be invalid)
        self.label = label
        self.label_text = text
        self.kind = field_type(name)

    def show_message(self, text: str, style: str) -> None:
        if self.error is not None:
            self.error.setStyleSheet(style)
            self.error.set_full_text(text)

    def text_value(self) -> Any:
        """The editor's value parsed into the field's type; raises ConfigError."""
        if isinstance(self.editor, QCheckBox):
            return self.editor.isChecked()
        if isinstance(self.editor, ArchPicker):
            return self.editor.value()
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
        elif isinstance(self.editor, ArchPicker):
            self.editor.set_value(str(value))
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


def shown_differs(row: FieldRow, config: TrainConfig) -> bool:
    try:
        return bool(row.text_value() != getattr(config, row.name))
    except ConfigError:
        return True


def inline_message(name: str, message: str) -> str:
    """The message under a field: form labels, without the field's own name in front
    (the row's label already says which setting it is)."""
    return with_form_labels(message.removeprefix(f"{field_ref(name)}: "))


def with_button(editor: QWidget, button: QPushButton) -> QWidget:
    """The editor with a button at its right (Browse…, Find…), as one form cell."""
    cell = QWidget()
    line = QHBoxLayout(cell)
    line.setContentsMargins(0, 0, 0, 0)
    line.addWidget(editor, 1)
    line.addWidget(button)
    return cell


def make_editor(name: str, spec: Any, kind: type, *, choice_box: bool = False,
                picker: bool = False) -> tuple[QWidget, QWidget, QPushButton | None]:
    """The editor for field ``name``, what sits in its form row (the editor and its
    button) and the button: Browse… for a path, Find… beside the learning rate."""
    if picker:
        arch = ArchPicker()
        guard_wheel(arch)
        return arch, arch, None
    if choice_box or (spec.choices and kind is not bool):
        combo = QComboBox()
        if not choice_box:  # the device box is filled with this machine's devices later
            for choice in spec.choices:
                combo.addItem(spec.title_of(choice), choice)
        # Long device names must not widen the whole form.
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(10)
        guard_wheel(combo)
        return combo, combo, None
    if kind is bool:
        check = QCheckBox()
        return check, check, None
    edit = QLineEdit()
    edit.setMinimumWidth(60)
    # The red error border must not change the row's height (the rows below would move).
    edit.setFixedHeight(edit.sizeHint().height())
    if spec.path_kind:
        browse = QPushButton("Browse…")
        return edit, with_button(edit, browse), browse
    if name == "learning_rate":
        find = QPushButton("Find…")
        find.setObjectName("lr_find_button")
        find.setToolTip("Run a short learning-rate range test on the data and suggest a value.")
        return edit, with_button(edit, find), find
    return edit, edit, None


def changed_signal(editor: QWidget) -> SignalInstance:
    """The signal an editor emits when the user changes its value."""
    if isinstance(editor, ArchPicker):
        return editor.value_changed
    if isinstance(editor, QComboBox):
        return editor.currentIndexChanged
    if isinstance(editor, QCheckBox):
        return editor.toggled
    assert isinstance(editor, QLineEdit)
    return editor.textChanged
