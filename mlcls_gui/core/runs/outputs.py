"""The run's output folder: file names, archiving an earlier run, the reports.

Nothing here trains; the Trainer calls these to write what users open
afterwards (metrics.csv, summary.json's parts).
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from mlcls_gui.core.config import TrainConfig
from mlcls_gui.core.errors import ConfigError, RunFolderBusyError
from mlcls_gui.core.evaluation.metrics import MetricReport
from mlcls_gui.core.files.atomic_files import is_temporary_for, write_atomic
from mlcls_gui.core.output_names import ARCHIVE_FOLDER, FIXED_OUTPUT_NAMES, LOCK_NAME

logger = logging.getLogger(__name__)

METRIC_COLUMNS = (
    "epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "val_map",
    "val_macro_f1", "lr", "epoch_seconds", "images_per_second",
)
def create_output_folder(folder: Path) -> bool:
    """Create the folder (True when it did not exist) and check it is writable."""
    existed = folder.is_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # A probe of its own: two runs starting together must not delete each other's.
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".mlcls-write-test-") as probe:
            probe.write(b"ok")
    except OSError as exc:
        raise ConfigError(
            f"Cannot write to the output folder {folder} ({exc.strerror or exc}). Choose "
            "another output folder.", field="save_model_folder") from None
    return not existed


def prepare_output_folder(folder: Path, cfg: TrainConfig, *, archive_previous: bool) -> list[str]:
    """In a folder this run owns (locked): drop leftovers of interrupted writes
    and move an earlier run's files into previous_runs/<time>/, so nothing the
    user had is overwritten. Returns what was done, for the run's log (which
    does not exist yet: an earlier run's log is among the files moved)."""
    done = remove_stale_temporaries(folder, cfg)
    archive = archive_previous_run(folder, cfg) if archive_previous else None
    if archive is not None:
        done.append(f"Moved the previous run's files to {archive}")
    return done


def run_file_names(cfg: TrainConfig) -> list[str]:
    """Every file a run writes into its output folder."""
    names = {cfg.final_model_name, cfg.checkpoint_name, cfg.log_name, *FIXED_OUTPUT_NAMES}
    return sorted(names - {ARCHIVE_FOLDER, LOCK_NAME})


def archive_previous_run(folder: Path, cfg: TrainConfig) -> Path | None:
    """Move an earlier run's files into previous_runs/<time>/; return that folder."""
    existing = [folder / name for name in run_file_names(cfg) if (folder / name).exists()]
    if not existing:
        return None
    base = folder / ARCHIVE_FOLDER
    if base.exists() and not base.is_dir():
        raise ConfigError(
            f"{base} is a file, but the earlier run's files are moved into a folder of that "
            "name. Rename or remove that file, or choose another output folder."
        )
    archive = base / datetime.now().strftime("%Y%m%d-%H%M%S")
    suffix = 1
    while archive.exists():
        archive = archive.with_name(f"{archive.name.split('_')[0]}_{suffix}")
        suffix += 1
    try:
        archive.mkdir(parents=True)
        for path in existing:
            shutil.move(str(path), archive / path.name)
    except OSError as exc:
        raise ConfigError(
            f"Could not move the earlier run's files into {archive} ({exc.strerror or exc}); "
            "they are left where they were. Free disk space or choose another output folder."
        ) from None
    return archive


def remove_stale_temporaries(folder: Path, cfg: TrainConfig) -> list[str]:
    """Delete the temporary files of writes that a killed run never finished
    (``.name.XXXX.tmp`` from ``atomic_files``; ``name.tmp`` from older versions'
    CSV/JSON writers). Only a run's own file names: other ``.tmp`` files in the
    folder are not ours."""
    names = run_file_names(cfg)
    removed: list[str] = []
    for path in sorted(folder.glob("*.tmp")):
        ours = path.name in {f"{name}.tmp" for name in names} or any(
            is_temporary_for(path.name, name) for name in names)
        if not ours or not path.is_file():
            continue
        try:
            size = path.stat().st_size
            path.unlink()
        except OSError as exc:
            logger.warning("Could not remove the leftover temporary file %s: %s", path, exc)
            continue
        removed.append(f"Removed {path.name} ({size / 1e6:.1f} MB), left by an interrupted write")
    return removed


