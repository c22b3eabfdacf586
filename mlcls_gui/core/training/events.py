"""What the engine tells its listeners: small frozen records of plain values.

Never tensors: events cross threads (Qt signals) and are written to logs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable, Union

from mlcls_gui.core.data.splits import DatasetSummary


class FinishReason(str, Enum):
    COMPLETED = "completed"
    STOPPED = "stopped"
    EARLY_STOPPED = "early-stopped"
    TIME_UP = "time-up"  # time_budget_minutes reached
    FAILED = "failed"


@dataclass(frozen=True)
class RunStarted:
    output_dir: str
    log_path: str
    labels: tuple[str, ...]
    split_sizes: dict[str, int]
    start_epoch: int  # first epoch this run trains (1-based; > 1 when resuming)
    total_epochs: int
    batches_per_epoch: int
    device: str
    dataset: DatasetSummary | None = None
    fast_paths: dict[str, str] = field(default_factory=dict)
    # What a resume took from its checkpoint or changed (one sentence each).
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class BatchEnd:
    epoch: int
    batch: int  # 1-based within the epoch
    batches: int
    loss: float
    images: int
    images_per_second: float
    global_step: int
    lr: float = float("nan")  # the learning rate this batch's step used


@dataclass(frozen=True)
class EpochEnd:
    epoch: int
    total_epochs: int
    metrics: dict[str, float]  # one row of metrics.csv
    improved: bool
    best_epoch: int
    best_score: float
    epochs_without_improvement: int
    early_stop_limit: int = 0  # epochs without improvement that stop the run (0: unknown)
    weights: str = ""  # "EMA" or "raw": which weights the epoch's val_* scores are (EMA on)


@dataclass(frozen=True)
class CheckpointSaved:
    path: str
    epoch: int
    reason: str  # "improved", "requested" or "end"


@dataclass(frozen=True)
class PhaseChanged:
    phase: str  # "loading", "probing", "training", "validating", "testing", "saving"
    epoch: int


@dataclass(frozen=True)
class FilesSkipped:
    files: tuple[tuple[str, str], ...]  # (path, reason) that failed to decode in training


@dataclass(frozen=True)
class RunFinished:
    reason: FinishReason
    message: str
    output_dir: str
    best_epoch: int
    final_model_path: str  # "" when none could be written
    summary: dict[str, Any]
    details: str = ""  # traceback text when reason is FAILED


Event = Union[RunStarted, BatchEnd, EpochEnd, CheckpointSaved, PhaseChanged, FilesSkipped, RunFinished]
EventSink = Callable[[Event], None]
