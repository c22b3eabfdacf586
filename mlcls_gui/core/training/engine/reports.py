"""What a finished run says about itself: summary.json, the final message, run.json."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from mlcls_gui.core.config import TrainConfig
from mlcls_gui.core.data.splits import DatasetSplits, SkippedFile
from mlcls_gui.core.evaluation.metrics import MetricReport
from mlcls_gui.core.evaluation.report import EvaluationReport
from mlcls_gui.core.files.atomic_files import write_json_atomic
from mlcls_gui.core.output_names import (
    CONFIG_NAME,
    EVALUATION_NAME,
    LAST_CHECKPOINT_NAME,
    METRICS_NAME,
    RUN_RECORD_NAME,
    SUMMARY_NAME,
)
from mlcls_gui.core.runs.outputs import finite_or_none
from mlcls_gui.core.training.engine.run_state import Progress
from mlcls_gui.core.training.events import FinishReason


@dataclass
class EvalResult:
    loss: float
    probabilities: np.ndarray  # (N, L)
    targets: np.ndarray  # (N, L)
    report: MetricReport
    indices: np.ndarray  # (N,) positions of the evaluated images in their split


@dataclass
class RunIdentity:
    """Which run owns a folder (a resume checks it) and what it promises."""

    run_id: str
    started_at: str
    resumed_from: str
    test_held_out: bool = True

    def write_record(self, folder: Path, status: str) -> None:
        write_json_atomic(folder / RUN_RECORD_NAME, {
            "run_id": self.run_id, "started_at": self.started_at, "status": status,
            "resumed_from": self.resumed_from or None,
            "updated_at": datetime.now().isoformat(timespec="seconds"),
        })


def finish_message(reason: FinishReason, progress: Progress, test: EvalResult | None, *, held_out: bool) -> str:
    what = {
        FinishReason.COMPLETED: "Training completed",
        FinishReason.STOPPED: "Training stopped by request",
        FinishReason.EARLY_STOPPED: "Training stopped early (no improvement)",
        FinishReason.TIME_UP: "Training reached its time budget",
    }[reason]
    text = f"{what} after {progress.epoch} epoch(s)"
    if progress.best_epoch:
        text += f"; best epoch {progress.best_epoch}"
        kept = kept_weights(progress)
        if kept:
            text += f" ({kept})"
    if test is not None:
        text += (
            f"; test exact-match {test.report.exact_match:.3f}, mAP "
            f"{test.report.mean_average_precision:.3f}, macro F1 {test.report.macro_f1:.3f}"
        )
        if not held_out:
            text += " (NOT held out: the split changed when the run was resumed)"
    return text + "."


def leak_warning(result: dict[str, Any] | None) -> str:
    """One sentence for the final message when validation or test images have near copies
    in training (the split check's result); '' when none or nothing was checked."""
    if not result:
        return ""
    test, val = result["test_images_with_copy_in_train"], result["val_images_with_copy_in_train"]
    if not test and not val:
        return ""
    parts = [f"{n} {what} image(s)" for n, what in ((test, "test"), (val, "validation")) if n]
    return (f" Warning: {' and '.join(parts)} have a near copy in training, so these scores are "
            "optimistic; check the data's health and keep near copies together (split_groups).")


def kept_weights(progress: Progress) -> str:
    """"EMA weights" or "raw weights": what the best epoch kept (runs with EMA on);
    "" otherwise."""
    row = next((r for r in progress.history if r["epoch"] == progress.best_epoch), None)
    if row is None or "ema_weights" not in row:
        return ""
    return "EMA weights" if row["ema_weights"] else "raw weights"


def write_summary(
    folder: Path, cfg: TrainConfig, *, reason: FinishReason, message: str, started: float,
    progress: Progress, splits: DatasetSplits, labels: list[str], thresholds: list[float],
    test: EvalResult | None, evaluation: EvaluationReport | None, final_path: Path,
    device: str, skipped: list[SkippedFile], identity: RunIdentity, split_check: dict[str, Any] | None = None,
) -> dict[str, Any]:
    best_row = next((r for r in progress.history if r["epoch"] == progress.best_epoch), None)
    report = test.report if test else None
    summary: dict[str, Any] = {
        "reason": reason.value,
        "message": message,
        "best_epoch": progress.best_epoch,
        "monitor": cfg.monitor,
        "best_score": finite_or_none(progress.best_score),
        "epochs_completed": progress.epoch,
        "best_val": best_row,
        # Which weights the checkpoint and final model hold: "EMA weights" or "raw weights"
        # (None when the run kept no EMA).
        "weights": kept_weights(progress) or None,
        "test_exact_match": finite_or_none(report.exact_match) if report else None,
        "test_map": finite_or_none(report.mean_average_precision) if report else None,
        "test_macro_f1": finite_or_none(report.macro_f1) if report else None,
        "test_loss": finite_or_none(test.loss) if test else None,
        "test_per_label_ap": report.per_label_ap() if report else None,
        "thresholds": dict(zip(labels, thresholds)),
        "test_at_thresholds": (
            {k: v for k, v in evaluation.at_thresholds.to_dict().items() if k != "per_label"}
            if evaluation else None
        ),
        # Images the test metrics count; unreadable ones are in skipped_files.
        "test_images": len(test.indices) if test else 0,
        "test_images_in_split": len(splits.test),
        "test_held_out": identity.test_held_out,
        "labels": list(labels),
        "split_sizes": {name: len(splits.split(name)) for name in ("train", "val", "test")},
        # The data health report the split kept near copies together by (None: none), and how
        # many of its groups still cross the splits (given splits are the user's; None: no report).
        "split_groups": splits.split_groups or None,
        "groups_crossing_splits": splits.groups_crossing_splits,
        # Without split_groups: validation and test images with a near copy in training (None: not checked).
        "near_copies_across_splits": split_check,
        "wall_seconds": round(time.monotonic() - started, 3),
        "device": device,
        "skipped_files": [{"path": s.path, "reason": s.reason} for s in skipped],
        "files": {
            "final_model": final_path.name,
            "checkpoint": cfg.checkpoint_name,
            "last_checkpoint": LAST_CHECKPOINT_NAME,
            "log": cfg.log_name,
            "metrics": METRICS_NAME,
            "config": CONFIG_NAME,
            "evaluation": EVALUATION_NAME if evaluation else None,
        },
    }
    write_json_atomic(folder / SUMMARY_NAME, summary)
    identity.write_record(folder, reason.value)
    return summary
