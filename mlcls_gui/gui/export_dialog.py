"""File → Export model…: a model file to ONNX or TorchScript, checked against PyTorch.

``core.inference.export.export_model`` writes the file, runs it and compares its
probabilities with PyTorch's — seconds to a minute — so it runs on a
TaskRunner while a busy bar moves. The dialog then shows the file and the
parity figure (the largest probability difference found), or the one-line
reason the export failed. ONNX needs the ``export`` extra; when its packages
are missing the dialog says how to install them before anything runs.
"""

from __future__ import annotations

import html
import importlib.util
import logging
import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from mlcls_gui.core.ops.export import default_output, written_files
from mlcls_gui.core.ops.output_guard import kept_file
from mlcls_gui.gui.widgets.dialogs import confirm_replace
from mlcls_gui.gui.widgets.fields import PathField
from mlcls_gui.gui.widgets.task_runner import TaskRunner

logger = logging.getLogger(__name__)

# (format, what the box shows). The formats, their suffixes and the file names are the
# core's (core.ops.export hands them out; a test checks the formats agree).
FORMAT_CHOICES: tuple[tuple[str, str], ...] = (
    ("onnx", "ONNX (.onnx) — onnxruntime, any language"),
    ("torchscript", "TorchScript (.torchscript.pt) — PyTorch / LibTorch"),
)
ONNX_PACKAGES = ("onnx", "onnxruntime", "onnxscript")
INSTALL_COMMAND = 'pip install "mlcls-gui[export]"'
SOURCE_FILTER = "mlcls-gui model (*.pt *.pth);;All files (*)"
ERROR_STYLE = "color: #c62828;"
WARNING_STYLE = "color: #8a4b00;"


def missing_packages(format: str) -> list[str]:
    """Packages the format needs that are not installed (looked up, not imported)."""
    if format != "onnx":
        return []
    return [name for name in ONNX_PACKAGES if importlib.util.find_spec(name) is None]


def exportable(model_file: str) -> str:
    """``model_file`` when it can be exported (a .pt model, not an exported .onnx), else ""."""
    return model_file if model_file and Path(model_file).suffix.lower() in (".pt", ".pth") else ""


def run_export(model_file: str, format: str, out: str) -> Any:
    """Runs on a background thread; returns core.inference.export.ExportResult."""
    from mlcls_gui.core.inference.export import export_model

    return export_model(model_file, format, out)


def result_html(result: Any) -> str:
    """The written file and the parity figure, for the dialog's result line."""
    return (
        f"<b>Exported</b> to <code>{html.escape(str(result.path))}</code><br>"
        f"Parity with PyTorch: largest probability difference <b>{result.max_abs_difference:.2e}</b> "
        f"on {html.escape(result.checked_on)} (allowed 1e-04).<br>"
        f"<span style='color:#555'>{html.escape(result.exporter)}; labels, thresholds and "
        f"normalisation are inside the file and in {html.escape(result.sidecar.name)}.</span>")


