"""Evaluate a model file on a labelled data root: per-label metrics, curves, mistakes.

The inference (``core.ops.evaluate.evaluate_model_file``) runs off the GUI
thread with a progress bar and Cancel. The panel then shows the overall
scores at 0.5 and at the model's per-label thresholds side by side, a
per-label table whose thresholds can be edited by hand (the metrics are
recomputed from the stored probabilities, no new inference), precision–recall
curves with each label's threshold marked, and the selected label's false
positives and false negatives as thumbnails (double-click one to open it in
the Predict panel). Edited thresholds can be saved back into the model file,
and the report exported as JSON.

This panel holds the inputs and runs the background jobs (evaluate, save the
thresholds, export); ``evaluation_results`` shows the report and lets the
thresholds be edited. The status names the model file the shown results come
from; when the model chosen changes to another one (picked here, or passed on
by the window when Predict opens one, e.g. an exported .onnx), a note says the
results are still the earlier model's and that Evaluate evaluates the new one.
"""

from __future__ import annotations

import html
import logging
import os
import threading
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from mlcls_gui.core.evaluation.report import EvaluationReport
from mlcls_gui.core.evaluation.views import write_report_json
from mlcls_gui.gui.evaluate.evaluation_results import EvaluationResultsView
from mlcls_gui.gui.widgets.dialogs import ask_save_file, show_error
from mlcls_gui.gui.widgets.field_labels import with_form_labels
from mlcls_gui.gui.widgets.fields import MODEL_FILTER, PathField
from mlcls_gui.gui.widgets.task_runner import ProgressState, TaskRunner
from mlcls_gui.gui.widgets.wheel_guard import guard_wheel

logger = logging.getLogger(__name__)

SPLIT_CHOICES: tuple[tuple[str, str], ...] = (
    ("all", "All images"),
    ("train", "Training split"),
    ("val", "Validation split"),
    ("test", "Test split"),
)
MESSAGE_STYLE = "color: #8a4b00; background: #fff4e5; border: 1px solid #f3d19c; padding: 4px;"


def run_evaluation(model_path: str, data_root: str, split: str, progress: ProgressState,
                   cancel: threading.Event) -> EvaluationReport | None:
    """Runs on a background thread; None when cancelled."""
    from mlcls_gui.core.ops.evaluate import evaluate_model_file

    progress.set(0, 0, "Loading the model…")
    report = evaluate_model_file(model_path, data_root, split=split, on_progress=progress.set,
                                 should_stop=cancel.is_set)
    return None if cancel.is_set() else report


def save_model_thresholds(model_path: str, thresholds: list[float]) -> str:
    """Runs on a background thread (reads and rewrites the model file)."""
    from mlcls_gui.core.inference.predict import save_thresholds

    save_thresholds(model_path, thresholds)
    return model_path


def model_name(path: str) -> str:
    """The file name under its folder's name: every run's model is final_model.pt."""
    if not path:
        return "the model"
    file = Path(path)
    return f"{file.parent.name}/{file.name}" if file.parent.name else file.name


def same_file(first: str, second: str) -> bool:
    return bool(first) and bool(second) and os.path.normcase(os.path.abspath(first)) == \
        os.path.normcase(os.path.abspath(second))


def _rich_label(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText)  # escaped text: show ' not &#x27;
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


