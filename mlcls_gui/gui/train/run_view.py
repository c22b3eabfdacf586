"""Shows a run's progress events in the plots, the run panel and the status bar.

A QObject on the GUI thread, so the worker's signals reach these slots queued
(a plain function would run on the training thread)."""

from __future__ import annotations

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QStatusBar

from mlcls_gui.core.training.events import BatchEnd, CheckpointSaved, EpochEnd, FilesSkipped
from mlcls_gui.gui.train.plots import TrainingPlots
from mlcls_gui.gui.train.run_panel import RunPanel

_CHECKPOINT_WORDS = {"improved": "best checkpoint", "requested": "checkpoint (requested)", "end": "checkpoint"}


class RunView(QObject):
    def __init__(self, plots: TrainingPlots, run_panel: RunPanel, status_bar: QStatusBar,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.plots = plots
        self.run_panel = run_panel
        self.status_bar = status_bar

    def follow(self, worker: QObject) -> None:
        """Connect a TrainingWorker's progress signals."""
        worker.history_loaded.connect(self.show_history)
        worker.batch_finished.connect(self.show_batch)
        worker.epoch_finished.connect(self.show_epoch)
        worker.checkpoint_saved.connect(self.show_checkpoint)
        worker.files_skipped.connect(self.show_skipped)

    @Slot(object)
    def show_history(self, rows: list[dict[str, float]]) -> None:
        self.plots.add_history(rows)

    @Slot(object)
    def show_batch(self, event: BatchEnd) -> None:
        self.plots.add_batch(event)
        self.run_panel.show_batch(event)

    @Slot(object)
    def show_epoch(self, event: EpochEnd) -> None:
        self.plots.add_epoch(event)
        self.run_panel.show_epoch(event)

    @Slot(object)
    def show_checkpoint(self, event: CheckpointSaved) -> None:
        what = _CHECKPOINT_WORDS.get(event.reason, "checkpoint")
        self.status_bar.showMessage(f"Saved {what}: {event.path}", 6000)

    @Slot(object)
    def show_skipped(self, event: FilesSkipped) -> None:
        self.status_bar.showMessage(
            f"{len(event.files)} image(s) could not be read and were skipped (see the log).", 6000)
