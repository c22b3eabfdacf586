"""Evaluate a model file on a labelled data root: per-label metrics, curves, mistakes.

The inference (``core.evaluation.evaluate_model_file``) runs off the GUI
thread with a progress bar and Cancel. The panel then shows the overall
scores at 0.5 and at the model's per-label thresholds side by side, a
per-label table whose thresholds can be edited by hand (the metrics are
recomputed from the stored probabilities, no new inference), precision–recall
curves with each label's threshold marked, and the selected label's false
positives and false negatives as thumbnails (double-click one to open it in
the Predict panel). Edited thresholds can be saved back into the model file,
and the report exported as JSON.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import html
import json
import logging
import math
import os
import threading
import traceback
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt, QTimer, Signal, Slot
from PySide6.QtGui import (
    QBrush,
    QColor,
    QIcon,
    QImage,
    QPixmap,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from mlcls_gui.core.evaluation import EvaluationReport
from mlcls_gui.core.metrics import MetricReport, compute_metrics, precision_recall_curve

from .background import BackgroundTask
from .dialogs import show_error
from .thumbnails import make_thumbnail
from .wheel_guard import guard_wheel
from .widgets import PathField, ProgressState  # noqa: F401 - PathField, ProgressState: used by the batch panel too

logger = logging.getLogger(__name__)

SPLIT_CHOICES: tuple[tuple[str, str], ...] = (
    ("all", "All images"),
    ("train", "Training split"),
    ("val", "Validation split"),
    ("test", "Test split"),
)
OVERALL_ROWS: tuple[tuple[str, str], ...] = (
    ("Exact-match accuracy", "exact_match"),
    ("mAP (mean average precision)", "mean_average_precision"),
    ("Macro F1", "macro_f1"),
    ("Micro F1", "micro_f1"),
    ("Hamming loss (lower is better)", "hamming_loss"),
)
LABEL_COLUMNS: tuple[str, ...] = (
    "Label", "Threshold", "Support", "Precision", "Recall", "F1", "AP", "P @0.5", "R @0.5", "F1 @0.5",
)
(COL_LABEL, COL_THRESHOLD, COL_SUPPORT, COL_PRECISION, COL_RECALL, COL_F1, COL_AP,
 COL_P_HALF, COL_R_HALF, COL_F1_HALF) = range(len(LABEL_COLUMNS))
MIN_THRESHOLD = 0.001
THUMBNAIL_SIZE = 88
THUMBNAIL_CHUNK = 24
MAX_EXAMPLES = 300
MAX_CACHED_THUMBNAILS = 3000
PROGRESS_POLL_MS = 100
EXAMPLES_DELAY_MS = 120
MODEL_FILTER = "mlcls-gui model (*.pt *.pth);;All files (*)"
PATH_ROLE = Qt.ItemDataRole.UserRole


# ----------------------------------------------------------------- helpers
def label_mistakes(probabilities: np.ndarray, truth: np.ndarray, column: int,
                   threshold: float) -> tuple[list[int], list[int]]:
    """Image indices of one label's false positives (most confident first) and
    false negatives (least confident first) at ``threshold``."""
    scores = np.asarray(probabilities, dtype=np.float64)[:, column]
    positive = np.asarray(truth).astype(bool)[:, column]
    predicted = scores >= threshold
    false_pos = np.nonzero(predicted & ~positive)[0]
    false_neg = np.nonzero(~predicted & positive)[0]
    false_pos = false_pos[np.argsort(-scores[false_pos], kind="mergesort")]
    false_neg = false_neg[np.argsort(scores[false_neg], kind="mergesort")]
    return false_pos.tolist(), false_neg.tolist()


def thumbnail_image(path: str, size: int = THUMBNAIL_SIZE) -> QImage:
    return make_thumbnail(path, size)


def load_thumbnails(paths: list[str]) -> dict[str, QImage]:
    """Runs on a background thread."""
    return {path: thumbnail_image(path) for path in paths}


@contextlib.contextmanager
def model_file_errors(model_path: str) -> Iterator[None]:
    """Name the model file when reading it fails in an unforeseen way.

    ``core.checkpoint.load_model_file`` turns the usual failures into a
    CheckpointError, but ``torch.load`` on some garbage (e.g. a short text
    file) raises other errors (IndexError: pop from empty list); those become
    a CheckpointError that says which file is not a model."""
    from mlcls_gui.core.errors import CheckpointError, MlclsError

    try:
        yield
    except MlclsError:
        raise
    except Exception as exc:
        frames = {frame.name for frame in traceback.extract_tb(exc.__traceback__)}
        if "load_model_file" not in frames:
            raise
        raise CheckpointError(
            f"{model_path} is not a readable mlcls-gui model file ({type(exc).__name__}: "
            f"{str(exc)[:120]}). Choose final_model.pt or a checkpoint written by mlcls-gui."
        ) from exc


def run_evaluation(model_path: str, data_root: str, split: str, progress: ProgressState,
                   cancel: threading.Event) -> EvaluationReport | None:
    """Runs on a background thread; None when cancelled."""
    from mlcls_gui.core.evaluation import evaluate_model_file

    progress.set(0, 0, "Loading the model…")
    with model_file_errors(model_path):
        report = evaluate_model_file(
            model_path, data_root, split=split,
            on_progress=functools.partial(_report_progress, progress),
            should_stop=cancel.is_set,
        )
    return None if cancel.is_set() else report


def _report_progress(progress: ProgressState, done: int, total: int) -> None:
    progress.set(done, total, "Evaluating")


def save_model_thresholds(model_path: str, thresholds: list[float]) -> str:
    """Runs on a background thread (reads and rewrites the model file)."""
    from mlcls_gui.core.predict import save_thresholds

    with model_file_errors(model_path):
        save_thresholds(model_path, thresholds)
    return model_path


def write_report_json(report: EvaluationReport, path: str) -> str:
    """Runs on a background thread; writes atomically next to the target."""
    target = Path(path)
    temporary = target.with_name(f".{target.name}.partial")
    temporary.write_text(json.dumps(report.to_dict(), indent=1) + "\n", encoding="utf-8")
    os.replace(temporary, target)
    return str(target)


def format_metric(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3f}"


class ThresholdSpin(QDoubleSpinBox):
    """A per-label threshold in (0, 1]; the mouse wheel changes it only when focused,
    so scrolling the table never edits a threshold by accident."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setRange(MIN_THRESHOLD, 1.0)
        self.setDecimals(3)
        self.setSingleStep(0.01)
        self.setKeyboardTracking(False)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setFrame(False)
        self.setToolTip("A label is predicted when its probability is at least this value. "
                        "Edit it to see the metrics change (no new inference).")

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 - Qt API
        if self.hasFocus():
            super().wheelEvent(event)
        else:
            event.ignore()