class EvaluatePanel(QWidget):
    """Evaluate a model file on labelled images; tune per-label thresholds by hand."""

    evaluation_finished = Signal(str)  # "done", "cancelled" or "failed"
    open_image_requested = Signal(str)  # an image path (double-clicked thumbnail)
    thresholds_saved = Signal(str)  # the model file now holding the edited thresholds
    json_exported = Signal(str)  # the JSON file written
    examples_shown = Signal()  # the thumbnails of the selected label are all loaded

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._last_error = ""
        self._runner = TaskRunner("evaluate", self, poll_progress=True)
        self._runner.done.connect(self._on_task_done)
        self._runner.failed.connect(self._on_task_failed)
        self._runner.finished.connect(self._on_task_finished)
        self._runner.progressed.connect(self._on_task_progressed)
        self._saver = TaskRunner("save-thresholds", self)
        self._saver.done.connect(self._on_save_task_done)
        self._saver.failed.connect(self._on_save_task_failed)
        self._saver.finished.connect(self._on_save_task_finished)
        self._saving_thresholds: list[float] = []
        self._exporter = TaskRunner("export-json", self)
        self._exporter.done.connect(self._on_export_task_done)
        self._exporter.failed.connect(self._on_export_task_failed)
        self._exporter.finished.connect(self._on_export_task_finished)
        self._outcome = "failed"
        self._evaluated_model = ""  # the model file the shown results come from

        # --- inputs
        self.model_field = PathField("open", "Choose a model file", MODEL_FILTER,
                                     "Model file (final_model.pt or a checkpoint)")
        self.model_field.path_changed.connect(self._on_model_field_path_changed)
        self.data_field = PathField("folder", "Choose a labelled data folder", "",
                                    "Labelled data folder (sub-folders named after labels, joined by '+')")
        self.split_combo = QComboBox()
        for name, text in SPLIT_CHOICES:
            self.split_combo.addItem(text, name)
        self.split_combo.setToolTip(
            "Which images to use. Train / validation / test are the splits as training made them "
            "(the model's own seed and fractions); the test split gives honest scores.")
        guard_wheel(self.split_combo)
        self.evaluate_button = QPushButton("Evaluate")
        self.evaluate_button.setDefault(True)
        self.evaluate_button.clicked.connect(self._on_evaluate_button_clicked)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self._on_cancel_button_clicked)
        self.progress_bar = QProgressBar()
        self.progress_bar.setMaximumWidth(260)
        self.progress_bar.hide()
        self.status_label = _rich_label("Choose a model file and a labelled data folder, then Evaluate.")
        self.message_label = _rich_label()
        self.message_label.setObjectName("evaluateMessages")
        self.message_label.setStyleSheet(MESSAGE_STYLE)
        self.message_label.hide()
        self.model_note = _rich_label()  # the results shown are another model's than the one chosen
        self.model_note.setObjectName("evaluateModelNote")
        self.model_note.setStyleSheet(MESSAGE_STYLE)
        self.model_note.hide()

        # --- results
        self.save_button = QPushButton("Save thresholds into model file…")
        self.save_button.setToolTip("Write the thresholds shown into the evaluated model file; "
                                    "predict, evaluate and the Predict panel then use them.")
        self.save_button.clicked.connect(self._on_save_button_clicked)
        self.export_button = QPushButton("Export JSON…")
        self.export_button.setToolTip("Write the report (all metrics and every image's "
                                      "per-label probabilities) as JSON.")
        self.export_button.clicked.connect(self._on_export_button_clicked)
        self.results = EvaluationResultsView((self.save_button, self.export_button))
        self.results.metrics_changed.connect(self._on_results_metrics_changed)
        self.results.image_activated.connect(self.open_image_requested)
        self.results.examples_shown.connect(self.examples_shown)
        # The results' parts, as the panel's own (tests and scripts read them).
        self.overall_table, self.label_table = self.results.overall_table, self.results.label_table
        self.reset_button, self.thresholds_note = self.results.reset_button, self.results.thresholds_note
        self.pr_plot, self.gallery = self.results.pr_plot, self.results.gallery
        self.fp_list, self.fn_list = self.gallery.fp_list, self.gallery.fn_list
        self.fp_title, self.fn_title = self.gallery.fp_title, self.gallery.fn_title

        self._lay_out()
        self._update_buttons()

    def _lay_out(self) -> None:
        form = QVBoxLayout()
        form.setSpacing(4)
        model_row = QHBoxLayout()
        model_row.addWidget(QLabel("Model"))
        model_row.addWidget(self.model_field, 1)
        data_row = QHBoxLayout()
        data_row.addWidget(QLabel("Data"))
        data_row.addWidget(self.data_field, 1)
        data_row.addWidget(self.split_combo)
        for row in (model_row, data_row):
            row.itemAt(0).widget().setMinimumWidth(40)
        run_row = QHBoxLayout()
        run_row.addWidget(self.evaluate_button)
        run_row.addWidget(self.cancel_button)
        run_row.addWidget(self.progress_bar)
        run_row.addWidget(self.status_label, 1)
        form.addLayout(model_row)
        form.addLayout(data_row)
        form.addLayout(run_row)
        form.addWidget(self.message_label)
        form.addWidget(self.model_note)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(form)
        layout.addWidget(self.results, 1)

    # -------------------------------------------------------------- public
    def set_model_path(self, path: str) -> None:
        self.model_field.set_path(str(path))

    def set_data_root(self, path: str) -> None:
        self.data_field.set_path(str(path))

    def set_split(self, split: str) -> None:
        index = self.split_combo.findData(split)
        if index < 0:
            raise ValueError(f"unknown split {split!r}; expected one of all, train, val, test")
        self.split_combo.setCurrentIndex(index)

    def split(self) -> str:
        return str(self.split_combo.currentData())

    def evaluated_model(self) -> str:
        """The model file the shown results come from ("" when none are shown)."""
        return self._evaluated_model

    def results_are_stale(self) -> bool:
        """True when results are shown and the model chosen now is another file than theirs."""
        chosen = self.model_field.path()
        return bool(self._evaluated_model) and bool(chosen) and not same_file(chosen, self._evaluated_model)

    def is_busy(self) -> bool:
        return self._runner.is_busy()

    def last_error(self) -> str:
        """The last error shown to the user ("" after a successful evaluation)."""
        return self._last_error

    def start_evaluation(self) -> bool:
        """Evaluate the chosen model on the chosen data (in the background).

        Returns False (and says why in the panel) when it cannot start."""
        if self._runner.is_busy():
            return False
        model, root = self.model_field.path(), self.data_field.path()
        if not model:
            self._show_problem("Choose a model file first (final_model.pt from a training run).")
            return False
        if not root:
            self._show_problem("Choose a labelled data folder first.")
            return False
        self._last_error = ""
        self._outcome = "failed"
        self._set_messages([])
        split = self.split()
        self._runner.start(lambda job: run_evaluation(model, root, split, job.progress, job.cancel))
        self.status_label.setText(f"Evaluating {html.escape(Path(model).name)} on {html.escape(root)} …")
        self.progress_bar.setRange(0, 0)
        self.progress_bar.show()
        self._update_buttons()
        logger.info("Evaluating %s on %s (split %s)", model, root, split)
        return True

    def cancel(self) -> None:
        """Ask a running evaluation to stop after the current batch."""
        if self._runner.cancel():
            self.status_label.setText("Cancelling…")

    def report(self) -> EvaluationReport | None:
        """The shown report, with the thresholds (and metrics) as currently edited."""
        edits = self.results.edits()
        return edits.current_report() if edits is not None else None

    def set_report(self, report: EvaluationReport) -> None:
        """Show an existing report (e.g. the one written after training)."""
        model = report.source.get("model", "")
        if model and not self.model_field.path():
            self.model_field.set_path(model)
        root = report.source.get("data_root", "")
        if root and not self.data_field.path():
            self.data_field.set_path(root)
        split = report.source.get("split", "all")
        skipped = f", {len(report.skipped)} unreadable skipped" if report.skipped else ""
        self._evaluated_model = str(model)
        self.status_label.setText(
            f"{len(report.images)} images ({html.escape(split)}) evaluated with "
            f"<b>{html.escape(model_name(model))}</b>{skipped}.")
        self.status_label.setToolTip(str(model))
        if model:
            self.save_button.setToolTip(f"Write the thresholds shown into the evaluated model file, {model}; "
                                        "predict, evaluate and the Predict panel then use them.")
        self._set_messages([html.escape(with_form_labels(w)) for w in report.warnings])
        self.results.set_report(report)
        self._update_model_note()
        self._update_buttons()

    def labels(self) -> list[str]:
        return self.results.labels()

    def thresholds(self) -> list[float]:
        edits = self.results.edits()
        return edits.thresholds() if edits is not None else []

    def set_threshold(self, label: str, value: float) -> None:
        """Edit one label's threshold, as the user would in the table."""
        self.results.set_threshold(label, value)

    def selected_label(self) -> str:
        return self.results.selected_label()

    def select_label(self, label: str) -> None:
        self.results.select_label(label)

    def false_positive_paths(self) -> list[str]:
        return self.fp_list.paths()

    def false_negative_paths(self) -> list[str]:
        return self.fn_list.paths()

    def thresholds_edited(self) -> bool:
        """True when the thresholds shown differ from the model file's."""
        edits = self.results.edits()
        return edits is not None and edits.edited()

    def reset_thresholds(self) -> None:
        """Back to the thresholds in the model file (as Reset thresholds does)."""
        self.results.reset_thresholds()

    def save_thresholds(self) -> bool:
        """Write the shown thresholds into the evaluated model file (in the background).

        Asks first (``confirm_save_thresholds``); False when nothing was started."""
        edits = self.results.edits()
        if edits is None or self._saver.is_busy():
            return False
        model = edits.source_report.source.get("model", "")
        if not model:
            self._show_error("Cannot save thresholds", "This report names no model file.")
            return False
        thresholds = edits.thresholds()
        if not self.confirm_save_thresholds(model, thresholds):
            return False
        self._saving_thresholds = thresholds
        self._saver.start(lambda _j: save_model_thresholds(model, thresholds))
        self._update_buttons()
        return True

    def confirm_save_thresholds(self, model_path: str, thresholds: list[float]) -> bool:
        """Ask the user; tests replace this method."""
        listing = ", ".join(f"{label} {t:.3f}" for label, t in zip(self.labels(), thresholds))
        answer = QMessageBox.question(
            self, "Save thresholds",
            f"Write these per-label thresholds into\n{model_path}?\n\n{listing}\n\n"
            "Predictions with this model file will use them from now on.",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        return answer == QMessageBox.StandardButton.Save

    def choose_export_file(self) -> bool:
        """Ask where to write the JSON report, then write it (as Export JSON… does)."""
        report = self.report()
        if report is None:
            return False
        model = report.source.get("model", "")
        start = str(Path(model).with_name("evaluation.json")) if model else str(Path.home() / "evaluation.json")
        path = ask_save_file(self, "Export the evaluation as JSON", start, "JSON (*.json);;All files (*)")
        return bool(path) and self.export_json(path)

    def export_json(self, path: str) -> bool:
        """Write ``report().to_dict()`` to ``path`` (in the background)."""
        report = self.report()
        if report is None or self._exporter.is_busy():
            return False
        self._exporter.start(lambda _j: write_report_json(report, str(path)))
        self._update_buttons()
        return True

    def shutdown(self, msecs: int = 30_000) -> None:
        """Cancel and wait for every thread of this panel (window closing)."""
        self._runner.abandon()  # stop the evaluation before waiting for the results' thumbnails
        self.results.shutdown(msecs)
        for runner in (self._runner, self._saver, self._exporter):
            runner.shutdown(msecs)

    # ------------------------------------------------------------- helpers
    def _update_model_note(self) -> None:
        """Say so when the results shown are not the chosen model's, and how to get its own."""
        if not self.results_are_stale():
            self.model_note.hide()
            self.model_note.clear()
            return
        earlier, chosen = model_name(self._evaluated_model), model_name(self.model_field.path())
        self.model_note.setText(
            f"The results shown are from the earlier model, <b>{html.escape(earlier)}</b>, not from "
            f"<b>{html.escape(chosen)}</b> now chosen. Press <b>Evaluate</b> to evaluate it; until then "
            "Save thresholds writes into the earlier model.")
        self.model_note.setToolTip(f"Shown: {self._evaluated_model}\nChosen: {self.model_field.path()}")
        self.model_note.show()

    def _set_messages(self, messages: list[str]) -> None:
        if messages:
            self.message_label.setText("<br>".join(messages))
            self.message_label.show()
        else:
            self.message_label.hide()

    def _show_problem(self, text: str) -> None:
        self._last_error = text
        self._set_messages([html.escape(text)])

    def _show_error(self, title: str, summary: str, details: str = "") -> None:
        self._last_error = summary
        show_error(self, title, summary, details)

    def _update_buttons(self) -> None:
        running = self._runner.is_busy()
        has_report = self.results.edits() is not None
        self.evaluate_button.setEnabled(not running)
        self.cancel_button.setEnabled(running and not self._runner.is_cancelled())
        for widget in (self.model_field, self.data_field, self.split_combo):
            widget.setEnabled(not running)
        self.save_button.setEnabled(
            has_report and self.thresholds_edited() and not self._saver.is_busy() and not running)
        self.export_button.setEnabled(has_report and not self._exporter.is_busy())

    # --------------------------------------------------------------- slots
    @Slot(str)
    def _on_model_field_path_changed(self, _path: str) -> None:
        self._update_model_note()

    @Slot()
    def _on_evaluate_button_clicked(self) -> None:
        self.start_evaluation()

    @Slot()
    def _on_cancel_button_clicked(self) -> None:
        self.cancel()
        self._update_buttons()

    @Slot(int, int, str)
    def _on_task_progressed(self, done: int, total: int, phase: str) -> None:
        if total > 0:
            self.progress_bar.setRange(0, total)
            self.progress_bar.setValue(done)
            self.progress_bar.setFormat(f"{done} / {total} images")
        elif phase:
            self.progress_bar.setRange(0, 0)

    @Slot(object)
    def _on_task_done(self, report: EvaluationReport | None) -> None:
        if report is None:
            self.status_label.setText("Evaluation cancelled; the previous results (if any) are still shown.")
            self._outcome = "cancelled"
            return
        self._outcome = "done"
        self.set_report(report)
        logger.info("Evaluation done: %d images, macro F1 %.4f at thresholds",
                    len(report.images), report.at_thresholds.macro_f1)

    @Slot(str, str)
    def _on_task_failed(self, summary: str, details: str) -> None:
        self._outcome = "failed"
        self.status_label.setText("Evaluation failed.")
        self._set_messages([f"Evaluation failed: {html.escape(summary)}"])
        self._show_error("Evaluation failed", summary, details)

    @Slot()
    def _on_task_finished(self) -> None:
        self.progress_bar.hide()
        self._update_buttons()
        self.evaluation_finished.emit(self._outcome)

    @Slot()
    def _on_results_metrics_changed(self) -> None:
        self._update_buttons()

    @Slot()
    def _on_save_button_clicked(self) -> None:
        self.save_thresholds()

    @Slot(object)
    def _on_save_task_done(self, model_path: str) -> None:
        edits = self.results.edits()
        # A report of another model, shown since the save began, keeps its own saved thresholds.
        if (edits is not None and edits.source_report.source.get("model", "") == model_path
                and len(edits.labels) == len(self._saving_thresholds)):
            edits.mark_saved(self._saving_thresholds)
        self.status_label.setText(f"Thresholds saved into {html.escape(model_path)}.")
        self.results.refresh()
        self.thresholds_saved.emit(model_path)

    @Slot(str, str)
    def _on_save_task_failed(self, summary: str, details: str) -> None:
        self._show_error("Could not save the thresholds", summary, details)

    @Slot()
    def _on_save_task_finished(self) -> None:
        self._update_buttons()

    @Slot()
    def _on_export_button_clicked(self) -> None:
        self.choose_export_file()

    @Slot(object)
    def _on_export_task_done(self, path: str) -> None:
        self.status_label.setText(f"Report written to {html.escape(path)}.")
        self.json_exported.emit(path)

    @Slot(str, str)
    def _on_export_task_failed(self, summary: str, details: str) -> None:
        self._show_error("Could not write the JSON file", summary, details)

    @Slot()
    def _on_export_task_finished(self) -> None:
        self._update_buttons()
