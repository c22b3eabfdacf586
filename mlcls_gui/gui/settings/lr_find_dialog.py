"""The learning-rate finder's dialog, opened by the button beside the learning-rate field.

The range test (``core.training.lr_finder``) trains for about a hundred batches, seconds
to minutes, so it runs off the GUI thread (``TaskRunner``); each step arrives as a signal and
the loss-versus-learning-rate curve (log axis) grows as it runs. Cancel stops
it at the next batch. When it ends, the suggestion is marked on the plot and
**Apply** emits ``applied(lr)`` for the form to take. The test writes no file
and never changes the config it was given.
"""

from __future__ import annotations

import html
import logging
import math
import time
from typing import Any, Callable, Sequence

import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from mlcls_gui.core.config import TrainConfig
from mlcls_gui.gui.widgets.task_runner import TaskRunner

logger = logging.getLogger(__name__)

# Mirrors core.training.lr_finder's defaults (a test checks they agree): importing that
# module here would import torch on the GUI thread.
DEFAULT_STEPS = 100
DEFAULT_START_LR = 1e-7
DEFAULT_END_LR = 10.0
ERROR_STYLE = "color: #c62828;"


def useful_range(smoothed: Sequence[float]) -> tuple[float, float] | None:
    """The y range that shows the curve's useful part: its lowest point and every
    point up to the starting loss plus the depth of the descent. A divergence
    goes off the top instead of squashing the descent flat at the bottom."""
    finite = [value for value in smoothed if math.isfinite(value)]
    if not finite:
        return None
    low, start = min(finite), finite[0]
    cap = start + max(start - low, 0.05 * abs(start))
    high = max(value for value in finite if value <= cap)
    margin = max(0.1 * (high - low), 0.02 * abs(high)) + 1e-6
    return low - margin, high + margin


def run_finder(config: TrainConfig, steps: int, start_lr: float, end_lr: float,
               should_stop: Callable[[], bool], on_point: Callable[[Any], None]) -> Any:
    """Runs on the background thread; returns core.training.lr_finder.LrFindResult."""
    from mlcls_gui.core.training.lr_finder import find_learning_rate

    return find_learning_rate(config, start_lr=start_lr, end_lr=end_lr, steps=steps,
                              should_stop=should_stop, on_point=on_point)


class _PointRelay(QObject):
    """Lives on the GUI thread: emitting from the worker queues each point to it."""

    point = Signal(object)


