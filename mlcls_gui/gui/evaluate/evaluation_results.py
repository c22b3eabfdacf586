"""One evaluation report on screen, with per-label thresholds editable by hand.

The overall and per-label metric tables and the precision–recall curves on
top, the selected label's false positives and false negatives below. Editing
a threshold recomputes everything from the report's stored probabilities
(``core.evaluation.threshold_edits``); nothing here runs a model or writes a file: the
Evaluate panel does that and puts its own buttons beside Reset.
"""

from __future__ import annotations

import logging
from typing import Sequence

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSplitter, QVBoxLayout, QWidget

from mlcls_gui.core.evaluation.metrics import LabelMetrics
from mlcls_gui.core.evaluation.report import EvaluationReport
from mlcls_gui.core.evaluation.threshold_edits import ThresholdEdits
from mlcls_gui.gui.evaluate.metric_tables import LabelMetricsTable, OverallMetricsTable
from mlcls_gui.gui.evaluate.pr_curve_plot import PrCurvePlot
from mlcls_gui.gui.evaluate.thumbnail_gallery import MistakesGallery

logger = logging.getLogger(__name__)

EXAMPLES_DELAY_MS = 120  # a spin held down re-lists the mistakes once it settles
EDITED_NOTE = "Edited — not saved in the model file yet."


