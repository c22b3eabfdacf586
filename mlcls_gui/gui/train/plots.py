"""Live training curves: loss (per batch, smoothed, per epoch) and exact-match accuracy.

Events append to numpy buffers; a ~10 Hz timer redraws only when something
changed. Curves are created once and updated with ``setData``; clip-to-view
and downsampling keep runs with many thousands of batches smooth.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtWidgets import QVBoxLayout, QWidget

from mlcls_gui.core.training.events import BatchEnd, EpochEnd
from mlcls_gui.gui.widgets.plot_titles import title_with_legend

logger = logging.getLogger(__name__)

REDRAW_INTERVAL_MS = 100
SMOOTHING = 0.9  # exponential moving average of the batch loss


class _Series:
    """A growable (x, y) buffer that doubles its capacity when full."""

    def __init__(self, capacity: int = 256) -> None:
        self._x = np.empty(capacity, dtype=np.float64)
        self._y = np.empty(capacity, dtype=np.float64)
        self.size = 0

    def append(self, x: float, y: float) -> None:
        if self.size == len(self._x):
            self._x = np.resize(self._x, 2 * self.size)
            self._y = np.resize(self._y, 2 * self.size)
        self._x[self.size] = x
        self._y[self.size] = y if math.isfinite(y) else np.nan
        self.size += 1

    def clear(self) -> None:
        self.size = 0

    @property
    def x(self) -> np.ndarray:
        return self._x[: self.size]

    @property
    def y(self) -> np.ndarray:
        return self._y[: self.size]


def x_end_for(x: float) -> float:
    """The epoch axis's end for points up to ``x``: the next of 1, 2, 5, 10, 20, 50, …
    epochs at least 10 % beyond them. The axis then moves a few times a run instead of
    at every batch, and each move re-made both plots' ticks and grid (a frame's cost)."""
    target = max(x * 1.1, 1.0)
    magnitude = 10.0 ** math.floor(math.log10(target))
    return next(step * magnitude for step in (1, 2, 5, 10) if step * magnitude >= target)


class TrainingPlots(QWidget):
    """Two stacked plots sharing the epoch axis; x is in epochs (batches fractional)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._series = {
            name: _Series()
            for name in ("batch_loss", "smooth_loss", "train_loss", "val_loss",
                         "train_accuracy", "val_accuracy")
        }
        self._smoothed: float | None = None
        self._best_epoch = 0
        # The series with points not yet drawn: only their curves are set again, since
        # setting an epoch curve (its symbols) every frame doubled a frame's cost (8 → 17 ms).
        self._changed: set[str] = set()
        self._dirty = False

        self.loss_plot = pg.PlotWidget(background="w")
        self.accuracy_plot = pg.PlotWidget(background="w")
        # The titles are the legends: a legend box inside the plot covered the curves.
        self._style(self.loss_plot, title_with_legend("Loss", [
            ("#96b4e6", "━", "batch"), ("#1e5ac8", "━", "smoothed"),
            ("#14328c", "●", "train"), ("#dc6e00", "●", "validation")]), "BCE loss")
        self._style(self.accuracy_plot, title_with_legend("Exact-match accuracy", [
            ("#1e5ac8", "●", "train"), ("#dc6e00", "●", "validation")]), "accuracy")
        self.accuracy_plot.setXLink(self.loss_plot)
        self._x_end = 0.0
        self._show_x_up_to(0.0)
        self.accuracy_plot.setYRange(0.0, 1.0, padding=0.02)
        self.accuracy_plot.getPlotItem().getViewBox().setLimits(yMin=-0.05, yMax=1.05)

        lp = self.loss_plot.getPlotItem()
        ap = self.accuracy_plot.getPlotItem()
        self.curves: dict[str, pg.PlotDataItem] = {
            "batch_loss": lp.plot(pen=pg.mkPen((150, 180, 230), width=1), name="train (batch)"),
            "smooth_loss": lp.plot(pen=pg.mkPen((30, 90, 200), width=2), name="train (smoothed)"),
            "train_loss": lp.plot(pen=pg.mkPen((20, 50, 140), width=2, style=Qt.PenStyle.DashLine),
                                  symbol="o", symbolSize=6, symbolBrush=(20, 50, 140),
                                  name="train (epoch)"),
            "val_loss": lp.plot(pen=pg.mkPen((220, 110, 0), width=2), symbol="o",
                                symbolSize=7, symbolBrush=(220, 110, 0), name="validation (epoch)"),
            "train_accuracy": ap.plot(pen=pg.mkPen((30, 90, 200), width=2), symbol="o",
                                      symbolSize=6, symbolBrush=(30, 90, 200), name="train"),
            "val_accuracy": ap.plot(pen=pg.mkPen((220, 110, 0), width=2), symbol="o",
                                    symbolSize=7, symbolBrush=(220, 110, 0), name="validation"),
        }
        for curve in self.curves.values():
            curve.setClipToView(True)
            curve.setDownsampling(auto=True, method="peak")
        self.best_lines = []
        for plot in (self.loss_plot, self.accuracy_plot):
            line = pg.InfiniteLine(
                angle=90, movable=False, pen=pg.mkPen((0, 150, 70), width=1.5,
                                                      style=Qt.PenStyle.DotLine),
                # Text to the left of the line: the best epoch is often the last, at the right edge.
                label="best ", labelOpts={"position": 0.92, "color": (0, 120, 60), "anchors": [(1, 0.5), (1, 0.5)]},
            )
            line.setVisible(False)
            plot.addItem(line, ignoreBounds=True)
            self.best_lines.append(line)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.loss_plot, 3)
        layout.addWidget(self.accuracy_plot, 2)

        self._timer = QTimer(self)
        self._timer.setInterval(REDRAW_INTERVAL_MS)
        self._timer.timeout.connect(self._on_timer_timeout)
        self._timer.start()

    @staticmethod
    def _style(widget: pg.PlotWidget, title: str, y_label: str) -> None:
        item = widget.getPlotItem()
        item.setTitle(title, color="#222", size="10pt")
        item.setLabel("bottom", "epoch")
        item.setLabel("left", y_label)
        item.showGrid(x=True, y=True, alpha=0.25)
        # Grid lines at the labelled and the minor ticks, not at pyqtgraph's third level:
        # those faint lines made a redraw 3× slower (about 30 → 10 ms a frame on 2 cores,
        # all of it on the GUI thread) for no visible help.
        for name in ("left", "bottom"):
            item.getAxis(name).setStyle(maxTickLevel=1)
        # No SI prefixes: during the first epoch the axis would read "epoch (x0.001)".
        item.getAxis("left").enableAutoSIPrefix(False)
        item.getAxis("bottom").enableAutoSIPrefix(False)
        widget.setMinimumHeight(110)  # two plots and the run panel fit 1280×720

    # ------------------------------------------------------------------ input
    def reset(self) -> None:
        for series in self._series.values():
            series.clear()
        self._smoothed = None
        self._best_epoch = 0
        for line in self.best_lines:
            line.setVisible(False)
        self._changed.update(self._series)
        self._dirty = True
        self._x_end = 0.0
        self._show_x_up_to(0.0)
        self.redraw()

    def add_batch(self, event: BatchEnd) -> None:
        x = event.epoch - 1 + event.batch / max(event.batches, 1)
        loss = event.loss
        if math.isfinite(loss):
            self._smoothed = loss if self._smoothed is None else (
                SMOOTHING * self._smoothed + (1 - SMOOTHING) * loss)
        self._series["batch_loss"].append(x, loss)
        self._series["smooth_loss"].append(x, self._smoothed if self._smoothed is not None else loss)
        self._changed.update(("batch_loss", "smooth_loss"))
        self._dirty = True

    def add_epoch(self, event: EpochEnd) -> None:
        metrics = event.metrics
        for name in ("train_loss", "val_loss", "train_accuracy", "val_accuracy"):
            value = metrics.get(name)
            self._series[name].append(float(event.epoch), float(value) if value is not None else math.nan)
            self._changed.add(name)
        self._best_epoch = event.best_epoch
        self._dirty = True

    def add_history(self, rows: list[dict[str, float]], best_epoch: int = 0) -> None:
        """Epoch points of a resumed run's earlier epochs (no per-batch losses)."""
        for row in rows:
            epoch = float(row["epoch"])
            for name in ("train_loss", "val_loss", "train_accuracy", "val_accuracy"):
                value = row.get(name)
                self._series[name].append(epoch, float(value) if value is not None else math.nan)
                self._changed.add(name)
        if best_epoch:
            self._best_epoch = best_epoch
        self._dirty = True

    def set_best_epoch(self, epoch: int) -> None:
        self._best_epoch = epoch
        self._dirty = True

    # ----------------------------------------------------------------- output
    def epoch_points(self, name: str) -> int:
        """How many points the drawn curve ``name`` holds (after a redraw)."""
        x, _ = self.curves[name].getOriginalDataset()
        return 0 if x is None else len(x)

    def redraw(self) -> None:
        """Push the buffers to the curves now (the timer calls this when dirty)."""
        self._dirty = False
        changed, self._changed = self._changed, set()
        for name in changed:
            series = self._series[name]
            self.curves[name].setData(series.x.copy(), series.y.copy())
        last = max((float(series.x[-1]) for series in self._series.values() if series.size), default=0.0)
        if last > self._x_end:
            self._show_x_up_to(last)
        for line in self.best_lines:
            line.setVisible(self._best_epoch > 0)
            if self._best_epoch > 0:
                line.setValue(self._best_epoch)

    def _show_x_up_to(self, x: float) -> None:
        self._x_end = x_end_for(x)
        self.loss_plot.setXRange(0.0, self._x_end, padding=0.02)  # also turns x auto-range off

    @Slot()
    def _on_timer_timeout(self) -> None:
        if self._dirty:
            self.redraw()