class LrFindDialog(QDialog):
    """Run the range test for ``config``, show the curve, offer its suggestion."""

    applied = Signal(float)  # the learning rate the user chose to apply
    test_finished = Signal(str)  # "completed", "diverged", "cancelled" or "failed"

    def __init__(self, config: TrainConfig, parent: QWidget | None = None, *,
                 steps: int = DEFAULT_STEPS, start_lr: float = DEFAULT_START_LR,
                 end_lr: float = DEFAULT_END_LR) -> None:
        super().__init__(parent)
        self.setWindowTitle("Find a learning rate")
        self.config = config
        self.steps, self.start_lr, self.end_lr = steps, start_lr, end_lr
        self.result: Any = None  # core.training.lr_finder.LrFindResult of the last test
        self._runner = TaskRunner("lr-find", self)
        self._runner.done.connect(self._on_task_done)
        self._runner.failed.connect(self._on_task_failed)
        self._runner.finished.connect(self._on_task_finished)
        self._close_when_done = False
        self._started = 0.0  # when the test started (for the time left)
        self._lrs: list[float] = []
        self._losses: list[float] = []
        self._smoothed: list[float] = []
        self._relay = _PointRelay(self)
        self._relay.point.connect(self._on_point)

        intro = QLabel(
            f"Trains {config.arch} for up to {steps} batches of {config.batch_size} from its initial "
            f"weights while the learning rate grows from {start_lr:.0e} to {end_lr:.0e}, and stops "
            "once the loss blows up. Your settings and output folder are not touched.")
        intro.setWordWrap(True)
        intro.setStyleSheet("color: #555;")
        self.plot = pg.PlotWidget(background="w")
        item = self.plot.getPlotItem()
        item.setLogMode(x=True, y=False)
        item.setLabel("bottom", "learning rate")
        item.setLabel("left", "training loss")
        item.showGrid(x=True, y=True, alpha=0.25)
        item.getAxis("left").enableAutoSIPrefix(False)
        item.getAxis("bottom").enableAutoSIPrefix(False)  # no "x1e-09" beside the log axis
        item.enableAutoRange(y=False)  # the y range follows the useful part of the curve (_redraw)
        # The whole tested range from the start (the view holds log10 of x): the curve fills it.
        item.enableAutoRange(x=False)
        item.setXRange(math.log10(start_lr), math.log10(end_lr), padding=0.02)
        self.raw_curve = item.plot(pen=pg.mkPen((150, 180, 230), width=1))
        self.smoothed_curve = item.plot(pen=pg.mkPen((30, 90, 200), width=2))
        self.suggestion_line = pg.InfiniteLine(
            angle=90, movable=False, pen=pg.mkPen((0, 150, 70), width=2),
            label="suggested", labelOpts={"position": 0.9, "color": (0, 120, 60)})
        self.suggestion_line.setVisible(False)
        item.addItem(self.suggestion_line, ignoreBounds=True)
        self.plot.setMinimumHeight(240)

        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, steps)
        self.progress_bar.setFormat("%v of %m batches")
        self.status_label = QLabel()
        self.status_label.setObjectName("lrFindStatus")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.start_button = QPushButton("Run test")
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel test")
        self.cancel_button.clicked.connect(self.cancel)
        self.apply_button = QPushButton("Apply")
        self.apply_button.setEnabled(False)
        self.apply_button.setDefault(True)
        self.apply_button.clicked.connect(self.apply)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        for button in (self.start_button, self.cancel_button, self.apply_button):
            self.buttons.addButton(button, QDialogButtonBox.ButtonRole.ActionRole)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.status_label)
        layout.addWidget(self.buttons)
        self.resize(680, 480)
        self._set_busy(False)

    # -------------------------------------------------------------- public
    def is_busy(self) -> bool:
        return self._runner.is_busy()

    def suggestion(self) -> float | None:
        """The suggested learning rate as shown (two significant digits): what Apply sets."""
        if self.result is None or self.result.suggestion is None:
            return None
        return float(f"{self.result.suggestion:.2g}")

    def start(self) -> bool:
        """Start the test off the GUI thread; False when one is already running."""
        if self._runner.is_busy():
            return False
        self.result = None
        self._lrs.clear()
        self._losses.clear()
        self._smoothed.clear()
        self._redraw()
        self.suggestion_line.setVisible(False)
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("%v of %m batches")
        self._started = time.monotonic()
        self.status_label.setStyleSheet("")
        self.status_label.setText("Running the learning-rate test…")
        # Read now, as locals: the worker's function must not hold the dialog.
        config, steps, start_lr, end_lr = self.config, self.steps, self.start_lr, self.end_lr
        on_point = self._relay.point.emit
        self._runner.start(lambda job: run_finder(config, steps, start_lr, end_lr,
                                                  should_stop=job.cancel.is_set, on_point=on_point))
        self._set_busy(True)
        logger.info("Learning-rate test started for %s", self.config.images_root)
        return True

    def cancel(self) -> None:
        """Stop the test at the next batch (the curve so far stays on the plot)."""
        if self._runner.cancel():
            self.status_label.setText("Cancelling…")

    def apply(self) -> None:
        value = self.suggestion()
        if value is not None and not self._runner.is_busy():
            self.applied.emit(float(value))
            self.accept()

    def shutdown(self, msecs: int = 60_000) -> None:
        """Cancel and wait for the thread (closing the window, tests)."""
        self._runner.shutdown(msecs)

    # ------------------------------------------------------------ closing
    def reject(self) -> None:
        if self._runner.is_busy():  # closing cancels; the dialog goes once the thread ended
            self._close_when_done = True
            self.cancel()
            return
        super().reject()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        if self._runner.is_busy():
            self._close_when_done = True
            self.cancel()
            event.ignore()
            return
        super().closeEvent(event)

    # ------------------------------------------------------------ internal
    def _set_busy(self, busy: bool) -> None:
        self.start_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)
        self.apply_button.setEnabled(not busy and self.suggestion() is not None)
        self.progress_bar.setVisible(busy or bool(self._lrs))

    def _redraw(self) -> None:
        self.raw_curve.setData(self._lrs, self._losses)
        self.smoothed_curve.setData(self._lrs, self._smoothed)
        y_range = useful_range(self._smoothed)
        if y_range is not None:
            self.plot.getPlotItem().setYRange(*y_range, padding=0)

    def _show_result(self, result: Any) -> None:
        self.result = result
        lines = [html.escape(result.message)]
        suggestion = self.suggestion()
        if suggestion is not None:
            self.suggestion_line.setValue(math.log10(suggestion))  # the view is log10(x)
            self.suggestion_line.label.setFormat(f"suggested {suggestion:g}")
            self.suggestion_line.setVisible(True)
            self.apply_button.setText(f"Apply {suggestion:g}")
            others = ", ".join(f"{name} {value:.2g}" for name, value in result.alternatives.items()
                               if value is not None and name != result.method)
            if others:
                lines.append(f"<span style='color:#555'>Other rules: {html.escape(others)}.</span>")
        else:
            self.apply_button.setText("Apply")
        self.status_label.setText("<br>".join(lines))

    @Slot(object)
    def _on_point(self, point: Any) -> None:
        self._lrs.append(point.lr)
        self._losses.append(point.loss)
        self._smoothed.append(point.smoothed)
        self.progress_bar.setValue(point.step)
        elapsed = time.monotonic() - self._started
        left = elapsed / point.step * (self.steps - point.step)
        self.progress_bar.setFormat(f"%v of %m batches, about {left:.0f} s left" if point.step < self.steps
                                    else "%v of %m batches")
        self._redraw()

    @Slot(object)
    def _on_task_done(self, result: Any) -> None:
        self._show_result(result)
        self.test_finished.emit(result.stop_reason)

    @Slot(str, str)
    def _on_task_failed(self, message: str, details: str) -> None:
        logger.debug("Learning-rate test failed: %s", details)
        self.status_label.setStyleSheet(ERROR_STYLE)
        self.status_label.setText(html.escape(message))
        self.test_finished.emit("failed")

    @Slot()
    def _on_task_finished(self) -> None:
        self.start_button.setText("Run again")
        self._set_busy(False)
        if self._close_when_done:
            self._close_when_done = False
            super().reject()
