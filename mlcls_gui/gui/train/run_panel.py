"""The run-status area: run buttons, progress with ETA, learning rate, log, end summary.

The panel only shows what the main window tells it; it owns no run state.
Per-batch numbers are stored and shown by a ~10 Hz timer, so a fast GPU
sending hundreds of batches a second does not redraw the bars each time.
"""

from __future__ import annotations

import html
import logging
import time
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from mlcls_gui.core.runs.listing import format_duration
from mlcls_gui.core.training.events import BatchEnd, EpochEnd, PhaseChanged, RunStarted
from mlcls_gui.gui.train.run_summary import fmt_metric
from mlcls_gui.gui.widgets.dialogs import open_in_file_manager, show_error
from mlcls_gui.gui.widgets.field_labels import with_form_labels

logger = logging.getLogger(__name__)

MAX_LOG_LINES = 5000


class LogBridge(QObject):
    """Carries log lines from any thread to the GUI thread (queued signal)."""

    line = Signal(str, int)  # formatted text, level number


class QtLogHandler(logging.Handler):
    """A logging handler that forwards each record through ``LogBridge.line``."""

    def __init__(self, bridge: LogBridge, level: int = logging.INFO) -> None:
        super().__init__(level)
        self.bridge = bridge
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
            self.bridge.line.emit(text, record.levelno)
        except RuntimeError:
            pass  # the bridge was deleted while the app closed
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)


def patience_text(event: EpochEnd) -> str:
    """", no improvement for N of M epochs" while the early-stop counter runs."""
    if not event.early_stop_limit or not event.epochs_without_improvement:
        return ""
    return f", no improvement for {event.epochs_without_improvement} of {event.early_stop_limit} epochs"


