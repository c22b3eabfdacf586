"""The Evaluate panel's two metric tables.

``OverallMetricsTable``: the overall scores at 0.5 and at the per-label
thresholds side by side. ``LabelMetricsTable``: one row per label with an
editable threshold and the metrics at it and at 0.5. Both only show metrics
they are given; ``core.evaluation.threshold_edits`` computes them. A tuned value is green
where it beats the value at 0.5 and red where it is worse.
"""

from __future__ import annotations

import functools
import logging
from typing import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QWheelEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDoubleSpinBox,
    QHeaderView,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from mlcls_gui.core.evaluation.metrics import MetricReport
from mlcls_gui.core.evaluation.views import compare_metric, format_metric

logger = logging.getLogger(__name__)

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
HEADER_TIPS: dict[int, str] = {
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
MIN_THRESHOLD = 0.001
CHANGE_COLORS: dict[int, str] = {1: "#1b5e20", -1: "#b71c1c", 0: "#222222"}  # better, worse, same
RIGHT_ALIGNED = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter


def change_brush(change: int) -> QBrush:
    """The text colour for a ``compare_metric`` result."""
    return QBrush(QColor(CHANGE_COLORS[change]))


class OverallMetricsTable(QTableWidget):
    """Rows: the overall metrics; columns: at 0.5 and at the thresholds. Read-only,
    exactly as tall as its rows (it never scrolls)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(len(OVERALL_ROWS), 2, parent)
        self.setHorizontalHeaderLabels(["at 0.5", "at thresholds"])
        self.setVerticalHeaderLabels([name for name, _ in OVERALL_ROWS])
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        for row in range(len(OVERALL_ROWS)):
            for column in range(2):
                item = QTableWidgetItem("–")
                item.setTextAlignment(RIGHT_ALIGNED)
                self.setItem(row, column, item)
        self.resizeRowsToContents()
        self.setFixedHeight(self.horizontalHeader().sizeHint().height()
                            + sum(self.rowHeight(r) for r in range(len(OVERALL_ROWS))) + 4)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def show_metrics(self, at_half: MetricReport, tuned: MetricReport) -> None:
        for row, (_, attribute) in enumerate(OVERALL_ROWS):
            half_value = getattr(at_half, attribute)
            tuned_value = getattr(tuned, attribute)
            self.item(row, 0).setText(format_metric(half_value))
            cell = self.item(row, 1)
            cell.setText(format_metric(tuned_value))
            cell.setForeground(change_brush(compare_metric(attribute, half_value, tuned_value)))


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


class LabelMetricsTable(QTableWidget):
    """One row per label: name, editable threshold, metrics at it and at 0.5.
    One row is selected at a time."""

    threshold_edited = Signal(int, float)  # row, new threshold (user edits only)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(LABEL_COLUMNS), parent)
        self._spins: list[ThresholdSpin] = []
        self._filling = False  # spins set by code, not by the user: no threshold_edited
        self.setHorizontalHeaderLabels(list(LABEL_COLUMNS))
        for column, tip in HEADER_TIPS.items():
            self.horizontalHeaderItem(column).setToolTip(tip)
        self.verticalHeader().hide()
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setAlternatingRowColors(True)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COL_LABEL, QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(56)
        self.setMinimumHeight(110)

    def set_labels(self, labels: Sequence[str], thresholds: Sequence[float]) -> None:
        """One row per label with its threshold; the metric cells empty."""
        self._filling = True
        self.clearContents()
        self.setRowCount(len(labels))
        self._spins = []
        for row, label in enumerate(labels):
            name = QTableWidgetItem(label)
            name.setToolTip(label)
            self.setItem(row, COL_LABEL, name)
            for column in range(COL_SUPPORT, len(LABEL_COLUMNS)):
                item = QTableWidgetItem("")
                item.setTextAlignment(RIGHT_ALIGNED)
                self.setItem(row, column, item)
            spin = ThresholdSpin()
            spin.setValue(max(MIN_THRESHOLD, min(1.0, thresholds[row])))
            spin.valueChanged.connect(functools.partial(self._on_threshold_spin_value_changed, row))
            self.setCellWidget(row, COL_THRESHOLD, spin)
            self._spins.append(spin)
        self.resizeColumnsToContents()
        self.horizontalHeader().setSectionResizeMode(COL_LABEL, QHeaderView.ResizeMode.Stretch)
        self._filling = False

    def set_thresholds(self, thresholds: Sequence[float]) -> None:
        """Show ``thresholds`` without reporting them as edits (e.g. a reset)."""
        self._filling = True
        for spin, value in zip(self._spins, thresholds):
            spin.setValue(value)
        self._filling = False

    def edit_threshold(self, row: int, value: float) -> None:
        """Change one threshold as the user would (``threshold_edited`` follows)."""
        self._spins[row].setValue(value)

    def selected_row(self) -> int:
        """The selected row (the first, should there be several), or -1."""
        rows = {index.row() for index in self.selectionModel().selectedRows()}
        return min(rows) if rows else -1

    def show_metrics(self, tuned: MetricReport, at_half: MetricReport) -> None:
        for row, (metric, half) in enumerate(zip(tuned.per_label, at_half.per_label)):
            values = {
                COL_SUPPORT: str(metric.support), COL_PRECISION: format_metric(metric.precision),
                COL_RECALL: format_metric(metric.recall), COL_F1: format_metric(metric.f1),
                COL_AP: format_metric(metric.average_precision),
                COL_P_HALF: format_metric(half.precision), COL_R_HALF: format_metric(half.recall),
                COL_F1_HALF: format_metric(half.f1),
            }
            for column, text in values.items():
                self.item(row, column).setText(text)
            self.item(row, COL_F1).setForeground(
                change_brush(compare_metric("f1", half.f1, metric.f1, tolerance=1e-12)))

    def _on_threshold_spin_value_changed(self, row: int, value: float) -> None:
        if not self._filling:
            self.threshold_edited.emit(row, float(value))
