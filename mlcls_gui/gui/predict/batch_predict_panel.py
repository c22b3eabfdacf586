"""Predict a whole folder (recursively) with a model file and write a CSV.

The CSV has the same columns as ``mlcls-gui predict --csv``: path, one
probability column per label, the predicted label set joined by '+', and the
reason an image could not be read. Optionally each readable image is copied
into ``<target>/<predicted labels joined by '+'>/`` — the seed's layout, a
quick way to pre-label new data. The work is ``core.ops.batch_predict``, the
CLI's predict with the same refusals; it runs off the GUI thread, in chunks,
with a progress bar and Cancel. Afterwards the panel lists the counts per
predicted label set beside every image with its labels and confidences
(sortable by any column; a double-click predicts the image in Try the model).
"""

from __future__ import annotations

import html
import logging
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from mlcls_gui.core.ops import batch_predict
from mlcls_gui.core.ops.batch_predict import NO_LABEL, BatchResult
from mlcls_gui.core.progress import OnProgress, ShouldStop
from mlcls_gui.gui.widgets.dialogs import confirm_replace, show_error
from mlcls_gui.gui.widgets.fields import MODEL_FILTER, PathField
from mlcls_gui.gui.widgets.task_runner import TaskRunner

logger = logging.getLogger(__name__)

CSV_FILTER = "CSV (*.csv);;All files (*)"
MAX_LISTED = 10_000  # images listed in the table; the CSV has them all
PATH_ROLE = Qt.ItemDataRole.UserRole


def run_batch(model_path: str, folder: str, csv_path: str, copy_target: str,
              on_progress: OnProgress, should_stop: ShouldStop) -> BatchResult:
    """Runs on a background thread: ``core.ops.batch_predict`` on one folder, as the CLI's predict."""
    from mlcls_gui.core.errors import DatasetError

    if not Path(folder).expanduser().is_dir():
        raise DatasetError(f"{folder} is not a folder. Choose the folder that holds the images.")
    return batch_predict.predict_batch(model_path, [folder], csv_path=csv_path, copy_to=copy_target,
                                       on_progress=on_progress, should_stop=should_stop)


