"""What a resume continues from, read from the checkpoint before the run starts.

A resume re-runs part of an epoch or restarts the best score in ways the log
alone does not make obvious, so the window says it first: which epoch the run
continues after, whether a mid-epoch checkpoint's epoch is trained again from
its start, and which best epoch (and score) the new epochs must beat.
``read_resume_info`` loads the file (hundreds of MB for large models), so it
runs off the GUI thread.
"""

from __future__ import annotations

import html
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from mlcls_gui.core.config import with_current_names
from mlcls_gui.gui.widgets.task_runner import TaskRunner

logger = logging.getLogger(__name__)

KIND_NAMES = {
    "best": "the best checkpoint",
    "last": "the checkpoint of the last completed epoch",
    "manual": "a checkpoint saved on request, mid-epoch",
    "model": "a final model",
}


@dataclass(frozen=True)
class ResumeInfo:
    path: str
    kind: str
    epoch: int  # epochs completed (the run continues with epoch + 1)
    partial_epoch: int  # the epoch a mid-epoch checkpoint was saved in (0: none)
    best_epoch: int
    best_score: float
    monitor: str
    best_kept: bool  # the best epoch's weights are available, so the best score carries over
    total_epochs: int  # the form's Epochs: where the resumed run ends

    def sentences(self) -> list[str]:
        """Plain sentences for the dialog and the run panel."""
        name = Path(self.path).name
        kind = KIND_NAMES.get(self.kind, "a checkpoint")
        lines = [f"{name} is {kind}, written after epoch {self.epoch}."]
        if self.kind == "manual" and self.partial_epoch:
            lines[0] = f"{name} is {kind} during epoch {self.partial_epoch}."
            lines.append(
                f"Epoch {self.partial_epoch} is trained again from its start (its batches before the "
                "save are not skipped), starting from the weights saved mid-epoch.")
        next_epoch = self.epoch + 1
        if next_epoch > self.total_epochs:
            lines.append(
                f"The run already has {self.epoch} epoch(s) and “Epochs” is {self.total_epochs}: "
                "nothing is left to train. Raise “Epochs” to train longer.")
        else:
            lines.append(f"Training continues after epoch {self.epoch}, with epoch {next_epoch} "
                         f"of {self.total_epochs}.")
        if self.best_epoch and self.best_kept:
            lines.append(f"The best checkpoint so far is epoch {self.best_epoch} "
                         f"({self.monitor} {_score(self.best_score)}); new epochs must beat it.")
        elif self.best_epoch:
            lines.append(
                f"The best epoch so far was {self.best_epoch}, but its weights are neither in this file "
                "nor in the best checkpoint beside it: the best score starts again.")
        else:
            lines.append("No best epoch yet: the first validated epoch becomes the best.")
        return lines

    def text(self) -> str:
        return " ".join(self.sentences())

    def html(self) -> str:
        return "<br>".join(html.escape(line) for line in self.sentences())


def _score(value: float) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.4f}"


def read_resume_info(path: str, total_epochs: int) -> ResumeInfo:
    """Runs on a background thread; raises the core's CheckpointError for a bad file."""
    from mlcls_gui.core.model_file.checkpoint import load_model_file

    payload = load_model_file(path)
    best_epoch = int(payload.get("best_epoch") or 0)
    kind = str(payload.get("kind") or "")
    config = payload.get("config") if isinstance(payload.get("config"), dict) else {}
    best_kept = bool(best_epoch) and (kind in ("best", "model") or _best_beside(path, payload, config))
    return ResumeInfo(
        path=str(path), kind=kind, epoch=int(payload.get("epoch") or 0),
        partial_epoch=int(payload.get("partial_epoch") or 0), best_epoch=best_epoch,
        best_score=float(payload.get("best_score", math.nan)),
        monitor=str(config.get("monitor") or "score"), best_kept=best_kept,
        total_epochs=int(total_epochs),
    )


def _best_beside(path: str, payload: dict[str, Any], config: dict[str, Any]) -> bool:
    """The engine finds the best weights in the best checkpoint of the folder the
    run continues in (the checkpoint's own folder) when it holds the same best epoch."""
    from mlcls_gui.core.errors import CheckpointError
    from mlcls_gui.core.model_file.checkpoint import load_model_file

    candidate = Path(path).expanduser().parent / str(with_current_names(config).get("checkpoint_name") or "checkpoint.pt")
    if not candidate.is_file() or candidate.resolve() == Path(path).expanduser().resolve():
        return False
    try:
        best = load_model_file(candidate)
    except CheckpointError as exc:
        logger.info("Best checkpoint %s not usable: %s", candidate, exc)
        return False
    return best.get("best_epoch") == payload.get("best_epoch") and list(best["labels"]) == list(payload["labels"])


class ResumeChecker(QObject):
    """Reads one checkpoint's ResumeInfo in the background.

    ``checked`` / ``failed`` come after the thread has ended, so a slot may
    start the run right away."""

    checked = Signal(object)  # ResumeInfo
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

    def check(self, path: str, total_epochs: int) -> None:
        self._runner.start(lambda _job: read_resume_info(path, total_epochs))

    def wait(self, msecs: int = 30_000) -> None:
        """Closing the window: no result is delivered any more."""
        self._runner.shutdown(msecs)

    @Slot(object)
    def _on_task_done(self, info: ResumeInfo) -> None:
        self._outcome = (info,)

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