def read_json_or_none(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_metrics_csv(path: Path, history: list[dict[str, float]]) -> None:
    # The fixed columns first; a run's own extras (raw vs EMA scores) after them.
    extra = [key for row in history[:1] for key in row if key not in METRIC_COLUMNS]

    def write(handle: TextIO) -> None:
        writer = csv.DictWriter(handle, fieldnames=[*METRIC_COLUMNS, *extra], extrasaction="ignore")
        writer.writeheader()
        for row in history:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})

    write_atomic(path, write, newline="")


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


@dataclass(frozen=True)
class ArchivedRun:
    """One earlier run kept in previous_runs/<date-time>/."""

    path: Path
    size_bytes: int


def archived_runs(folder: str | os.PathLike[str]) -> list[ArchivedRun]:
    """The earlier runs under ``folder``/previous_runs, newest first, with their sizes."""
    base = Path(folder) / ARCHIVE_FOLDER
    try:
        entries = [p for p in base.iterdir() if p.is_dir()]
    except OSError:
        return []
    runs = [ArchivedRun(p, _tree_size(p)) for p in entries]
    return sorted(runs, key=lambda run: run.path.name, reverse=True)


def prune_archived_runs(folder: str | os.PathLike[str], keep: int) -> list[ArchivedRun]:
    """Delete all but the ``keep`` newest earlier runs; return what was deleted.

    Refused (RunFolderBusyError, nothing deleted) while a training run holds
    ``folder``: the window's Delete earlier runs and any other client share
    this rule. The folder's run lock is held while deleting, so no run starts
    there meanwhile (a starting run archives its predecessor into the very
    folder being pruned)."""
    from mlcls_gui.core.runs.run_lock import RunFolderLock, read_lock_owner

    if not (Path(folder) / ARCHIVE_FOLDER).is_dir():
        return []
    owner = read_lock_owner(folder)
    if owner is not None:
        raise RunFolderBusyError(
            f"The output folder {folder} is in use by a training run ({owner.describe()}); "
            "delete its earlier runs after that run has ended.")
    removed = []
    with RunFolderLock(folder):  # refuses, in the same words as a second run, if one started just now
        for run in archived_runs(folder)[max(0, keep):]:
            shutil.rmtree(run.path, ignore_errors=True)
            if not run.path.exists():
                removed.append(run)
                logger.info("Deleted the earlier run %s (%.0f MB)", run.path, run.size_bytes / 1e6)
    return removed


def _tree_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


# ------------------------------------------------ where a window's relative output folder goes
# The config's default output folder is a bare name (``mlcls_output``), which the CLI
# resolves against the shell's directory. A window has no meaningful working directory
# (a desktop launcher may start it in ``/``), so it resolves a relative output folder
# against the data folder's parent (the outputs sit next to the data) or, with no data
# folder, the user's home.
def output_base(images_root: str) -> Path:
    """The folder a relative output folder is resolved against."""
    if images_root.strip():
        root = Path(images_root.strip()).expanduser()
        if root.is_absolute():
            return root.parent
    return Path.home()


def resolve_output_folder(folder: str, images_root: str) -> str:
    """``folder`` as an absolute path (``~`` expanded; relative → see ``output_base``)."""
    text = folder.strip()
    if not text:
        return text
    path = Path(text).expanduser()
    if not path.is_absolute():
        path = output_base(images_root) / path
    return str(path)


def is_relative(folder: str) -> bool:
    text = folder.strip()
    return bool(text) and not Path(text).expanduser().is_absolute()
