"""Precision–recall curves, one per label, with each label's threshold marked.

A filled dot marks where a label's threshold puts it on its curve, an open
circle where 0.5 would (the selected label only). The selected label's curve
is drawn thick and on top, the others faded; clicking a curve selects its label.
"""

from __future__ import annotations

import functools
import logging
from typing import Any, Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QWidget

from mlcls_gui.core.evaluation.metrics import LabelMetrics, precision_recall_curve

logger = logging.getLogger(__name__)

FADED_ALPHA = 70


class PrCurvePlot(pg.PlotWidget):
    """The precision–recall plot of the Evaluate panel."""

    curve_clicked = Signal(int)  # the label column of the clicked curve

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, background="w")
        self.curves: list[pg.PlotDataItem] = []
        self.points: list[pg.ScatterPlotItem] = []  # each label's threshold point
        self._hues = 1  # one hue per label
        self.setMinimumSize(260, 220)
        plot_item = self.getPlotItem()
        plot_item.setTitle("Precision–recall (● threshold, ○ 0.5)", color="#222", size="9pt")
        plot_item.setLabel("bottom", "Recall")
        plot_item.setLabel("left", "Precision")
        plot_item.showGrid(x=True, y=True, alpha=0.25)
        plot_item.setXRange(0.0, 1.0, padding=0.03)
        plot_item.setYRange(0.0, 1.0, padding=0.03)
        plot_item.getViewBox().setLimits(xMin=-0.05, xMax=1.05, yMin=-0.05, yMax=1.05)
        plot_item.setMenuEnabled(False)
        self.hideButtons()
        self.legend = plot_item.addLegend(offset=(-6, -6), labelTextSize="8pt")
        self.half_point = pg.ScatterPlotItem(size=13, pen=pg.mkPen("#222", width=1.6), brush=None, symbol="o")
        self.half_point.setZValue(30)
        plot_item.addItem(self.half_point)

    def set_curves(self, labels: Sequence[str], probabilities: np.ndarray, truth: np.ndarray) -> None:
        """One curve (and threshold point) per label, replacing the earlier ones."""
        plot_item = self.getPlotItem()
        for item in self.curves + self.points:
            plot_item.removeItem(item)
        self.legend.clear()
        self.curves, self.points = [], []
        self._hues = max(len(labels), 1)
        for column, label in enumerate(labels):
            recall, precision = precision_recall_curve(probabilities[:, column], truth[:, column])
            color = self._color(column)
            curve = pg.PlotDataItem(recall, precision, pen=pg.mkPen(color, width=1.5), name=label,
                                    stepMode=None)
            curve.setCurveClickable(True, width=8)
            curve.sigClicked.connect(functools.partial(self._on_curve_clicked, column))
            plot_item.addItem(curve)
            point = pg.ScatterPlotItem(size=9, pen=pg.mkPen("w", width=1), brush=pg.mkBrush(color))
            point.setZValue(20)
            plot_item.addItem(point)
            self.curves.append(curve)
            self.points.append(point)

    def show_threshold_points(self, per_label: Sequence[LabelMetrics]) -> None:
        """Move each label's dot to its recall and precision at its threshold."""
        for point, metric in zip(self.points, per_label):
            point.setData([metric.recall], [metric.precision])

    def show_selection(self, column: int, at_half: LabelMetrics | None) -> None:
        """Emphasise label ``column`` (-1: none, all drawn alike) and mark its 0.5 point."""
        for index, (curve, point) in enumerate(zip(self.curves, self.points)):
            color = QColor(self._color(index))
            if not (index == column or column < 0):
                color.setAlpha(FADED_ALPHA)
            curve.setPen(pg.mkPen(color, width=3.0 if index == column else 1.2))
            curve.setZValue(10 if index == column else 0)
            point.setBrush(pg.mkBrush(color))
            point.setSize(12 if index == column else 7)
        self.show_half_point(at_half)

    def show_half_point(self, at_half: LabelMetrics | None) -> None:
        """The open circle at the selected label's recall and precision at 0.5 (None: hidden)."""
        if at_half is None:
            self.half_point.setData([], [])
        else:
            self.half_point.setData([at_half.recall], [at_half.precision])

    def _color(self, column: int) -> QColor:
        return pg.intColor(column, hues=self._hues, values=1, maxValue=200, sat=220)

    def _on_curve_clicked(self, column: int, *_: Any) -> None:
        self.curve_clicked.emit(column)
