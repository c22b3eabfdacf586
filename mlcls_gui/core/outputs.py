"""The run's output folder: file names, archiving an earlier run, the reports.

Nothing here trains; the Trainer calls these to write what users open
afterwards (metrics.csv, summary.json's parts).
"""

from __future__ import annotations

import csv
import logging
import math
import os
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

from .config import TrainConfig
from .errors import ConfigError
from .metrics import MetricReport

logger = logging.getLogger(__name__)

METRIC_COLUMNS = (
    "epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "val_map",
    "val_macro_f1", "lr", "epoch_seconds", "images_per_second",
)
LAST_CHECKPOINT_NAME = "last_checkpoint.pt"
MANUAL_CHECKPOINT_NAME = "manual_checkpoint.pt"
METRICS_NAME = "metrics.csv"
SUMMARY_NAME = "summary.json"
CONFIG_NAME = "config.json"
EVALUATION_NAME = "evaluation.json"
ARCHIVE_FOLDER = "previous_runs"


def prepare_output_folder(folder: Path, cfg: TrainConfig, *, archive_previous: bool) -> None:
    """Create the folder, check it is writable, and move an earlier run's
    files into previous_runs/<time>/ so nothing the user had is overwritten."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".mlcls-write-test"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(
            f"Cannot write to the output folder {folder} ({exc.strerror or exc}). Choose "
            "another save_model_folder."
        ) from None
    if not archive_previous:
        return
    names = {cfg.save_model_dir, cfg.checkpoint_dir, cfg.log_name, LAST_CHECKPOINT_NAME,
             MANUAL_CHECKPOINT_NAME, METRICS_NAME, SUMMARY_NAME, CONFIG_NAME}
    existing = [folder / name for name in sorted(names) if (folder / name).exists()]
    if not existing:
        return
    archive = folder / ARCHIVE_FOLDER / datetime.now().strftime("%Y%m%d-%H%M%S")
    suffix = 1
    while archive.exists():
        archive = archive.with_name(f"{archive.name}-{suffix}")
        suffix += 1
    archive.mkdir(parents=True)
    for path in existing:
        shutil.move(str(path), archive / path.name)
    logger.info("Moved the previous run's files to %s", archive)


def write_metrics_csv(path: Path, history: list[dict[str, float]]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=METRIC_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in history:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    os.replace(tmp, path)


def report_dict(report: MetricReport, loss: float) -> dict[str, Any]:
    return {
        "loss": finite_or_none(loss),
        "exact_match": finite_or_none(report.exact_match),
        "map": finite_or_none(report.mean_average_precision),
        "macro_f1": finite_or_none(report.macro_f1),
        "micro_f1": finite_or_none(report.micro_f1),
        "hamming_loss": finite_or_none(report.hamming_loss),
        "per_label_ap": report.per_label_ap(),
    }


def finite_or_none(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(value)