class BatchPredictPanel(QWidget):
    """Folder in, CSV (and optionally label folders) out."""

    finished = Signal(str)  # "done", "cancelled" or "failed"
    open_image_requested = Signal(str)  # an image of the list, double-clicked

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._runner = TaskRunner("batch-predict", parent=self, poll_progress=True)
        self._runner.done.connect(self._on_task_done)
        self._runner.failed.connect(self._on_task_failed)
        self._runner.finished.connect(self._on_task_finished)
        self._runner.progressed.connect(self._on_task_progressed)
        self._result: BatchResult | None = None
        self._outcome = "failed"
        self._last_error = ""

        self.model_field = PathField("open", "Choose a model file", MODEL_FILTER,
                                     "Model file (final_model.pt or a checkpoint)")
        self.folder_field = PathField("folder", "Choose a folder of images", "",
                                      "Folder of images (sub-folders included)")
        self.folder_field.path_changed.connect(self._on_folder_field_path_changed)
        self.csv_field = PathField("save", "Write the predictions to", CSV_FILTER, "CSV file to write")
        self.copy_check = QCheckBox("Copy images into label folders under")
        self.copy_check.setToolTip(
            "Copy each image into a folder named after its predicted labels joined by '+' "
            "(cat+dog/), or _no_label/ — the layout training reads, to check and correct by hand.")
        self.copy_check.toggled.connect(self._on_copy_check_toggled)
        self.copy_field = PathField("folder", "Copy the images into label folders under", "",
                                    "Folder for the label folders (outside the image folder)")
        self.copy_field.setEnabled(False)

        self.run_button = QPushButton("Run")
        self.run_button.setDefault(True)
        self.run_button.clicked.connect(self._on_run_button_clicked)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self._on_cancel_button_clicked)
        self.progress_bar = QProgressBar()
        self.progress_bar.setMinimumWidth(280)
        self.progress_bar.hide()
        self.summary_label = QLabel(
            "Labels are predicted at the thresholds stored in the model file.")
        self.summary_label.setWordWrap(True)
        self.summary_label.setTextFormat(Qt.TextFormat.RichText)  # escaped text: show ' not &#x27;
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.sets_table = QTableWidget(0, 2)
        self.sets_table.setHorizontalHeaderLabels(["Predicted labels", "Images"])
        self.sets_table.verticalHeader().hide()
        self.sets_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.sets_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.sets_table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.sets_table.setToolTip("How many images got each predicted label set "
                                   f"({NO_LABEL}: no label reached its threshold).")
        self.images_table = QTableWidget(0, 2)
        self.images_table.setObjectName("batchImages")
        self.images_table.verticalHeader().hide()
        self.images_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.images_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.images_table.setToolTip("Every image with its predicted labels and each label's confidence; "
                                     "click a header to sort, double-click an image to predict it in Try the model.")
        self.images_table.cellDoubleClicked.connect(self._on_images_table_cell_double_clicked)
        self.images_note = QLabel()
        self.images_note.setStyleSheet("color: #555;")
        self.results = QSplitter(Qt.Orientation.Horizontal)
        self.results.addWidget(self.sets_table)
        images = QWidget()
        images_layout = QVBoxLayout(images)
        images_layout.setContentsMargins(0, 0, 0, 0)
        images_layout.addWidget(self.images_table, 1)
        images_layout.addWidget(self.images_note)
        self.results.addWidget(images)
        self.results.setStretchFactor(0, 1)
        self.results.setStretchFactor(1, 3)
        self.results.setChildrenCollapsible(False)
        self.results.hide()

        grid = QGridLayout()
        grid.addWidget(QLabel("Model"), 0, 0)
        grid.addWidget(self.model_field, 0, 1)
        grid.addWidget(QLabel("Images"), 1, 0)
        grid.addWidget(self.folder_field, 1, 1)
        grid.addWidget(QLabel("CSV"), 2, 0)
        grid.addWidget(self.csv_field, 2, 1)
        grid.addWidget(self.copy_check, 3, 0, 1, 2)
        grid.addWidget(self.copy_field, 4, 1)
        grid.setColumnStretch(1, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.progress_bar)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(grid)
        layout.addLayout(buttons)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.results, 1)
        self._stretch = QWidget()
        layout.addWidget(self._stretch, 1)
        self._update_buttons()

    # -------------------------------------------------------------- public
    def set_model_path(self, path: str) -> None:
        self.model_field.set_path(str(path))

    def set_folder(self, path: str) -> None:
        self.folder_field.set_path(str(path))

    def set_csv_path(self, path: str) -> None:
        self.csv_field.set_path(str(path))

    def set_copy_target(self, path: str | None) -> None:
        """Copy into label folders under ``path``; None or "" turns copying off."""
        self.copy_check.setChecked(bool(path))
        self.copy_field.set_path(str(path or ""))

    def is_busy(self) -> bool:
        return self._runner.is_busy()

    def result(self) -> BatchResult | None:
        return self._result

    def last_error(self) -> str:
        return self._last_error

    def start(self) -> bool:
        """Run in the background; False (and a message) when it cannot start."""
        if self._runner.is_busy():
            return False
        model, folder, csv_path = self.model_field.path(), self.folder_field.path(), self.csv_field.path()
        copy_target = self.copy_field.path() if self.copy_check.isChecked() else ""
        missing = [name for name, value in (("a model file", model), ("a folder of images", folder),
                                            ("a CSV file to write", csv_path)) if not value]
        if self.copy_check.isChecked() and not copy_target:
            missing.append("a folder to copy into")
        if missing:
            listed = missing[0] if len(missing) == 1 else ", ".join(missing[:-1]) + " and " + missing[-1]
            self._show_problem(f"Choose {listed} first.")
            return False
        if not self.csv_field.replace_agreed() and not self.confirm_replace(csv_path):
            self._show_problem(f"Not started: choose another file than {csv_path} for the predictions.")
            return False
        self._last_error = ""
        self._result = None
        self._outcome = "failed"
        self._show_results(BatchResult())  # nothing yet: the last run's lists go
        self._runner.start(lambda job: run_batch(model, folder, csv_path, copy_target,
                                                 job.progress.set, job.cancel.is_set))
        self.summary_label.setStyleSheet("")
        self.summary_label.setText(f"Predicting the images in {html.escape(folder)} …")
        self.progress_bar.setRange(0, 0)
        self.progress_bar.show()
        self._update_buttons()
        logger.info("Batch prediction of %s with %s → %s", folder, model, csv_path)
        return True

    def confirm_replace(self, path: str) -> bool:
        """Ask before the predictions replace an existing file, saying what it is; tests replace this method."""
        return confirm_replace(self, path, "the new predictions")

    def cancel(self) -> None:
        if self._runner.cancel():
            self.summary_label.setText("Cancelling…")
            self._update_buttons()

    def shutdown(self, msecs: int = 30_000) -> None:
        self._runner.shutdown(msecs)

    # ------------------------------------------------------------- helpers
    def _show_problem(self, text: str) -> None:
        self._last_error = text
        self.summary_label.setStyleSheet("color: #b71c1c;")
        self.summary_label.setText(html.escape(text))

    def _show_results(self, result: BatchResult) -> None:
        counts = result.label_sets
        self.sets_table.setRowCount(len(counts))
        for row, (name, count) in enumerate(counts.items()):
            self.sets_table.setItem(row, 0, QTableWidgetItem(name))
            self.sets_table.setItem(row, 1, _number_item(count))
        self._show_images(result)
        self.results.setVisible(bool(counts) or bool(result.predictions))
        self._stretch.setVisible(self.results.isHidden())

    def _show_images(self, result: BatchResult) -> None:
        """One row per image: its name, predicted labels, then each label's confidence."""
        table = self.images_table
        table.setSortingEnabled(False)  # while filling: sorting would move rows under the loop
        shown = result.predictions[:MAX_LISTED]
        table.clear()
        table.setColumnCount(2 + len(result.labels))
        table.setHorizontalHeaderLabels(["Image", "Predicted labels", *result.labels])
        table.setRowCount(len(shown))
        for row, prediction in enumerate(shown):
            name = QTableWidgetItem(Path(prediction.path).name)
            name.setToolTip(prediction.path)
            name.setData(PATH_ROLE, prediction.path)
            table.setItem(row, 0, name)
            decided = "+".join(prediction.predicted) or "(no label)"
            table.setItem(row, 1, QTableWidgetItem(decided if prediction.ok else f"unreadable: {prediction.error}"))
            for column, label in enumerate(result.labels, start=2):
                value = prediction.probabilities.get(label)
                if value is not None:
                    table.setItem(row, column, _number_item(round(value, 3)))
        table.setSortingEnabled(True)
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        left = len(result.predictions) - len(shown)
        self.images_note.setText(f"The first {len(shown)} of {len(result.predictions)} images; the CSV lists "
                                 "them all." if left > 0 else "")
        self.images_note.setVisible(left > 0)

    @Slot(int, int)
    def _on_images_table_cell_double_clicked(self, row: int, _column: int) -> None:
        item = self.images_table.item(row, 0)
        if item is not None:
            self.open_image_requested.emit(str(item.data(PATH_ROLE)))

    def _update_buttons(self) -> None:
        running = self._runner.is_busy()
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running and not self._runner.is_cancelled())
        for widget in (self.model_field, self.folder_field, self.csv_field, self.copy_check):
            widget.setEnabled(not running)
        self.copy_field.setEnabled(not running and self.copy_check.isChecked())

    # --------------------------------------------------------------- slots
    @Slot()
    def _on_run_button_clicked(self) -> None:
        self.start()

    @Slot()
    def _on_cancel_button_clicked(self) -> None:
        self.cancel()

    @Slot(bool)
    def _on_copy_check_toggled(self, checked: bool) -> None:
        self._update_buttons()

    @Slot(str)
    def _on_folder_field_path_changed(self, folder: str) -> None:
        """Suggest ``<folder>_predictions.csv`` next to the folder (not inside it)."""
        if folder and (not self.csv_field.path() or self.csv_field.is_suggestion()):
            source = Path(folder).expanduser()
            self.csv_field.suggest_path(str(source.with_name(f"{source.name or 'images'}_predictions.csv")))

    @Slot(int, int, str)
    def _on_task_progressed(self, done: int, total: int, phase: str) -> None:
        if total > 0:
            self.progress_bar.setRange(0, total)
            self.progress_bar.setValue(done)
            self.progress_bar.setFormat(f"{phase} {done} / {total}")
            if not self._runner.is_cancelled():
                # The text follows the bar (not "Looking for images…" while it counts).
                self.summary_label.setText(html.escape(f"{phase} {done} of {total} images…"))
        else:
            self.progress_bar.setRange(0, 0)
            if phase and not self._runner.is_cancelled():
                self.summary_label.setText(html.escape(phase))

    @Slot(object)
    def _on_task_done(self, result: BatchResult) -> None:
        self._result = result
        if result.cancelled and result.copied is None:
            self._outcome = "cancelled"
            self.summary_label.setText(
                f"Cancelled: {result.total} image(s) found, no CSV written.")
            return
        self._outcome = "cancelled" if result.cancelled else "done"
        parts = [f"{result.predicted} image(s) predicted"]
        if result.unreadable:
            parts.append(f"{len(result.unreadable)} unreadable (listed in the CSV's error column)")
        text = ", ".join(parts) + f". CSV: <b>{html.escape(result.csv_path)}</b>"
        if result.copied is not None:
            text += (f"<br>Copied {result.copied} image(s) into label folders under "
                     f"<b>{html.escape(result.copy_target)}</b>")
            if result.cancelled:
                text += " — cancelled before all were copied"
        self.summary_label.setText(text + ".")
        self._show_results(result)

    @Slot(str, str)
    def _on_task_failed(self, summary: str, details: str) -> None:
        self._outcome = "failed"
        self._show_problem(f"Batch prediction failed: {summary}")
        self._last_error = summary
        show_error(self, "Batch prediction failed", summary, details)

    @Slot()
    def _on_task_finished(self) -> None:
        self.progress_bar.hide()
        self._update_buttons()
        self.finished.emit(self._outcome)


def _number_item(value: float) -> QTableWidgetItem:
    """A right-aligned cell that holds a number, so that it sorts as one (not as text)."""
    item = QTableWidgetItem()
    item.setData(Qt.ItemDataRole.DisplayRole, value)
    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item