class ExportDialog(QDialog):
    """Choose the model, the format and the output file; export and check."""

    export_finished = Signal(bool)  # True: written and checked; False: failed

    def __init__(self, model_file: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export model")
        self._runner = TaskRunner("export", parent=self)
        self._runner.done.connect(self._on_task_done)
        self._runner.failed.connect(self._on_task_failed)
        self._runner.finished.connect(self._on_task_finished)
        self._output_is_default = True
        self._setting_output = False
        self.result: Any = None  # core.inference.export.ExportResult of the last export

        self.model_field = PathField("open", "Choose the model file to export", SOURCE_FILTER,
                                     placeholder="final_model.pt of a run")
        self.format_combo = QComboBox()
        for format, text in FORMAT_CHOICES:
            self.format_combo.addItem(text, format)
        self.output_field = PathField("save", "Export to", "Exported model (*.onnx *.pt);;All files (*)",
                                      placeholder="beside the model file")
        self.requirement_label = QLabel()
        self.requirement_label.setObjectName("requirementLabel")
        self.requirement_label.setWordWrap(True)
        self.requirement_label.setStyleSheet(WARNING_STYLE)
        self.requirement_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        explanation = QLabel(
            "The exported model takes uint8 RGB images resized to the model's image size and returns "
            "each label's probability. Every export is run once and compared with PyTorch on a random "
            "batch; above a difference of 1e-4 nothing is written.")
        explanation.setWordWrap(True)
        explanation.setStyleSheet("color: #555;")
        self.busy_bar = QProgressBar()
        self.busy_bar.setRange(0, 0)  # busy: no percentage to give
        self.busy_bar.setTextVisible(False)
        self.busy_bar.hide()
        self.result_label = QLabel()
        self.result_label.setObjectName("exportResultLabel")
        self.result_label.setWordWrap(True)
        self.result_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.export_button = QPushButton("Export")
        self.export_button.setDefault(True)
        self.export_button.clicked.connect(self.start_export)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.buttons.addButton(self.export_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.buttons.rejected.connect(self.reject)

        form = QFormLayout()
        form.addRow("Model file", self.model_field)
        form.addRow("Format", self.format_combo)
        form.addRow("Save as", self.output_field)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.requirement_label)
        layout.addWidget(explanation)
        layout.addWidget(self.busy_bar)
        layout.addWidget(self.result_label)
        layout.addStretch(1)
        layout.addWidget(self.buttons)
        self.resize(640, 330)

        self.model_field.path_changed.connect(self._on_model_field_path_changed)
        self.output_field.path_changed.connect(self._on_output_field_path_changed)
        self.format_combo.currentIndexChanged.connect(self._on_format_combo_current_index_changed)
        self.model_field.set_path(model_file)
        self._follow_inputs()

    # -------------------------------------------------------------- public
    def format(self) -> str:
        return str(self.format_combo.currentData())

    def set_format(self, format: str) -> None:
        self.format_combo.setCurrentIndex(self.format_combo.findData(format))

    def is_busy(self) -> bool:
        return self._runner.is_busy()

    def start_export(self) -> bool:
        """Export with the dialog's choices off the GUI thread; False (with the reason shown) if it cannot."""
        if self._runner.is_busy():
            return False
        model, out, format = self.model_field.path(), self.output_field.path(), self.format()
        problem = self._input_problem(model, out, format)
        if problem:
            self._show_error(problem)
            return False
        for target in written_files(out):
            agreed = Path(target) == Path(out) and self.output_field.replace_agreed()
            if os.path.lexists(target) and not agreed and not self.confirm_replace(str(target)):
                return False
        self.result = None
        self._set_busy(True)
        self.result_label.setStyleSheet("")
        self.result_label.setText(f"Exporting to {html.escape(Path(out).name)} and checking it against PyTorch…")
        logger.info("Exporting %s as %s to %s", model, format, out)
        self._runner.start(lambda _job: run_export(model, format, out))
        return True

    def confirm_replace(self, path: str) -> bool:
        """Ask before an export replaces an existing file, saying what it is; tests replace this method."""
        return confirm_replace(self, path, "the new export (once it passes the check)")

    def shutdown(self, msecs: int = 120_000) -> None:
        self._runner.shutdown(msecs)

    # ------------------------------------------------------------ closing
    def reject(self) -> None:
        if not self._runner.is_busy():  # no leaving while the export runs: its result would be lost
            super().reject()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        if self._runner.is_busy():
            event.ignore()
            return
        super().closeEvent(event)

    # ------------------------------------------------------------ internal
    def _input_problem(self, model: str, out: str, format: str) -> str:
        if not model:
            return "Choose the model file to export."
        if not Path(model).expanduser().is_file():
            return f"{model} does not exist."
        if Path(model).suffix.lower() == ".onnx":
            return f"{Path(model).name} is already an exported model; choose the .pt model file."
        if not out:
            return "Choose where to save the exported model."
        for target in written_files(out):
            kept = kept_file(target)
            if kept is not None and kept.final:
                return f"{target} {kept.reason}; choose another file name."
        missing = missing_packages(format)
        if missing:
            return f"ONNX export needs {', '.join(missing)}, not installed: {INSTALL_COMMAND}"
        return ""

    def _follow_inputs(self) -> None:
        """Default output name and the packages hint, after the model or format changed."""
        if self._output_is_default:
            self._setting_output = True
            self.output_field.set_path(default_output(self.model_field.path(), self.format()))
            self._setting_output = False
        missing = missing_packages(self.format())
        self.requirement_label.setText(
            f"ONNX export needs the packages {', '.join(missing)}, which are not installed. "
            f"Install them with: <code>{html.escape(INSTALL_COMMAND)}</code>" if missing else "")
        self.requirement_label.setVisible(bool(missing))
        self.export_button.setEnabled(not self._runner.is_busy() and not missing)

    def _set_busy(self, busy: bool) -> None:
        self.busy_bar.setVisible(busy)
        for widget in (self.model_field, self.format_combo, self.output_field):
            widget.setEnabled(not busy)
        self.buttons.button(QDialogButtonBox.StandardButton.Close).setEnabled(not busy)
        self.export_button.setEnabled(not busy and not missing_packages(self.format()))

    def _show_error(self, message: str) -> None:
        self.result_label.setStyleSheet(ERROR_STYLE)
        self.result_label.setText(html.escape(message))

    @Slot(str)
    def _on_model_field_path_changed(self, _path: str) -> None:
        self._follow_inputs()

    @Slot(str)
    def _on_output_field_path_changed(self, path: str) -> None:
        if not self._setting_output:
            # Chosen by the user: kept when the model or format changes.
            self._output_is_default = path in ("", default_output(self.model_field.path(), self.format()))

    @Slot(int)
    def _on_format_combo_current_index_changed(self, _index: int) -> None:
        self._follow_inputs()

    @Slot(object)
    def _on_task_done(self, result: Any) -> None:
        self.result = result
        self.result_label.setStyleSheet("")
        self.result_label.setText(result_html(result))
        self.export_finished.emit(True)

    @Slot(str, str)
    def _on_task_failed(self, summary: str, details: str) -> None:
        logger.info("Export failed: %s", summary)
        logger.debug("%s", details)
        self._show_error(f"Export failed: {summary}")
        self.export_finished.emit(False)

    @Slot()
    def _on_task_finished(self) -> None:
        self._set_busy(False)


def open_export_dialog(window: Any) -> ExportDialog:
    """File → Export model…: the dialog for the run's final model, else the Predict panel's."""
    model = exportable(window.final_model_path()) or exportable(window.predict_panel.model_path())
    previous = getattr(window, "export_dialog", None)
    if previous is not None and previous.is_busy():
        previous.raise_()
        return previous
    dialog = ExportDialog(model, parent=window)
    window.export_dialog = dialog
    if previous is not None:
        previous.deleteLater()
    dialog.open()
    return dialog
