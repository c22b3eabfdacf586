"""The hyperparameter form, generated from TrainConfig's field metadata.

One row per field, in the groups of ``GROUPS``; tooltips are the fields' help
texts; every edit is checked with the core's ``validate_field`` and a bad value
is marked red with the core's message under it, on a line reserved for it so
that nothing below moves. Fields that differ from the defaults (or from the
loaded settings) are marked. Combo boxes take the mouse wheel only when
focused. The data folder is not edited here (the data panel sets it); the
device field is a choice of this machine's devices; the architecture field is
a searchable picker (``arch_picker``) with a line describing the choice. A
relative output folder is shown and used resolved against the data folder's parent.
A preset box at the top sets a preset's fields; those it changed from the seed
script's values are marked ◆ until edited.
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
    QMenu,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from mlcls_gui.core.config import GROUPS, TrainConfig, field_default, field_spec, field_type, validate_field
from mlcls_gui.core.device_choices import DEFAULT_DEVICE_CHOICES, DeviceChoice
from mlcls_gui.core.errors import ConfigError, fields_in
from mlcls_gui.core.presets import (
    DEFAULT_PRESET,
    PRESET_TITLES,
    app_defaults,
    changed_from_seed,
    matching_preset,
    preset_values,
)
from mlcls_gui.core.runs.outputs import is_relative, output_base, resolve_output_folder
from mlcls_gui.gui.settings import settings_files
from mlcls_gui.gui.settings.arch_picker import ArchPicker
from mlcls_gui.gui.settings.form_marks import (
    fix_label_column,
    grey_out_unused,
    mark_differs,
    mark_set_by_preset,
    marks_line,
)
from mlcls_gui.gui.settings.form_reset import ask_before_reset
from mlcls_gui.gui.settings.form_reset import reset_choices as reset_choices_for
from mlcls_gui.gui.settings.form_rows import (
    FieldRow,
    changed_signal,
    format_value,
    inline_message,
    make_editor,
    shown_differs,
)
from mlcls_gui.gui.settings.preset_box import PresetBox
from mlcls_gui.gui.widgets.field_labels import with_form_labels
from mlcls_gui.gui.widgets.fields import OneLineLabel

logger = logging.getLogger(__name__)

ERROR_STYLE = "QLineEdit, QComboBox { border: 2px solid #d32f2f; border-radius: 3px; background: #fff3f3; }"
# Fields the form does not show as text rows.
DATA_ROOT_FIELD = "images_root"
DEVICE_FIELD = "device"
ARCH_FIELD = "arch"  # a searchable picker: any registry name, not only the suggested ones
# Item data of the device box: how many training processes an entry stands for.
PROCESSES_ROLE = Qt.ItemDataRole.UserRole + 1
OUTPUT_FIELD = "save_model_folder"
IMAGE_SIZE_FIELD = "image_size"
ERROR_LINE_STYLE = "color: #c62828; font-size: 9pt;"
WARNING_LINE_STYLE = "color: #b26a00; font-size: 9pt;"
NOTE_LINE_STYLE = "color: #555; font-size: 9pt;"
LABEL_COLUMN_MAX = 190  # px; longer labels wrap, so the form fits the window's left column


class ConfigForm(QWidget):
    """Edits a TrainConfig; ``config()`` returns it, or None while a value is invalid."""

    changed = Signal()  # any edit (valid or not)
    validity_changed = Signal(bool)
    config_loaded = Signal(object)  # TrainConfig read from a JSON file
    reset_done = Signal(str)  # the user reset every setting: to what ("Seed script", "the demo settings" …)
    lr_find_requested = Signal()  # the "Find…" button beside the learning rate

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rows: dict[str, FieldRow] = {}
        self._errors: dict[str, str] = {}
        self._cross_marked: list[str] = []  # rows marked red by the cross-field message
        self._tips: dict[str, str] = {}  # each editor's own tooltip
        self._images_root = ""
        self._valid = True
        self._loading = False
        self._processes_from_device = False  # Training processes set by "All N GPUs"
        self._more_rows: list[tuple[QFormLayout, QWidget]] = []  # (form, a widget) of rows past the essentials
        self._baseline = app_defaults()
        self._baseline_source = "the defaults"
        self._started_from: tuple[str, TrainConfig] | None = None  # the demo's or a loaded file's settings
        self._preset: str | None = DEFAULT_PRESET  # the preset last chosen or matched

        content = QWidget()
        content_layout = QVBoxLayout(content)
        content_layout.setContentsMargins(4, 4, 4, 4)
        self.group_boxes: dict[str, QGroupBox] = {}
        for group in GROUPS:
            box = QGroupBox(group.replace("&", "&&"))  # "&" would be a mnemonic
            form = QFormLayout(box)
            form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
            form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            form.setVerticalSpacing(2)
            self.group_boxes[group] = box
            content_layout.addWidget(box)
        for f in dataclasses.fields(TrainConfig):
            if f.name == DATA_ROOT_FIELD:
                continue
            self._add_row(f.name, f.metadata["spec"])
        content_layout.addStretch(1)
        fix_label_column(self._rows.values(), self.font(), LABEL_COLUMN_MAX)

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(content)
        # As needed, not off: a narrow window scrolls the form instead of
        # hiding the right edge of the fields under the vertical scroll bar.
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.scroll = scroll
        # Never narrower than the fields: the splitter must not squeeze them under the scroll bar.
        scroll.setMinimumWidth(content.minimumSizeHint().width() + scroll.verticalScrollBar().sizeHint().width()
                               + 2 * scroll.frameWidth())

        self.preset_box = PresetBox()
        self.preset_combo = self.preset_box.combo
        self.preset_box.chosen.connect(self.apply_preset)

        self.all_settings_check = QCheckBox("All settings")
        self.all_settings_check.setToolTip(
            "Off: only the few choices every run makes (architecture, ImageNet weights, image size, "
            "epochs or a time budget, output folder); the preset sets the rest. On: every setting, grouped.")
        self.all_settings_check.toggled.connect(self._on_all_settings_check_toggled)
        self.reset_button = QPushButton("Reset to")
        self.reset_button.setToolTip("Put every setting back to a preset's values, or to the settings this form "
                                     "started from (the demo's, a loaded file's); asks first, the data folder stays.")
        self.reset_menu = QMenu(self.reset_button)
        self.reset_menu.aboutToShow.connect(self._fill_reset_menu)
        self.reset_button.setMenu(self.reset_menu)
        self.load_button = QPushButton("Load…")
        self.load_button.setToolTip("Load settings from a config JSON file.")
        self.save_button = QPushButton("Save…")
        self.save_button.setToolTip("Save these settings as a config JSON file.")
        self.load_button.clicked.connect(self.load_settings)
        self.save_button.clicked.connect(self.save_settings)
        self.changed_label = QLabel()
        self.changed_label.setObjectName("changedLabel")
        self.changed_label.setWordWrap(True)
        self.changed_label.setStyleSheet("color: #0d47a1;")
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
        layout.addWidget(self.preset_box)
        layout.addLayout(buttons)
        layout.addWidget(self.all_settings_check)
        layout.addWidget(self.changed_label)
        layout.addWidget(scroll, 1)
        # Below the scroll area: appearing there shrinks the form from the
        # bottom, so the fields under the pointer stay where they are.
        layout.addWidget(self.form_error)

        self.set_device_choices(list(DEFAULT_DEVICE_CHOICES))
        self.set_config(app_defaults())
        self._on_all_settings_check_toggled(self.all_settings_check.isChecked())

    # ------------------------------------------------------------ building
    def _add_row(self, name: str, spec: Any) -> None:
        kind = field_type(name)
        # A weak proxy in the partials: a child's connection must not keep the
        # form's wrapper alive (PySide would delete the form a second time).
        me = weakref.proxy(self)
        box = self.group_boxes[spec.group]
        form = box.layout()
        assert isinstance(form, QFormLayout)
        editor, value_widget, button = make_editor(name, spec, kind, choice_box=name == DEVICE_FIELD,
                                                   picker=name == ARCH_FIELD)
        changed_signal(editor).connect(functools.partial(type(self)._on_editor_changed, me, name))
        if isinstance(editor, ArchPicker):
            editor.summary_changed.connect(functools.partial(type(self)._on_arch_summary_changed, me))
        if button is not None and spec.path_kind:
            button.clicked.connect(functools.partial(type(self)._on_browse_clicked, me, name, spec.path_kind))
        elif button is not None:
            button.clicked.connect(self.lr_find_requested)
        editor.setObjectName(f"field_{name}")
        tip = f"<b>{html.escape(spec.label)}</b> (<code>{name}</code>)<br>{html.escape(spec.help)}"
        allowed = html.escape(spec.describe_allowed(kind))
        default = html.escape(format_value(field_default(name)))
        tip += f"<br><i>Allowed: {allowed}; default {default}.</i>"
        editor.setToolTip(tip)
        self._tips[name] = tip
        label = QLabel(spec.label)
        label.setToolTip(tip)
        label.setBuddy(editor)
        form.addRow(label, value_widget)
        # Only values that can be wrong get a message line. It is always there
        # (one line, empty when fine), so a message never moves the rows below,
        # and it spans label and field, so the message has room to be read.
        error = (None if isinstance(editor, QCheckBox) or (spec.choices and name not in (DEVICE_FIELD, ARCH_FIELD))
                 else OneLineLabel())
        if error is not None:
            error.setObjectName(f"message_{name}")
            error.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            form.addRow(error)
        if not spec.essential:
            self._more_rows.append((form, value_widget))
            if error is not None:
                self._more_rows.append((form, error))
        self._rows[name] = FieldRow(name, editor, value_widget, error, label, spec.label)

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
            combo.setItemData(combo.count() - 1, choice.processes, PROCESSES_ROLE)
        self._loading = False
        self._rows[DEVICE_FIELD].set_value(current)
        self._validate_all()

    def set_config(self, config: TrainConfig, *, baseline_source: str = "") -> None:
        """Show ``config`` in the form (the data folder included).

        With ``baseline_source`` (e.g. "settings.json") the marks for changed
        fields compare against ``config`` from now on; otherwise against the
        current baseline (the defaults unless settings were loaded)."""
        if baseline_source:
            self._baseline, self._baseline_source = config, baseline_source
            self._started_from = (baseline_source, config)
        self._loading = True
        try:
            for name, row in self._rows.items():
                row.set_value(getattr(config, name))
            self._images_root = config.images_root
        finally:
            self._loading = False
        self._show_preset(matching_preset(config))
        self._validate_all()
        self._reveal_errors()
        self.changed.emit()

    def preset(self) -> str | None:
        """The preset last chosen in the box (or matched by loaded values), or None."""
        return self._preset

    def apply_preset(self, name: str) -> None:
        """Set preset ``name``'s fields in the form; the other fields stay."""
        self._loading = True
        try:
            for field_name, value in preset_values(name).items():
                self._rows[field_name].set_value(value)
        finally:
            self._loading = False
        self._show_preset(name)
        self._validate_all()
        self.changed.emit()
        logger.info("Applied the preset %s", PRESET_TITLES[name])

    def preset_marked_fields(self) -> list[str]:
        """Fields marked as set by the current preset (changed from the seed's, not edited since)."""
        marked = changed_from_seed(self._preset) if self._preset else {}
        return [name for name, value in marked.items() if self._shows(name, value)]

    def _shows(self, name: str, value: Any) -> bool:
        try:
            return bool(self._rows[name].text_value() == value)
        except ConfigError:
            return False

    def _show_preset(self, name: str | None) -> None:
        self._preset = name
        self.preset_box.show_preset(name)

    def set_field_value(self, name: str, value: Any) -> None:
        """Put ``value`` into field ``name``'s editor, as if the user had typed it."""
        self._rows[name].set_value(value)

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
        """The config the form shows, or None when a value is invalid.

        A relative output folder comes back resolved (see ``output_folder``)."""
        values = self._values()
        if values is None:
            return None
        values[OUTPUT_FIELD] = resolve_output_folder(values[OUTPUT_FIELD], self._images_root)
        try:
            return TrainConfig(**values)
        except ConfigError:
            return None

    def changed_fields(self) -> list[str]:
        """Fields whose shown value differs from the baseline (defaults or loaded settings)."""
        return [name for name in self._rows if self._differs(name)]

    def baseline_source(self) -> str:
        return self._baseline_source

    def reset_choices(self) -> dict[str, TrainConfig]:
        """What Reset can go back to, by its name in the menu: each preset over the seed
        script's defaults, and the settings the form started from when they are
        another (the demo's, a loaded file's); the data folder always stays."""
        return reset_choices_for(self._images_root, self._started_from)

    def reset_to(self, choice: str) -> bool:
        """Reset every setting to ``choice`` (a key of ``reset_choices``) if the user agrees."""
        target = self.reset_choices()[choice]
        changed = [name for name, row in self._rows.items() if shown_differs(row, target)]
        if not self.confirm_reset(changed, choice):
            return False
        started_from = self._started_from
        self.set_config(target, baseline_source=choice)  # the marks now compare with it
        self._started_from = started_from  # still offered
        self.reset_done.emit(choice)
        logger.info("Settings reset to %s", choice)
        return True

    def confirm_reset(self, changed: list[str], choice: str) -> bool:
        """Ask before the reset; tests replace this method."""
        return ask_before_reset(self, [self._rows[name].label_text for name in changed], choice)

    def load_from_file(self, path: str) -> bool:
        """Read a config JSON into the form; a bad file gives an error dialog."""
        return settings_files.load_into(self, path)

    def save_to_file(self, path: str) -> bool:
        """Write the form's config as JSON; refuses while a value is invalid."""
        return settings_files.save_from(self, path, list(self._errors.values()))

    def load_architectures(self) -> None:
        """Describe the architectures the picker lists (off the GUI thread; after torch is loaded)."""
        self.arch_picker().start_loading()

    def arch_picker(self) -> ArchPicker:
        picker = self._rows[ARCH_FIELD].editor
        assert isinstance(picker, ArchPicker)
        return picker

    def shutdown(self) -> None:
        """Wait for the picker's background work (closing the window)."""
        self.arch_picker().catalog.shutdown()

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

    def _shown_value(self, name: str) -> Any:
        """Field ``name``'s value as shown, or None while it is invalid."""
        try:
            return self._rows[name].text_value()
        except ConfigError:
            return None

    def _differs(self, name: str) -> bool:
        try:
            value = self._rows[name].text_value()
        except ConfigError:
            return True
        base = getattr(self._baseline, name)
        if name == OUTPUT_FIELD:
            return (resolve_output_folder(str(value), self._images_root)
                    != resolve_output_folder(str(base), self._images_root))
        return bool(value != base)

    def _validate_all(self) -> None:
        for name in self._rows:
            self._validate_field(name)
        self._validate_cross_fields()
        self._update_validity()
        self._update_applicability()
        self._update_changed_marks()

    def _reveal_errors(self) -> None:
        """A setting marked red must be in sight: past the essentials, it shows all settings."""
        if any(name in self._errors and not field_spec(name).essential for name in self._rows):
            self.all_settings_check.setChecked(True)

    def _update_applicability(self) -> None:
        values = {DATA_ROOT_FIELD: self._images_root, **{name: self._shown_value(name) for name in self._rows}}
        grey_out_unused(self._rows.values(), values, self._tips)

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
                row.show_message("Not available on this machine; the run would fail. Choose another.",
                                 WARNING_LINE_STYLE)
                self._errors.pop(name, None)
                return
        if message:
            self._errors[name] = message
            row.show_message(inline_message(name, message), ERROR_LINE_STYLE)
            row.editor.setStyleSheet(ERROR_STYLE)
            return
        self._errors.pop(name, None)
        row.editor.setStyleSheet("")
        note = ""
        if name == OUTPUT_FIELD and is_relative(str(value)):
            note = f"→ {resolve_output_folder(str(value), self._images_root)}"
        elif isinstance(row.editor, ArchPicker):
            note = row.editor.summary(self._shown_value(IMAGE_SIZE_FIELD))
        row.show_message(note, NOTE_LINE_STYLE)

    def _validate_cross_fields(self) -> None:
        self._errors.pop("", None)
        for name in self._cross_marked:  # the rows the last cross-field message named
            if name not in self._errors:
                self._rows[name].editor.setStyleSheet("")
        self._cross_marked = []
        values = self._values()
        if values is None or any(name in self._errors for name in self._rows):
            self.form_error.hide()
            return
        try:
            TrainConfig(**values)
        except ConfigError as exc:
            self._errors[""] = str(exc)
            self.form_error.setText(with_form_labels(str(exc)))
            self.form_error.show()
            self._cross_marked = [name for name in fields_in(str(exc)) if name in self._rows]
            for name in self._cross_marked:
                self._rows[name].editor.setStyleSheet(ERROR_STYLE)
        else:
            self.form_error.hide()

    def _update_validity(self) -> None:
        valid = not self._errors
        if valid != self._valid:
            self._valid = valid
            self.validity_changed.emit(valid)

    def _update_changed_marks(self) -> None:
        changed: list[str] = []  # marked ● (a field set by the preset is marked ◆ instead)
        by_preset = set(self.preset_marked_fields())
        title = PRESET_TITLES.get(self._preset or "", "")
        for name, row in self._rows.items():
            if name in by_preset:
                mark_set_by_preset(row, title)
                continue
            differs = self._differs(name)
            if differs:
                changed.append(name)
            mark_differs(row, differs, getattr(self._baseline, name), self._baseline_source)
        hidden = () if self.all_settings_check.isChecked() else [
            name for name in self._rows if not field_spec(name).essential]
        self.changed_label.setText(marks_line(changed, by_preset, title, self._baseline_source, hidden))

    @Slot()
    def _on_editor_changed(self, name: str, *_args: Any) -> None:
        if self._loading:
            return
        if name == DEVICE_FIELD:
            self._follow_device_processes()
        values = self._values()
        if values is not None and self._preset and any(
                values[k] != v for k, v in preset_values(self._preset).items()):
            # Edited away from the preset: the box says so; the untouched fields keep their ◆.
            self.preset_box.show_preset(None)
        self._validate_field(name)
        if name == IMAGE_SIZE_FIELD:
            self._validate_field(ARCH_FIELD)  # its note names the size the run trains at
        self._validate_cross_fields()
        self._update_validity()
        self._update_applicability()
        self._update_changed_marks()
        self._reveal_errors()
        self.changed.emit()

    @Slot()
    def _on_arch_summary_changed(self) -> None:
        self._validate_field(ARCH_FIELD)  # the note under the field now has the figures

    def _follow_device_processes(self) -> None:
        """"All N GPUs" sets Training processes to N; another device sets it back to 1."""
        combo = self._rows[DEVICE_FIELD].editor
        assert isinstance(combo, QComboBox)
        wanted = int(combo.currentData(PROCESSES_ROLE) or 1)
        if wanted > 1 or self._processes_from_device:
            self._processes_from_device = wanted > 1
            self._rows["processes"].set_value(wanted)

    @Slot()
    def _on_browse_clicked(self, name: str, path_kind: str, *_args: Any) -> None:
        editor = self._rows[name].editor
        assert isinstance(editor, QLineEdit)
        start = editor.text()
        if name == OUTPUT_FIELD:
            start = resolve_output_folder(start, self._images_root) or str(output_base(self._images_root))
        if path_kind == "path_dir":
            chosen = QFileDialog.getExistingDirectory(self, "Choose a folder", start)
        else:
            chosen, _ = QFileDialog.getOpenFileName(self, "Choose a file", start)
        if chosen:
            editor.setText(chosen)

    def load_settings(self) -> None:
        """Ask for a config JSON file and load it (the Load… button and the File menu)."""
        settings_files.ask_and_load(self)

    def save_settings(self) -> None:
        """Ask for a file name and save the settings as config JSON (the Save… button and the File menu)."""
        settings_files.ask_and_save(self)

    @Slot(bool)
    def _on_all_settings_check_toggled(self, shown: bool) -> None:
        for form, widget in self._more_rows:
            form.setRowVisible(widget, shown)
        for box in self.group_boxes.values():  # a group without essentials waits for "All settings"
            form = box.layout()
            assert isinstance(form, QFormLayout)
            box.setVisible(shown or any(form.isRowVisible(row) for row in range(form.rowCount())))
        self._update_changed_marks()  # its "under All settings" counts

    @Slot()
    def _fill_reset_menu(self) -> None:
        self.reset_menu.clear()
        for choice in self.reset_choices():
            action = self.reset_menu.addAction(choice)
            action.triggered.connect(functools.partial(self.reset_to, choice))

