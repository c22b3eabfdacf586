"""What a resume continues from, planned before the run starts.

A resume re-runs part of an epoch or restarts the best score in ways the log
alone does not make obvious, so the window says it first (the core's
``ResumePlan``: which epoch the run continues after, whether a mid-epoch
checkpoint's epoch is trained again from its start, which best epoch and score
the new epochs must beat). Planning reads the file (hundreds of MB for large
models), so it runs off the GUI thread; the run then uses the same plan.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal, Slot

from mlcls_gui.gui.widgets.task_runner import TaskRunner

if TYPE_CHECKING:
    from mlcls_gui.core.config import TrainConfig
    from mlcls_gui.core.training.resume import ResumePlan

logger = logging.getLogger(__name__)


class ResumeChecker(QObject):
    """Plans one resume (core.training.resume.plan_resume) in the background.

    ``checked`` / ``failed`` come after the thread has ended, so a slot may
    start the run right away."""

    checked = Signal(object)  # ResumePlan
    failed = Signal(str, str)  # one-line summary, details

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._runner = TaskRunner("resume-info", parent=self)
        self._runner.done.connect(self._on_task_done)
        self._runner.failed.connect(self._on_task_failed)
        self._runner.finished.connect(self._on_task_finished)
        self._outcome: tuple[Any, ...] = ()

    def is_busy(self) -> bool:
        return self._runner.is_busy()

    def check(self, path: str, config: TrainConfig) -> None:
        self._runner.start(lambda _job: _plan(path, config))

    def wait(self, msecs: int = 30_000) -> None:
        """Closing the window: no result is delivered any more."""
        self._runner.shutdown(msecs)

    @Slot(object)
    def _on_task_done(self, plan: ResumePlan) -> None:
        self._outcome = (plan,)

    @Slot(str, str)
    def _on_task_failed(self, summary: str, details: str) -> None:
        self._outcome = (summary, details)

    @Slot()
    def _on_task_finished(self) -> None:
        outcome, self._outcome = self._outcome, ()
        if len(outcome) == 1:
            self.checked.emit(outcome[0])
        elif outcome:
            self.failed.emit(*outcome)


def _plan(path: str, config: TrainConfig) -> ResumePlan:
    """Runs on a background thread; raises the core's CheckpointError for a bad file."""
    from mlcls_gui.core.training.resume import plan_resume

    return plan_resume(path, config)
