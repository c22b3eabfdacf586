"""TrainingWorker: supervises one training process from a QThread and re-emits its events as signals.

Every run, one process or several, is a training process of its own
(``core.training.supervised_run``): a crash or an out-of-memory kill ends the
run, not the window, and the GUI thread never shares its interpreter with
training. Wiring (see ``start_training_thread``) is the textbook
``moveToThread`` one: ``thread.started → worker.run``; ``worker.finished/failed
→ thread.quit``; ``deleteLater`` on both. The worker always ends with exactly
one of ``finished(reason, summary)`` or ``failed(summary, details)``.

Stop, "save checkpoint now" and "end now" are requests on ``worker.control`` (a
``RunControl`` of ``threading.Event`` flags) made directly from the GUI thread:
a queued slot would never run while the worker is busy in ``run``. The process's
log records are logged again here, so the run panel's log shows them.
"""

from __future__ import annotations

import logging
import os
import traceback
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from mlcls_gui.core.config import TrainConfig
from mlcls_gui.core.training.events import (
    BatchEnd,
    CheckpointSaved,
    EpochEnd,
    Event,
    FilesSkipped,
    PhaseChanged,
    RunFinished,
    RunStarted,
)
from mlcls_gui.gui.widgets.background import return_to_gui_thread, summarize_exception, track_thread
from mlcls_gui.gui.widgets.field_labels import with_form_labels

if TYPE_CHECKING:
    from mlcls_gui.core.training.resume import ResumePlan

logger = logging.getLogger(__name__)


def training_threads_for(cpu_count: int | None) -> int:
    """Intra-op threads for training: all cores but one, which stays with the GUI.

    On a 2-core machine this is 1. Measured there on the demo run
    (tests/benchmarks/bench_gui_latency.py), 2 threads trained about 20 %
    faster but pushed the GUI thread's p99 stall to 55–61 ms, past the 50 ms
    goal; 1 thread kept it at 25–33 ms."""
    return max(1, (cpu_count or 1) - 1)


class TrainingWorker(QObject):
    run_started = Signal(object)  # RunStarted
    batch_finished = Signal(object)  # BatchEnd
    epoch_finished = Signal(object)  # EpochEnd
    checkpoint_saved = Signal(object)  # CheckpointSaved
    phase_changed = Signal(object)  # PhaseChanged
    files_skipped = Signal(object)  # FilesSkipped
    run_finished = Signal(object)  # RunFinished (the engine's last event)
    history_loaded = Signal(object)  # list of metric rows of the epochs a resumed run already has
    process_started = Signal(int)  # the training process's pid
    finished = Signal(str, object)  # reason ("completed", "stopped", …), summary dict
    failed = Signal(str, str)  # one-line summary, details

    def __init__(self, config: TrainConfig, *, resume_from: str = "", resume_plan: ResumePlan | None = None,
                 torch_threads: int | None = None) -> None:
        super().__init__()
        from mlcls_gui.core.training.run_control import RunControl  # no torch: Start never waits for it

        # A resume the window planned (and showed) is run as planned; a bare
        # ``resume_from`` is planned by the Trainer.
        self.config = resume_plan.config if resume_plan else config
        self.resume_plan = resume_plan
        self.resume_from = resume_plan.path if resume_plan else resume_from
        self.control = RunControl()
        self._torch_threads = torch_threads
        self._signals = {
            RunStarted: self.run_started,
            BatchEnd: self.batch_finished,
            EpochEnd: self.epoch_finished,
            CheckpointSaved: self.checkpoint_saved,
            PhaseChanged: self.phase_changed,
            FilesSkipped: self.files_skipped,
            RunFinished: self.run_finished,
        }

    @Slot()
    def run(self) -> None:
        try:
            if self.resume_from and self.resume_plan is None:
                from mlcls_gui.core.training.resume import plan_resume

                self.resume_plan = plan_resume(self.resume_from, self.config)
                self.config = self.resume_plan.config
            if self.resume_plan is not None:
                self._emit_history(self.resume_plan.model_file.history)
            self.resume_plan = None  # the training process reads its checkpoint itself
            outcome = self._run_supervised()
        except BaseException as exc:  # noqa: BLE001 - every failure reaches the GUI
            return_to_gui_thread(self)
            self.failed.emit(summarize_exception(exc), traceback.format_exc())
            return
        from mlcls_gui.core.training.events import FinishReason

        return_to_gui_thread(self)
        if outcome.reason is FinishReason.FAILED:
            self.failed.emit(with_form_labels(outcome.message), outcome.details)
        else:
            self.finished.emit(outcome.reason.value, outcome.summary)

    def _run_supervised(self) -> Any:
        from mlcls_gui.core.training.supervised_run import run_supervised

        return run_supervised(self.config, self.control, self._on_trainer_event, resume_from=self.resume_from,
                              torch_threads=self._torch_threads, on_log=_log_again,
                              on_process=self.process_started.emit)

    def _emit_history(self, history: Sequence[Mapping[str, Any]]) -> None:
        """The epochs before the checkpoint, so the plots show the whole run."""
        rows = [dict(row) for row in history if isinstance(row, Mapping) and "epoch" in row]
        if rows:
            self.history_loaded.emit(rows)

    def _on_trainer_event(self, event: Event) -> None:
        signal = self._signals.get(type(event))
        if signal is not None:
            signal.emit(event)


def _log_again(line: Any) -> None:
    """A training process's log record, logged here under its own logger's name."""
    logging.getLogger(line.name or __name__).log(line.level, "%s", line.message)


def start_training_thread(worker: TrainingWorker) -> QThread:
    """Move ``worker`` onto a new QThread, wire it, start it and return the thread."""
    thread = QThread()
    thread.setObjectName("mlcls-training")
    worker.moveToThread(thread)
    thread.started.connect(worker.run)
    # Direct: QThread.quit is thread-safe and must not wait for a busy GUI thread.
    worker.finished.connect(thread.quit, Qt.ConnectionType.DirectConnection)
    worker.failed.connect(thread.quit, Qt.ConnectionType.DirectConnection)
    worker.finished.connect(worker.deleteLater)
    worker.failed.connect(worker.deleteLater)
    thread.finished.connect(thread.deleteLater)
    track_thread(thread)
    thread.start()
    return thread


def default_torch_threads() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return training_threads_for(cores)


__all__ = [
    "TrainingWorker",
    "start_training_thread",
    "default_torch_threads",
    "training_threads_for",
]
