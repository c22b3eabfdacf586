"""What a hook is and what it is given: the running training as a Protocol.

Hooks see the run through ``TrainingRun`` (the Trainer satisfies it), so the
hook modules never import the loop and the loop imports them freely.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from mlcls_gui.core.training.engine.reports import EvalResult
from mlcls_gui.core.training.events import FinishReason

if TYPE_CHECKING:
    import torch

    from mlcls_gui.core.config import TrainConfig
    from mlcls_gui.core.data.splits import DatasetSplits, SkippedFile
    from mlcls_gui.core.training.engine.output_folder import OwnedFolder
    from mlcls_gui.core.training.engine.reports import RunIdentity
    from mlcls_gui.core.training.engine.run_state import Progress, RunState
    from mlcls_gui.core.training.engine.strategy import Strategy
    from mlcls_gui.core.training.events import Event


class TrainingRun(Protocol):
    """The running Trainer as a hook sees it (what the hooks read and write)."""

    config: TrainConfig
    output_dir: Path | None
    progress: Progress
    identity: RunIdentity
    strategy: Strategy | None
    state: RunState | None
    best_state: dict[str, torch.Tensor] | None
    splits: DatasetSplits | None
    labels: list[str]
    thresholds: list[float]
    skipped: list[SkippedFile]
    split_fingerprint: dict[str, Any]
    folder: OwnedFolder | None
    finish_reason: FinishReason | None  # early stopping sets it
    result_summary: dict[str, Any]  # the final outputs set it
    split_check_result: dict[str, Any] | None  # near copies across the split (None: not checked)

    def emit(self, event: Event) -> None: ...


@dataclass
class Outcome:
    """How a run ended, for the hooks that write its final outputs."""

    reason: FinishReason
    started: float
    test: EvalResult | None = None
    message: str = ""
    details: str = ""


class Hook:
    def on_batch_end(self, run: TrainingRun, epoch: int, batch: int, loss: float, lr: float) -> None:
        """After each optimiser step, in every process (a hook decides main-only
        itself); ``lr`` is the rate that step used."""

    def on_epoch_end(self, run: TrainingRun, epoch: int, row: dict[str, float], improved: bool) -> None:
        """After validation, with the epoch's row of metrics."""

    def on_checkpoint_request(self, run: TrainingRun, epoch: int) -> None:
        """Someone asked for a checkpoint now (every process agreed on this batch)."""

    def on_run_end(self, run: TrainingRun, outcome: Outcome) -> None:
        """After the test evaluation (or the failure)."""