class ExampleList(QListWidget):
    """Thumbnails of images (icon mode); the image path is in ``PATH_ROLE``."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setIconSize(QSize(THUMBNAIL_SIZE, THUMBNAIL_SIZE))
        self.setGridSize(QSize(THUMBNAIL_SIZE + 18, THUMBNAIL_SIZE + 34))
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)
        self.setWordWrap(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setMinimumHeight(THUMBNAIL_SIZE + 44)

    def paths(self) -> list[str]:
        return [self.item(row).data(PATH_ROLE) for row in range(self.count())]


# -------------------------------------------------------------------- panel
class EvaluatePanel(QWidget):
    """Evaluate a model file on labelled images; tune per-label thresholds by hand."""

    evaluation_finished = Signal(str)  # "done", "cancelled" or "failed"
    open_image_requested = Signal(str)  # an image path (double-clicked thumbnail)
    thresholds_saved = Signal(str)  # the model file now holding the edited thresholds
    json_exported = Signal(str)  # the JSON file written
    examples_shown = Signal()  # the thumbnails of the selected label are all loaded

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._report: EvaluationReport | None = None
        self._probabilities = np.zeros((0, 0))
        self._truth = np.zeros((0, 0), dtype=bool)
        self._thresholds: list[float] = []
        self._saved_thresholds: list[float] = []
        self._at_thresholds: MetricReport | None = None
        self._selected = -1
        self._last_error = ""
        self._task: BackgroundTask | None = None
        self._cancel = threading.Event()
        self._progress = ProgressState()
        self._save_task: BackgroundTask | None = None
        self._saving_thresholds: list[float] = []
        self._export_task: BackgroundTask | None = None
        self._thumb_task: BackgroundTask | None = None
        self._thumb_queue: list[str] = []
        self._thumb_cache: dict[str, QIcon] = {}
        self._curves: list[pg.PlotDataItem] = []
        self._points: list[pg.ScatterPlotItem] = []
        self._spins: list[ThresholdSpin] = []
        self._updating = False
        self._outcome = "failed"

        # --- inputs
        self.model_field = PathField("open", "Choose a model file", MODEL_FILTER,
                                     "Model file (final_model.pt or a checkpoint)")
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
        self.status_label = QLabel("Choose a model file and a labelled data folder, then Evaluate.")
        self.status_label.setWordWrap(True)
        self.status_label.setTextFormat(Qt.TextFormat.RichText)  # escaped text: show ' not &#x27;
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message_label = QLabel()
        self.message_label.setObjectName("evaluateMessages")
        self.message_label.setWordWrap(True)
        self.message_label.setTextFormat(Qt.TextFormat.RichText)  # escaped text: show ' not &#x27;
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message_label.setStyleSheet(
            "color: #8a4b00; background: #fff4e5; border: 1px solid #f3d19c; padding: 4px;")
        self.message_label.hide()

        # --- overall table: rows = metrics, columns = at 0.5 / at thresholds
        self.overall_table = QTableWidget(len(OVERALL_ROWS), 2)
        self.overall_table.setHorizontalHeaderLabels(["at 0.5", "at thresholds"])
        self.overall_table.setVerticalHeaderLabels([name for name, _ in OVERALL_ROWS])
        self.overall_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.overall_table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.overall_table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.overall_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.overall_table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.overall_table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.overall_table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        for row in range(len(OVERALL_ROWS)):
            for column in range(2):
                item = QTableWidgetItem("–")
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.overall_table.setItem(row, column, item)
        self.overall_table.resizeRowsToContents()
        self.overall_table.setFixedHeight(
            self.overall_table.horizontalHeader().sizeHint().height()
            + sum(self.overall_table.rowHeight(r) for r in range(len(OVERALL_ROWS))) + 4)
        self.overall_table.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

        # --- per-label table
        self.label_table = QTableWidget(0, len(LABEL_COLUMNS))
        self.label_table.setHorizontalHeaderLabels(list(LABEL_COLUMNS))
        header_tips = {
            COL_THRESHOLD: "Per-label decision threshold (editable, in (0, 1]).",
            COL_SUPPORT: "Images that carry the label.",
            COL_PRECISION: "At the label's threshold: of the images predicted with the label, the share that carry it.",
            COL_RECALL: "At the label's threshold: of the images that carry the label, the share predicted.",
            COL_F1: "At the label's threshold: harmonic mean of precision and recall.",
            COL_AP: "Average precision: area under the precision–recall curve (independent of the threshold).",
            COL_P_HALF: "Precision at threshold 0.5.",
            COL_R_HALF: "Recall at threshold 0.5.",
            COL_F1_HALF: "F1 at threshold 0.5.",
        }
        for column, tip in header_tips.items():
            self.label_table.horizontalHeaderItem(column).setToolTip(tip)
        self.label_table.verticalHeader().hide()
        self.label_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.label_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.label_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.label_table.setAlternatingRowColors(True)
        header = self.label_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COL_LABEL, QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(56)
        self.label_table.setMinimumHeight(110)
        self.label_table.itemSelectionChanged.connect(self._on_label_table_item_selection_changed)

        self.reset_button = QPushButton("Reset thresholds")
        self.reset_button.setToolTip("Back to the thresholds stored in the model file.")
        self.reset_button.clicked.connect(self._on_reset_button_clicked)
        self.save_button = QPushButton("Save thresholds into model file…")
        self.save_button.setToolTip("Write the thresholds shown into the evaluated model file; "
                                    "predict, evaluate and the Predict panel then use them.")
        self.save_button.clicked.connect(self._on_save_button_clicked)
        self.export_button = QPushButton("Export JSON…")
        self.export_button.setToolTip("Write the report (all metrics and every image's "
                                      "per-label probabilities) as JSON.")
        self.export_button.clicked.connect(self._on_export_button_clicked)
        self.thresholds_note = QLabel()
        self.thresholds_note.setStyleSheet("color: #8a4b00;")
        self.thresholds_note.setWordWrap(True)

        # --- precision-recall plot
        self.pr_plot = pg.PlotWidget(background="w")
        self.pr_plot.setMinimumSize(260, 220)
        plot_item = self.pr_plot.getPlotItem()
        plot_item.setTitle("Precision–recall (● threshold, ○ 0.5)", color="#222", size="9pt")
        plot_item.setLabel("bottom", "Recall")
        plot_item.setLabel("left", "Precision")
        plot_item.showGrid(x=True, y=True, alpha=0.25)
        plot_item.setXRange(0.0, 1.0, padding=0.03)
        plot_item.setYRange(0.0, 1.0, padding=0.03)
        plot_item.getViewBox().setLimits(xMin=-0.05, xMax=1.05, yMin=-0.05, yMax=1.05)
        plot_item.setMenuEnabled(False)
        self.pr_plot.hideButtons()
        self.legend = plot_item.addLegend(offset=(-6, -6), labelTextSize="8pt")
        self.half_point = pg.ScatterPlotItem(size=13, pen=pg.mkPen("#222", width=1.6), brush=None, symbol="o")
        self.half_point.setZValue(30)
        plot_item.addItem(self.half_point)

        # --- examples
        self.fp_title = QLabel("False positives")
        self.fp_title.setWordWrap(True)
        self.fn_title = QLabel("False negatives")
        self.fn_title.setWordWrap(True)
        self.fp_list = ExampleList()
        self.fp_list.setObjectName("falsePositives")
        self.fn_list = ExampleList()
        self.fn_list.setObjectName("falseNegatives")
        self.fp_list.itemActivated.connect(self._on_example_list_item_activated)
        self.fn_list.itemActivated.connect(self._on_example_list_item_activated)
        self._placeholder = QIcon(self._placeholder_pixmap())
        self._examples_timer = QTimer(self)
        self._examples_timer.setSingleShot(True)
        self._examples_timer.setInterval(EXAMPLES_DELAY_MS)
        self._examples_timer.timeout.connect(self._on_examples_timer_timeout)
        self._progress_timer = QTimer(self)
        self._progress_timer.setInterval(PROGRESS_POLL_MS)
        self._progress_timer.timeout.connect(self._on_progress_timer_timeout)

        # --- layout
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

        tables = QWidget()
        tables_layout = QVBoxLayout(tables)
        tables_layout.setContentsMargins(0, 0, 0, 0)
        tables_layout.addWidget(self.overall_table)
        tables_layout.addWidget(self.label_table, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.reset_button)
        buttons.addWidget(self.save_button)
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.thresholds_note, 1)
        tables_layout.addLayout(buttons)

        self.top_splitter = QSplitter(Qt.Orientation.Horizontal)
        self.top_splitter.addWidget(tables)
        self.top_splitter.addWidget(self.pr_plot)
        self.top_splitter.setStretchFactor(0, 3)
        self.top_splitter.setStretchFactor(1, 2)

        examples = QWidget()
        examples_layout = QHBoxLayout(examples)
        examples_layout.setContentsMargins(0, 0, 0, 0)
        for title, listing in ((self.fp_title, self.fp_list), (self.fn_title, self.fn_list)):
            column = QVBoxLayout()
            column.addWidget(title)
            column.addWidget(listing, 1)
            examples_layout.addLayout(column, 1)

        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(self.top_splitter)
        self.splitter.addWidget(examples)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setSizes([560, 300])

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(form)
        layout.addWidget(self.splitter, 1)
        self._update_buttons()

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

    def is_busy(self) -> bool:
        return self._task is not None

    def last_error(self) -> str:
        """The last error shown to the user ("" after a successful evaluation)."""
        return self._last_error

    def start_evaluation(self) -> bool:
        """Evaluate the chosen model on the chosen data (in the background).

        Returns False (and says why in the panel) when it cannot start."""
        if self._task is not None:
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
        self._cancel.clear()
        self._progress = ProgressState()
        split = self.split()
        task = BackgroundTask(
            functools.partial(run_evaluation, model, root, split, self._progress, self._cancel),
            name="evaluate", parent=self,
        )
        task.done.connect(self._on_task_done)
        task.failed.connect(self._on_task_failed)
        task.finished.connect(self._on_task_finished)
        self._task = task
        self.status_label.setText(f"Evaluating {html.escape(Path(model).name)} on {html.escape(root)} …")
        self.progress_bar.setRange(0, 0)
        self.progress_bar.show()
        self._progress_timer.start()
        self._update_buttons()
        logger.info("Evaluating %s on %s (split %s)", model, root, split)
        task.start()
        return True

    def cancel(self) -> None:
        """Ask a running evaluation to stop after the current batch."""
        if self._task is not None:
            self._cancel.set()
            self.status_label.setText("Cancelling…")

    def report(self) -> EvaluationReport | None:
        """The shown report, with the thresholds (and metrics) as currently edited."""
        if self._report is None or self._at_thresholds is None:
            return None
        return dataclasses.replace(self._report, thresholds=list(self._thresholds),
                                   at_thresholds=self._at_thresholds)

    def set_report(self, report: EvaluationReport) -> None:
        """Show an existing report (e.g. the one written after training)."""
        previous = self.selected_label()
        self._report = report
        self._probabilities = report.probabilities()
        self._truth = report.targets() >= 0.5
        self._thresholds = [float(t) for t in report.thresholds]
        self._saved_thresholds = list(self._thresholds)
        self._at_thresholds = report.at_thresholds
        self._fill_label_table()
        self._build_curves()
        self._refresh_metrics()
        model = report.source.get("model", "")
        if model and not self.model_field.path():
            self.model_field.set_path(model)
        root = report.source.get("data_root", "")
        if root and not self.data_field.path():
            self.data_field.set_path(root)
        split = report.source.get("split", "all")
        skipped = f", {len(report.skipped)} unreadable skipped" if report.skipped else ""
        self.status_label.setText(
            f"{len(report.images)} images ({html.escape(split)}) evaluated with "
            f"<b>{html.escape(Path(model).name or 'the model')}</b>{skipped}.")
        self._set_messages([html.escape(w) for w in report.warnings])
        row = report.labels.index(previous) if previous in report.labels else 0
        if report.labels:
            self.label_table.selectRow(row)
        self._update_buttons()

    def labels(self) -> list[str]:
        return list(self._report.labels) if self._report is not None else []

    def thresholds(self) -> list[float]:
        return list(self._thresholds)

    def set_threshold(self, label: str, value: float) -> None:
        """Edit one label's threshold, as the user would in the table."""
        self._spins[self.labels().index(label)].setValue(value)

    def selected_label(self) -> str:
        if self._report is None or not 0 <= self._selected < len(self._report.labels):
            return ""
        return self._report.labels[self._selected]

    def select_label(self, label: str) -> None:
        self.label_table.selectRow(self.labels().index(label))

    def false_positive_paths(self) -> list[str]:
        return self.fp_list.paths()

    def false_negative_paths(self) -> list[str]:
        return self.fn_list.paths()

    def thresholds_edited(self) -> bool:
        """True when the thresholds shown differ from the model file's."""
        return self._thresholds != self._saved_thresholds

    def save_thresholds(self) -> bool:
        """Write the shown thresholds into the evaluated model file (in the background).

        Asks first (``confirm_save_thresholds``); False when nothing was started."""
        if self._report is None or self._save_task is not None:
            return False
        model = self._report.source.get("model", "")
        if not model:
            self._show_error("Cannot save thresholds", "This report names no model file.")
            return False
        thresholds = list(self._thresholds)
        if not self.confirm_save_thresholds(model, thresholds):
            return False
        self._saving_thresholds = thresholds
        task = BackgroundTask(functools.partial(save_model_thresholds, model, thresholds),
                              name="save-thresholds", parent=self)
        task.done.connect(self._on_save_task_done)
        task.failed.connect(self._on_save_task_failed)
        task.finished.connect(self._on_save_task_finished)
        self._save_task = task
        self._update_buttons()
        task.start()
        return True

    def confirm_save_thresholds(self, model_path: str, thresholds: list[float]) -> bool:
        """Ask the user; tests replace this method."""
        labels = self.labels()
        listing = ", ".join(f"{label} {t:.3f}" for label, t in zip(labels, thresholds))
        answer = QMessageBox.question(
            self, "Save thresholds — mlcls-gui",
            f"Write these per-label thresholds into\n{model_path}?\n\n{listing}\n\n"
            "Predictions with this model file will use them from now on.",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        return answer == QMessageBox.StandardButton.Save

    def export_json(self, path: str) -> bool:
        """Write ``report().to_dict()`` to ``path`` (in the background)."""
        report = self.report()
        if report is None or self._export_task is not None:
            return False
        task = BackgroundTask(functools.partial(write_report_json, report, str(path)),
                              name="export-json", parent=self)
        task.done.connect(self._on_export_task_done)
        task.failed.connect(self._on_export_task_failed)
        task.finished.connect(self._on_export_task_finished)
        self._export_task = task
        self._update_buttons()
        task.start()
        return True

    def shutdown(self, msecs: int = 30_000) -> None:
        """Cancel and wait for every thread of this panel (window closing)."""
        self._cancel.set()
        self._thumb_queue.clear()
        for task in (self._task, self._save_task, self._export_task, self._thumb_task):
            if task is not None:
                task.wait(msecs)

    # ------------------------------------------------------------- display
    def _fill_label_table(self) -> None:
        assert self._report is not None
        labels = self._report.labels
        self._updating = True
        self.label_table.clearContents()
        self.label_table.setRowCount(len(labels))
        self._spins = []
        for row, label in enumerate(labels):
            name = QTableWidgetItem(label)
            name.setToolTip(label)
            self.label_table.setItem(row, COL_LABEL, name)
            for column in range(COL_SUPPORT, len(LABEL_COLUMNS)):
                item = QTableWidgetItem("")
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.label_table.setItem(row, column, item)
            spin = ThresholdSpin()
            spin.setValue(max(MIN_THRESHOLD, min(1.0, self._thresholds[row])))
            spin.valueChanged.connect(functools.partial(self._on_threshold_spin_value_changed, row))
            self.label_table.setCellWidget(row, COL_THRESHOLD, spin)
            self._spins.append(spin)
        self.label_table.resizeColumnsToContents()
        self.label_table.horizontalHeader().setSectionResizeMode(COL_LABEL, QHeaderView.ResizeMode.Stretch)
        self._updating = False

    def _refresh_metrics(self) -> None:
        """Overall table, per-label cells and threshold points from the current metrics."""
        report, tuned = self._report, self._at_thresholds
        if report is None or tuned is None:
            return
        for row, (_, attribute) in enumerate(OVERALL_ROWS):
            half_value = getattr(report.at_half, attribute)
            tuned_value = getattr(tuned, attribute)
            self.overall_table.item(row, 0).setText(format_metric(half_value))
            cell = self.overall_table.item(row, 1)
            cell.setText(format_metric(tuned_value))
            better = tuned_value < half_value if attribute == "hamming_loss" else tuned_value > half_value
            worse = tuned_value > half_value if attribute == "hamming_loss" else tuned_value < half_value
            cell.setForeground(_delta_brush(better, worse))
        for row, (metric, half) in enumerate(zip(tuned.per_label, report.at_half.per_label)):
            values = {
                COL_SUPPORT: str(metric.support), COL_PRECISION: format_metric(metric.precision),
                COL_RECALL: format_metric(metric.recall), COL_F1: format_metric(metric.f1),
                COL_AP: format_metric(metric.average_precision),
                COL_P_HALF: format_metric(half.precision), COL_R_HALF: format_metric(half.recall),
                COL_F1_HALF: format_metric(half.f1),
            }
            for column, text in values.items():
                self.label_table.item(row, column).setText(text)
            self.label_table.item(row, COL_F1).setForeground(
                _delta_brush(metric.f1 > half.f1 + 1e-12, metric.f1 < half.f1 - 1e-12))
            if row < len(self._points):
                self._points[row].setData([metric.recall], [metric.precision])
        self._update_half_point()
        edited = self.thresholds_edited()
        self.thresholds_note.setText(
            "Edited — not saved in the model file yet." if edited else "")
        self._update_buttons()

    def _build_curves(self) -> None:
        assert self._report is not None
        plot_item = self.pr_plot.getPlotItem()
        for item in self._curves + self._points:
            plot_item.removeItem(item)
        self.legend.clear()
        self._curves, self._points = [], []
        labels = self._report.labels
        for column, label in enumerate(labels):
            recall, precision = precision_recall_curve(self._probabilities[:, column], self._truth[:, column])
            color = pg.intColor(column, hues=max(len(labels), 1), values=1, maxValue=200, sat=220)
            curve = pg.PlotDataItem(recall, precision, pen=pg.mkPen(color, width=1.5), name=label,
                                    stepMode=None)
            curve.setCurveClickable(True, width=8)
            curve.sigClicked.connect(functools.partial(self._on_curve_clicked, column))
            plot_item.addItem(curve)
            point = pg.ScatterPlotItem(size=9, pen=pg.mkPen("w", width=1), brush=pg.mkBrush(color))
            point.setZValue(20)
            plot_item.addItem(point)
            self._curves.append(curve)
            self._points.append(point)
        self._highlight_curve()

    def _highlight_curve(self) -> None:
        labels = self._report.labels if self._report is not None else []
        for column, (curve, point) in enumerate(zip(self._curves, self._points)):
            color = QColor(pg.intColor(column, hues=max(len(labels), 1), values=1, maxValue=200, sat=220))
            chosen = column == self._selected or self._selected < 0
            if not chosen:
                color.setAlpha(70)
            curve.setPen(pg.mkPen(color, width=3.0 if column == self._selected else 1.2))
            curve.setZValue(10 if column == self._selected else 0)
            point.setBrush(pg.mkBrush(color))
            point.setSize(12 if column == self._selected else 7)
        self._update_half_point()

    def _update_half_point(self) -> None:
        if self._report is None or not 0 <= self._selected < len(self._report.labels):
            self.half_point.setData([], [])
            return
        half = self._report.at_half.per_label[self._selected]
        self.half_point.setData([half.recall], [half.precision])

    def _show_examples(self) -> None:
        """Fill the false-positive / false-negative lists of the selected label."""
        self.fp_list.clear()
        self.fn_list.clear()
        report = self._report
        if report is None or not 0 <= self._selected < len(report.labels):
            self.fp_title.setText("False positives")
            self.fn_title.setText("False negatives")
            return
        column = self._selected
        label = report.labels[column]
        threshold = self._thresholds[column]
        false_pos, false_neg = label_mistakes(self._probabilities, self._truth, column, threshold)
        name = html.escape(label)
        more_fp = f" (first {MAX_EXAMPLES} shown)" if len(false_pos) > MAX_EXAMPLES else ""
        more_fn = f" (first {MAX_EXAMPLES} shown)" if len(false_neg) > MAX_EXAMPLES else ""
        self.fp_title.setText(
            f"<b>False positives of {name}: {len(false_pos)}</b>{more_fp} — predicted "
            f"(p ≥ {threshold:.3f}) but not labelled; most confident first")
        self.fn_title.setText(
            f"<b>False negatives of {name}: {len(false_neg)}</b>{more_fn} — labelled but "
            f"missed (p &lt; {threshold:.3f}); least confident first")
        wanted: list[str] = []
        for listing, indices in ((self.fp_list, false_pos), (self.fn_list, false_neg)):
            for index in indices[:MAX_EXAMPLES]:
                result = report.images[index]
                probability = result.probabilities[column]
                item = QListWidgetItem(self._thumb_cache.get(result.path, self._placeholder),
                                       f"{probability:.2f}\n{Path(result.path).name}")
                item.setData(PATH_ROLE, result.path)
                item.setToolTip(
                    f"{result.path}\nlabelled: {', '.join(result.labels) or '(none)'}\n"
                    f"p({label}) = {probability:.3f}\nDouble-click to open it in the Predict panel.")
                listing.addItem(item)
                if result.path not in self._thumb_cache:
                    wanted.append(result.path)
        self._thumb_queue = wanted
        if not wanted:
            self.examples_shown.emit()
        self._start_thumbnail_chunk()

    def _start_thumbnail_chunk(self) -> None:
        if self._thumb_task is not None:
            return  # the running chunk starts the next one when it finishes
        chunk = [p for p in self._thumb_queue[:THUMBNAIL_CHUNK] if p not in self._thumb_cache]
        del self._thumb_queue[:THUMBNAIL_CHUNK]
        while not chunk and self._thumb_queue:
            chunk = [p for p in self._thumb_queue[:THUMBNAIL_CHUNK] if p not in self._thumb_cache]
            del self._thumb_queue[:THUMBNAIL_CHUNK]
        if not chunk:
            return
        task = BackgroundTask(functools.partial(load_thumbnails, chunk), name="thumbnails", parent=self)
        task.done.connect(self._on_thumb_task_done)
        task.failed.connect(self._on_thumb_task_failed)
        task.finished.connect(self._on_thumb_task_finished)
        self._thumb_task = task
        task.start()

    def _placeholder_pixmap(self) -> QPixmap:
        pixmap = QPixmap(THUMBNAIL_SIZE, THUMBNAIL_SIZE)
        pixmap.fill(QColor("#e6e6e6"))
        return pixmap

    # ------------------------------------------------------------- helpers
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
        running = self._task is not None
        has_report = self._report is not None
        self.evaluate_button.setEnabled(not running)
        self.cancel_button.setEnabled(running and not self._cancel.is_set())
        for widget in (self.model_field, self.data_field, self.split_combo):
            widget.setEnabled(not running)
        self.save_button.setEnabled(
            has_report and self.thresholds_edited() and self._save_task is None and not running)
        self.reset_button.setEnabled(has_report and self.thresholds_edited())
        self.export_button.setEnabled(has_report and self._export_task is None)

    # --------------------------------------------------------------- slots
    @Slot()
    def _on_evaluate_button_clicked(self) -> None:
        self.start_evaluation()

    @Slot()
    def _on_cancel_button_clicked(self) -> None:
        self.cancel()
        self._update_buttons()

    @Slot()
    def _on_progress_timer_timeout(self) -> None:
        done, total, phase = self._progress.value
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
        task = self._task
        self._task = None
        if task is not None:
            task.deleteLater()
        self._progress_timer.stop()
        self.progress_bar.hide()
        self._update_buttons()
        self.evaluation_finished.emit(self._outcome)

    @Slot()
    def _on_label_table_item_selection_changed(self) -> None:
        rows = {index.row() for index in self.label_table.selectionModel().selectedRows()}
        self._selected = min(rows) if rows else -1
        self._highlight_curve()
        self._examples_timer.stop()
        self._show_examples()

    def _on_threshold_spin_value_changed(self, row: int, value: float) -> None:
        if self._updating or self._report is None:
            return
        self._thresholds[row] = float(value)
        self._at_thresholds = compute_metrics(
            self._probabilities, self._truth, self._report.labels, self._thresholds)
        self._refresh_metrics()
        if row != self._selected:
            self.label_table.selectRow(row)
        else:
            self._examples_timer.start()

    def _on_curve_clicked(self, row: int, *_: Any) -> None:
        self.label_table.selectRow(row)

    @Slot()
    def _on_examples_timer_timeout(self) -> None:
        self._show_examples()

    @Slot(QListWidgetItem)
    def _on_example_list_item_activated(self, item: QListWidgetItem) -> None:
        path = item.data(PATH_ROLE)
        if path:
            self.open_image_requested.emit(str(path))

    @Slot(object)
    def _on_thumb_task_done(self, images: dict[str, QImage]) -> None:
        if len(self._thumb_cache) + len(images) > MAX_CACHED_THUMBNAILS:
            self._thumb_cache.clear()
        for path, image in images.items():
            self._thumb_cache[path] = QIcon(QPixmap.fromImage(image)) if not image.isNull() else self._placeholder
        for listing in (self.fp_list, self.fn_list):
            for row in range(listing.count()):
                item = listing.item(row)
                icon = self._thumb_cache.get(item.data(PATH_ROLE))
                if icon is not None and item.data(PATH_ROLE) in images:
                    item.setIcon(icon)

    @Slot(str, str)
    def _on_thumb_task_failed(self, summary: str, details: str) -> None:
        logger.warning("Could not load thumbnails: %s", details)

    @Slot()
    def _on_thumb_task_finished(self) -> None:
        task = self._thumb_task
        self._thumb_task = None
        if task is not None:
            task.deleteLater()
        if self._thumb_queue:
            self._start_thumbnail_chunk()
        else:
            self.examples_shown.emit()

    @Slot()
    def _on_reset_button_clicked(self) -> None:
        if self._report is None:
            return
        self._updating = True
        for spin, value in zip(self._spins, self._saved_thresholds):
            spin.setValue(value)
        self._updating = False
        self._thresholds = list(self._saved_thresholds)
        self._at_thresholds = compute_metrics(
            self._probabilities, self._truth, self._report.labels, self._thresholds)
        self._refresh_metrics()
        self._show_examples()

    @Slot()
    def _on_save_button_clicked(self) -> None:
        self.save_thresholds()

    @Slot(object)
    def _on_save_task_done(self, model_path: str) -> None:
        self._saved_thresholds = list(self._saving_thresholds)
        self.status_label.setText(f"Thresholds saved into {html.escape(model_path)}.")
        self._refresh_metrics()
        self.thresholds_saved.emit(model_path)

    @Slot(str, str)
    def _on_save_task_failed(self, summary: str, details: str) -> None:
        self._show_error("Could not save the thresholds", summary, details)

    @Slot()
    def _on_save_task_finished(self) -> None:
        task = self._save_task
        self._save_task = None
        if task is not None:
            task.deleteLater()
        self._update_buttons()

    @Slot()
    def _on_export_button_clicked(self) -> None:
        report = self._report
        if report is None:
            return
        model = report.source.get("model", "")
        start = str(Path(model).with_name("evaluation.json")) if model else str(Path.home() / "evaluation.json")
        path, _ = QFileDialog.getSaveFileName(self, "Export the evaluation as JSON", start,
                                              "JSON (*.json);;All files (*)")
        if path:
            self.export_json(path)

    @Slot(object)
    def _on_export_task_done(self, path: str) -> None:
        self.status_label.setText(f"Report written to {html.escape(path)}.")
        self.json_exported.emit(path)

    @Slot(str, str)
    def _on_export_task_failed(self, summary: str, details: str) -> None:
        self._show_error("Could not write the JSON file", summary, details)

    @Slot()
    def _on_export_task_finished(self) -> None:
        task = self._export_task
        self._export_task = None
        if task is not None:
            task.deleteLater()
        self._update_buttons()


def _delta_brush(better: bool, worse: bool) -> QBrush:
    if better:
        return QBrush(QColor("#1b5e20"))
    if worse:
        return QBrush(QColor("#b71c1c"))
    return QBrush(QColor("#222222"))

