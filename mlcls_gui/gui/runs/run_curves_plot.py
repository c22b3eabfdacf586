"""Loss and exact-match accuracy of several runs in one pair of plots.

Each run has its colour; validation is a solid line, training a dashed one.
The legend is the plot's title (as in the training plots), so it never covers
a curve.
"""

from __future__ import annotations

import html
import logging
import math

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QVBoxLayout, QWidget

from mlcls_gui.core.runs.listing import RunCurves
from mlcls_gui.gui.widgets.plot_titles import title_with_legend

logger = logging.getLogger(__name__)

# Distinct on white, colour-blind friendly first (Okabe–Ito), then more.
COLOURS = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000",
           "#8c564b", "#7f7f7f", "#bcbd22")
MAX_LEGEND_NAMES = 6  # more names than this would wrap the title over the plot


class RunCurvesPlot(QWidget):
    """``show_runs([(name, curves), ...])`` draws them; ``[]`` clears the plots."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.loss_plot = pg.PlotWidget(background="w")
        self.accuracy_plot = pg.PlotWidget(background="w")
        for plot, axis in ((self.loss_plot, "BCE loss"), (self.accuracy_plot, "exact-match accuracy")):
            plot.showGrid(x=True, y=True, alpha=0.3)
            plot.setLabel("left", axis)
            plot.setLabel("bottom", "epoch")
            plot.setMouseEnabled(x=True, y=False)
            for side in ("left", "bottom"):  # "loss (x0.001)" reads worse than 0.68
                plot.getPlotItem().getAxis(side).enableAutoSIPrefix(False)
        self.accuracy_plot.setXLink(self.loss_plot)
        self.accuracy_plot.setYRange(0.0, 1.0)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.loss_plot, 1)
        layout.addWidget(self.accuracy_plot, 1)
        self.names: list[str] = []
        self.show_runs([])

    def show_runs(self, runs: list[tuple[str, RunCurves]]) -> None:
        self.names = [name for name, _curves in runs]
        for plot in (self.loss_plot, self.accuracy_plot):
            plot.clear()
        for index, (_name, curves) in enumerate(runs):
            colour = COLOURS[index % len(COLOURS)]
            self._line(self.loss_plot, curves, "train_loss", colour, dashed=True)
            self._line(self.loss_plot, curves, "val_loss", colour, dashed=False)
            self._line(self.accuracy_plot, curves, "train_accuracy", colour, dashed=True)
            self._line(self.accuracy_plot, curves, "val_accuracy", colour, dashed=False)
        entries = [(COLOURS[i % len(COLOURS)], "━", html.escape(name))
                   for i, name in enumerate(self.names[:MAX_LEGEND_NAMES])]
        if len(self.names) > MAX_LEGEND_NAMES:
            entries.append(("#555555", "", f"+{len(self.names) - MAX_LEGEND_NAMES} more"))
        if not runs:
            hint = "select runs in the table to compare their curves"
            self.loss_plot.setTitle(f"<b>Loss</b>&nbsp;&nbsp;<span style='font-size:8pt'>{hint}</span>")
            self.accuracy_plot.setTitle("<b>Exact-match accuracy</b>")
            return
        self.loss_plot.setTitle(title_with_legend("Loss", entries))
        self.accuracy_plot.setTitle(title_with_legend(
            "Exact-match accuracy", [("#333333", "━━", "validation"), ("#333333", "- -", "training")]))
        for plot in (self.loss_plot, self.accuracy_plot):
            plot.enableAutoRange(axis="x")
        self.loss_plot.enableAutoRange(axis="y")

    @staticmethod
    def _line(plot: pg.PlotWidget, curves: RunCurves, column: str, colour: str, *, dashed: bool) -> None:
        points = [(x, y) for x, y in zip(curves.epochs, curves.values.get(column, [])) if math.isfinite(y)]
        if not points:
            return
        style = Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine
        xs, ys = zip(*points)
        # One epoch gives one point: a symbol shows it where a line could not.
        plot.plot(list(xs), list(ys), pen=pg.mkPen(colour, width=2, style=style),
                  symbol="o" if len(points) == 1 else None, symbolSize=6, symbolBrush=colour,
                  symbolPen=colour)