class RunPanel(QWidget):
    start_clicked = Signal()
    quick_model_clicked = Signal()
    stop_clicked = Signal()
    checkpoint_clicked = Signal()
    resume_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._output_dir = ""
        self.last_error_box: QMessageBox | None = None  # the last error this panel opened
        self._run_started_at = 0.0
        self._start_epoch = 1
        self._total_epochs = 1
        self._batches = 1
        self._last_batch: BatchEnd | None = None
        self._batch_dirty = False
        self._phase = ""
        self._lr: float | None = None
        self._stopping = False

        self.start_button = QPushButton("▶  Start training")
        self.start_button.setObjectName("startButton")
        # Bold by font, not by a ":enabled" style rule: Qt sizes a button for
        # its plain font, so a rule's bold text would be clipped.
        bold = QFont(self.start_button.font())
        bold.setBold(True)
        self.start_button.setFont(bold)
        self.start_button.clicked.connect(self.start_clicked)
        self.quick_button = QPushButton("Quick model")
        self.quick_button.setObjectName("quickModelButton")
        self.quick_button.setToolTip(
            "A first model in seconds: only the new classifier layer is fitted, on the pretrained "
            "features of the training images (a linear probe), with the data, architecture, image size "
            "and output folder set here. Needs pretrained weights (downloaded once, or the Weights file). "
            "The settings in the form are not changed.")
        self.quick_button.clicked.connect(self.quick_model_clicked)
        self.stop_button = QPushButton("■  Stop")
        self.stop_button.setToolTip("Finish the current batch, keep the best checkpoint and end the run.")
        self.stop_button.clicked.connect(self.stop_clicked)
        self.checkpoint_button = QPushButton("Save checkpoint")
        self.checkpoint_button.setToolTip(
            "Save a checkpoint now: manual_checkpoint.pt, written after the current batch.")
        self.checkpoint_button.clicked.connect(self.checkpoint_clicked)
        self.resume_button = QPushButton("Resume…")
        self.resume_button.setToolTip(
            "Continue a run from its checkpoint file (last_checkpoint.pt or checkpoint.pt), "
            "with the data folder and settings shown here.")
        self.resume_button.clicked.connect(self.resume_clicked)
        # Two rows, so the column stays narrow enough for 1280×720: what starts a
        # run, then what acts on the running one.
        starting = QHBoxLayout()
        for button in (self.start_button, self.quick_button, self.resume_button):
            starting.addWidget(button)
        starting.addStretch(1)
        running = QHBoxLayout()
        for button in (self.stop_button, self.checkpoint_button):
            running.addWidget(button)
        running.addStretch(1)
        buttons = QVBoxLayout()
        buttons.setSpacing(2)
        buttons.addLayout(starting)
        buttons.addLayout(running)

        self.start_hint = QLabel()
        self.start_hint.setObjectName("startHint")
        self.start_hint.setWordWrap(True)
        self.start_hint.setStyleSheet("color: #8a4b00;")
        self.state_label = QLabel("")
        self.state_label.setObjectName("stateLabel")
        state_font = QFont(self.state_label.font())
        state_font.setBold(True)
        self.state_label.setFont(state_font)
        self.state_label.setWordWrap(True)
        self.resume_label = QLabel()
        self.resume_label.setObjectName("resumeLabel")
        self.resume_label.setWordWrap(True)
        self.resume_label.setStyleSheet("color: #0d47a1;")
        self.resume_label.hide()

        self.epoch_bar = QProgressBar()
        self.epoch_bar.setRange(0, 1)
        self.epoch_bar.setValue(0)
        self.epoch_bar.setFormat("No run yet")
        self.run_bar = QProgressBar()
        self.run_bar.setRange(0, 1)
        self.run_bar.setValue(0)
        self.run_bar.setFormat("No run yet")
        self.stats_label = QLabel("")
        self.stats_label.setWordWrap(True)
        self.stats_label.setStyleSheet("color: #333;")
        self.lr_label = QLabel("")
        grid = QGridLayout()
        grid.addWidget(QLabel("Epoch"), 0, 0)
        grid.addWidget(self.epoch_bar, 0, 1)
        grid.addWidget(QLabel("Run"), 1, 0)
        grid.addWidget(self.run_bar, 1, 1)
        grid.setColumnStretch(1, 1)
        stats = QHBoxLayout()
        stats.addWidget(self.stats_label, 1)
        stats.addWidget(self.lr_label)

        self.summary_frame = QFrame()
        self.summary_frame.setFrameShape(QFrame.Shape.StyledPanel)
        self.summary_frame.setStyleSheet("QFrame { background: #f3f8f3; }")
        self.summary_label = QLabel()
        self.summary_label.setObjectName("summaryLabel")
        self.summary_label.setWordWrap(True)
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.open_folder_button = QPushButton("Open output folder")
        self.open_folder_button.clicked.connect(self._on_open_folder_button_clicked)
        self.summary_label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        # In its own scroll area: a long summary must not push the window past
        # 1280×720 (the log below gives way first, then the summary scrolls).
        self.summary_scroll = QScrollArea()
        self.summary_scroll.setWidgetResizable(True)
        self.summary_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.summary_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.summary_scroll.setWidget(self.summary_label)
        self.summary_scroll.viewport().setAutoFillBackground(False)
        self.summary_scroll.setMinimumHeight(80)
        self.summary_scroll.setMaximumHeight(230)
        # The button under the text, not beside it: the text gets the panel's full width.
        summary_layout = QVBoxLayout(self.summary_frame)
        summary_layout.setContentsMargins(6, 4, 6, 4)
        summary_layout.setSpacing(2)
        summary_layout.addWidget(self.summary_scroll, 1)
        summary_layout.addWidget(self.open_folder_button, 0, Qt.AlignmentFlag.AlignRight)
        self.summary_frame.hide()

        self.log_view = QPlainTextEdit()
        self.log_view.setObjectName("logView")
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(MAX_LOG_LINES)
        # Wrapped: with no sideways scrolling, a new line is never shown blank
        # because the view kept an earlier line's horizontal scroll position.
        self.log_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.log_view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.Monospace)
        mono.setPointSize(max(8, self.font().pointSize() - 1))
        self.log_view.setFont(mono)
        self.log_view.setMinimumHeight(60)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(buttons)
        layout.addWidget(self.start_hint)
        layout.addWidget(self.state_label)
        layout.addWidget(self.resume_label)
        layout.addLayout(grid)
        layout.addLayout(stats)
        layout.addWidget(self.summary_frame)
        layout.addWidget(self.log_view, 1)

        self._timer = QTimer(self)
        self._timer.setInterval(100)
        self._timer.timeout.connect(self._on_timer_timeout)
        self._timer.start()
        self.set_running(False)

    # ------------------------------------------------------------- controls
    def set_running(self, running: bool) -> None:
        self.stop_button.setEnabled(running)
        self.checkpoint_button.setEnabled(running)
        self.resume_button.setEnabled(not running)

    def set_start_allowed(self, allowed: bool, reason: str) -> None:
        self.start_button.setEnabled(allowed)
        self.quick_button.setEnabled(allowed)
        self.resume_button.setEnabled(allowed)
        # Said as what it is, so it never reads as the outcome of the last run.
        self.start_hint.setText(f"Start is not possible yet: {reason}" if reason else "")
        self.start_hint.setVisible(bool(reason))

    def set_state(self, text: str, colour: str = "#222") -> None:
        self.state_label.setText(text)
        self.state_label.setStyleSheet(f"color: {colour};")

    # --------------------------------------------------------------- events
    def begin_run(self, *, resuming: bool, resume_text: str = "", quick: bool = False) -> None:
        self._output_dir = ""
        self._last_batch = None
        self._lr = None
        self._phase = ""
        self._stopping = False
        self.resume_label.setText(f"<b>Resumed:</b> {html.escape(resume_text)}" if resume_text else "")
        self.resume_label.setVisible(bool(resume_text))
        self.summary_frame.hide()
        self.epoch_bar.setRange(0, 1)
        self.epoch_bar.setValue(0)
        self.epoch_bar.setFormat("Epoch —")
        self.run_bar.setRange(0, 1)
        self.run_bar.setValue(0)
        self.run_bar.setFormat("Preparing…")
        self.stats_label.setText("")
        self.lr_label.setText("")
        self.set_state("Resuming…" if resuming else
                       "Quick model: reading the data, loading the pretrained weights…" if quick else
                       "Preparing the run (reading data, building the model)…")

    def show_run_started(self, event: RunStarted, learning_rate: float | None) -> None:
        self._run_started_at = time.monotonic()
        self._start_epoch = event.start_epoch
        self._total_epochs = max(event.total_epochs, 1)
        self._batches = max(event.batches_per_epoch, 1)
        self._output_dir = event.output_dir
        self._lr = learning_rate
        sizes = event.split_sizes
        precision = (event.fast_paths or {}).get("mixed precision", "")
        precision_text = f" ({precision} mixed precision)" if precision and precision != "off" else ""
        self.set_state(
            f"Training on {event.device}{precision_text}: {len(event.labels)} labels, train "
            f"{sizes.get('train', 0)} · val {sizes.get('val', 0)} · test {sizes.get('test', 0)} images")
        self.set_fast_paths(event.fast_paths or {})
        notes = tuple(getattr(event, "notes", ()) or ())
        if notes:
            text = self.resume_label.text()
            self.resume_label.setText((text + "<br>" if text else "") + "<br>".join(f"• {html.escape(with_form_labels(n))}" for n in notes))
            self.resume_label.show()
        self.epoch_bar.setRange(0, self._batches)
        self.run_bar.setRange(0, 1000)
        self.run_bar.setValue(int(_share((event.start_epoch - 1) / self._total_epochs) * 1000))
        self.run_bar.setFormat(f"Epoch {event.start_epoch - 1}/{event.total_epochs} done")
        self._show_lr()

    def set_fast_paths(self, fast_paths: dict[str, str]) -> None:
        self.state_label.setToolTip(
            "\n".join(f"{name}: {value}" for name, value in fast_paths.items()))

    def show_batch(self, event: BatchEnd) -> None:
        self._last_batch = event
        self._batch_dirty = True

    def show_epoch(self, event: EpochEnd) -> None:
        self._total_epochs = max(event.total_epochs, 1)  # a time budget's re-plan moves it
        lr = event.metrics.get("lr")
        if lr is not None:
            self._lr = float(lr)
        self._show_lr()
        m = event.metrics
        best = f"best epoch {event.best_epoch}" if event.best_epoch else "no best epoch yet"
        weights = f" ({event.weights} weights)" if event.weights else ""
        self.stats_label.setText(
            f"Epoch {event.epoch}: val loss {fmt_metric(m.get('val_loss'), 4)}, "
            f"val accuracy {fmt_metric(m.get('val_accuracy'))}, val mAP {fmt_metric(m.get('val_map'))}"
            f"{weights} — {best}{patience_text(event)}")

    def show_phase(self, event: PhaseChanged) -> None:
        self._phase = event.phase
        if event.phase in ("probing", "validating", "testing", "saving"):
            self.epoch_bar.setFormat(
                {"probing": "Fitting the head on the pretrained features…",
                 "validating": f"Epoch {event.epoch}: validating…",
                 "testing": "Testing the best model…",
                 "saving": "Saving the final model…"}[event.phase])

    def show_summary(self, html_text: str, output_dir: str) -> None:
        self._output_dir = output_dir
        self.summary_label.setText(html_text)
        self.resume_label.hide()  # said before and during the run; the summary matters now
        self.open_folder_button.setEnabled(bool(output_dir) and Path(output_dir).is_dir())
        self.summary_frame.show()
        QTimer.singleShot(0, self.scroll_log_to_end)

    def output_dir(self) -> str:
        return self._output_dir

    def set_stopping(self) -> None:
        """A stop was requested: no more ETA (the run ends after this batch)."""
        self._stopping = True
        self._batch_dirty = True

    def finish_progress(self, outcome: str = "finished") -> None:
        """The bars at the end of a run: where it got to, without an ETA."""
        self._batch_dirty = False
        event = self._last_batch
        if event is None:
            # Ended before the first batch (e.g. a failed start): nothing stays on "Preparing…".
            self.epoch_bar.setRange(0, 1)
            self.epoch_bar.setValue(0)
            self.epoch_bar.setFormat("Epoch —")
            self.run_bar.setRange(0, 1)
            self.run_bar.setValue(0)
            self.run_bar.setFormat(f"Run {outcome} before the first batch")
            return
        self._refresh_batch(event)
        elapsed = time.monotonic() - self._run_started_at
        self.run_bar.setFormat(f"{self.run_bar.value() / 10:.0f}% — run {outcome} after {format_duration(elapsed)}")

    @Slot(str, int)
    def append_log(self, text: str, level: int) -> None:
        bar = self.log_view.verticalScrollBar()
        following = bar.value() >= bar.maximum() - 4
        self.log_view.appendPlainText(text)
        if following:
            bar.setValue(bar.maximum())

    def scroll_log_to_end(self) -> None:
        bar = self.log_view.verticalScrollBar()
        bar.setValue(bar.maximum())

    # ------------------------------------------------------------- internal
    def _show_lr(self) -> None:
        self.lr_label.setText(f"Learning rate: {self._lr:.3g}" if self._lr is not None else "")

    def _refresh_batch(self, event: BatchEnd) -> None:
        batches = max(event.batches, 1)
        self.epoch_bar.setRange(0, batches)
        self.epoch_bar.setValue(event.batch)
        self.epoch_bar.setFormat(f"Epoch {event.epoch}/{self._total_epochs} — batch {event.batch}/{batches}")
        # The bar counts the whole run (a resumed run starts part-way); the ETA comes
        # from the pace of the epochs this session trained.
        done = _share(((event.epoch - 1) * batches + event.batch) / (self._total_epochs * batches))
        epochs_in_session = max(self._total_epochs - self._start_epoch + 1, 1)
        session_done = _share(((event.epoch - self._start_epoch) * batches + event.batch)
                              / (epochs_in_session * batches))
        self.run_bar.setValue(int(done * 1000))
        elapsed = time.monotonic() - self._run_started_at
        eta = elapsed * (1 - session_done) / session_done if session_done > 0 else 0.0
        remaining = "stopping after this batch" if self._stopping else f"ETA {format_duration(eta)}"
        self.run_bar.setFormat(
            f"{done * 100:.0f}% — elapsed {format_duration(elapsed)}, {remaining} — "
            f"{event.images_per_second:.1f} images/s")

    @Slot()
    def _on_timer_timeout(self) -> None:
        if self._batch_dirty and self._last_batch is not None:
            self._batch_dirty = False
            self._refresh_batch(self._last_batch)

    @Slot()
    def _on_open_folder_button_clicked(self) -> None:
        problem = open_in_file_manager(self._output_dir) if self._output_dir else ""
        if problem:
            self.last_error_box = show_error(self, "Open output folder", problem)


def _share(value: float) -> float:
    return min(max(value, 0.0), 1.0)