class EvaluationResultsView(QWidget):
    """Tables, curves and mistakes of one report; the thresholds are editable."""

    metrics_changed = Signal()  # a report shown, a threshold edited, reset or saved
    examples_shown = Signal()  # the thumbnails of the selected label are all loaded
    image_activated = Signal(str)  # a double-clicked thumbnail's image path

    def __init__(self, action_buttons: Sequence[QPushButton] = (), parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._edits: ThresholdEdits | None = None
        self._selected = -1
        self.overall_table = OverallMetricsTable()
        self.label_table = LabelMetricsTable()
        self.label_table.itemSelectionChanged.connect(self._on_label_table_item_selection_changed)
        self.label_table.threshold_edited.connect(self._on_label_table_threshold_edited)
        self.reset_button = QPushButton("Reset thresholds")
        self.reset_button.setToolTip("Back to the thresholds stored in the model file.")
        self.reset_button.clicked.connect(self._on_reset_button_clicked)
        self.thresholds_note = QLabel()
        self.thresholds_note.setStyleSheet("color: #8a4b00;")
        self.thresholds_note.setWordWrap(True)
        self.pr_plot = PrCurvePlot()
        self.pr_plot.curve_clicked.connect(self._on_pr_plot_curve_clicked)
        self.gallery = MistakesGallery()
        self.gallery.image_activated.connect(self.image_activated)
        self.gallery.all_shown.connect(self.examples_shown)
        self._examples_timer = QTimer(self)
        self._examples_timer.setSingleShot(True)
        self._examples_timer.setInterval(EXAMPLES_DELAY_MS)
        self._examples_timer.timeout.connect(self._on_examples_timer_timeout)
        self._lay_out(action_buttons)
        self._update_reset_button()

    def _lay_out(self, action_buttons: Sequence[QPushButton]) -> None:
        tables = QWidget()
        tables_layout = QVBoxLayout(tables)
        tables_layout.setContentsMargins(0, 0, 0, 0)
        tables_layout.addWidget(self.overall_table)
        tables_layout.addWidget(self.label_table, 1)
        buttons = QHBoxLayout()
        for button in (self.reset_button, *action_buttons):
            buttons.addWidget(button)
        buttons.addWidget(self.thresholds_note, 1)
        tables_layout.addLayout(buttons)

        self.top_splitter = QSplitter(Qt.Orientation.Horizontal)
        self.top_splitter.addWidget(tables)
        self.top_splitter.addWidget(self.pr_plot)
        self.top_splitter.setStretchFactor(0, 3)
        self.top_splitter.setStretchFactor(1, 2)

        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(self.top_splitter)
        self.splitter.addWidget(self.gallery)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setSizes([560, 300])

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)

    # -------------------------------------------------------------- public
    def edits(self) -> ThresholdEdits | None:
        """The thresholds being edited over the shown report (None: no report)."""
        return self._edits

    def set_report(self, report: EvaluationReport) -> None:
        """Show ``report``; the label selected before stays selected when it has one."""
        previous = self.selected_label()
        self._edits = edits = ThresholdEdits(report)
        self.gallery.set_model_source(str(report.source.get("model", "")))
        self.label_table.set_labels(report.labels, edits.thresholds())
        self.pr_plot.set_curves(report.labels, edits.probabilities, edits.truth)
        self._show_selection()
        self.refresh()
        if report.labels:
            self.label_table.selectRow(report.labels.index(previous) if previous in report.labels else 0)

    def labels(self) -> list[str]:
        return self._edits.labels if self._edits is not None else []

    def set_threshold(self, label: str, value: float) -> None:
        """Edit one label's threshold, as the user would in the table."""
        self.label_table.edit_threshold(self.labels().index(label), value)

    def selected_label(self) -> str:
        labels = self.labels()
        return labels[self._selected] if 0 <= self._selected < len(labels) else ""

    def select_label(self, label: str) -> None:
        self.label_table.selectRow(self.labels().index(label))

    def reset_thresholds(self) -> None:
        """Back to the thresholds in the model file."""
        if self._edits is None:
            return
        self._edits.reset()
        self.label_table.set_thresholds(self._edits.thresholds())
        self.refresh()
        self._show_examples()

    def refresh(self) -> None:
        """Tables, threshold points and the 'edited' note from the current metrics."""
        edits = self._edits
        if edits is None:
            return
        self.overall_table.show_metrics(edits.at_half, edits.at_thresholds)
        self.label_table.show_metrics(edits.at_thresholds, edits.at_half)
        self.pr_plot.show_threshold_points(edits.at_thresholds.per_label)
        self.pr_plot.show_half_point(self._selected_at_half())
        self.thresholds_note.setText(EDITED_NOTE if edits.edited() else "")
        self._update_reset_button()
        self.metrics_changed.emit()

    def shutdown(self, msecs: int = 30_000) -> None:
        self.gallery.shutdown(msecs)

    # ------------------------------------------------------------- display
    def _show_selection(self) -> None:
        self.pr_plot.show_selection(self._selected, self._selected_at_half())

    def _selected_at_half(self) -> LabelMetrics | None:
        if self._edits is None or not 0 <= self._selected < len(self._edits.labels):
            return None
        return self._edits.at_half.per_label[self._selected]

    def _show_examples(self) -> None:
        """Fill the false-positive / false-negative lists of the selected label."""
        edits = self._edits
        if edits is None or not 0 <= self._selected < len(edits.labels):
            self.gallery.clear()
            return
        column = self._selected
        false_pos, false_neg = edits.mistakes(column)
        self.gallery.show_mistakes(edits.labels[column], column, edits.thresholds()[column],
                                   edits.source_report.images, false_pos, false_neg)

    def _update_reset_button(self) -> None:
        self.reset_button.setEnabled(self._edits is not None and self._edits.edited())

    # --------------------------------------------------------------- slots
    @Slot()
    def _on_label_table_item_selection_changed(self) -> None:
        self._selected = self.label_table.selected_row()
        self._show_selection()
        self._examples_timer.stop()
        self._show_examples()

    @Slot(int, float)
    def _on_label_table_threshold_edited(self, row: int, value: float) -> None:
        if self._edits is None:
            return
        self._edits.set_threshold(row, value)
        self.refresh()
        if row != self._selected:
            self.label_table.selectRow(row)
        else:
            self._examples_timer.start()

    @Slot(int)
    def _on_pr_plot_curve_clicked(self, row: int) -> None:
        self.label_table.selectRow(row)

    @Slot()
    def _on_examples_timer_timeout(self) -> None:
        self._show_examples()

    @Slot()
    def _on_reset_button_clicked(self) -> None:
        self.reset_thresholds()
