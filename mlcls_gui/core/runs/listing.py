"""Every run under some folders, side by side: what each ended with and how they differ.

A run folder holds run.json, config.json, metrics.csv, summary.json and the
model files; earlier runs sit in ``previous_runs/<time>/``. Folders written by
older versions lack run.json or summary.json, a killed run never wrote its
summary, a running one holds the lock file, and any file may be cut short —
so ``read_run`` never raises: each record says what its files tell and lists
what it could not read in ``problems``. The CLI (``mlcls-gui runs``) and the
Runs tab show the same columns (``TABLE_COLUMNS``, ``table_row``).
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable

from mlcls_gui.core.config import field_default, field_names, with_current_names
from mlcls_gui.core.errors import MlclsError
from mlcls_gui.core.output_names import ARCHIVE_FOLDER, CONFIG_NAME, METRICS_NAME, RUN_RECORD_NAME, SUMMARY_NAME
from mlcls_gui.core.runs.run_lock import read_lock_owner

logger = logging.getLogger(__name__)

RUN_FILES = (RUN_RECORD_NAME, CONFIG_NAME, METRICS_NAME, SUMMARY_NAME)
# Shown in columns of their own (or the same for every run in a folder): not "settings that differ".
_OWN_COLUMNS = {"images_root", "arch", "save_model_folder", "format_version"}
_LOG_TAIL_BYTES = 16_384
_ENDINGS = {
    "completed": "finished", "early-stopped": "finished (early stop)", "stopped": "stopped",
    "time-up": "finished (time budget)", "failed": "failed",
}
CURVE_COLUMNS = ("train_loss", "val_loss", "train_accuracy", "val_accuracy", "val_map")


class RunsFolderError(MlclsError):
    """A folder given to look for runs in cannot be used."""


@dataclass
class RunRecord:
    """What one run folder says about its run; None where it does not say."""

    folder: Path
    run_id: str = ""
    started_at: str = ""  # ISO time; from the files' dates when run.json is missing
    ended: str = "unknown"  # finished, finished (early stop), stopped, failed, running, interrupted
    message: str = ""
    data_root: str = ""
    arch: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    epochs: int | None = None
    planned_epochs: int | None = None
    monitor: str = ""
    best_score: float | None = None
    best_epoch: int | None = None
    test_map: float | None = None
    test_exact_match: float | None = None
    test_macro_f1: float | None = None
    wall_seconds: float | None = None
    wall_estimated: bool = False  # summed from metrics.csv's epoch times (no summary.json)
    model_path: Path | None = None  # the final model, when it exists
    resumed_from: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def archived(self) -> bool:
        return self.folder.parent.name == ARCHIVE_FOLDER


@dataclass(frozen=True)
class RunCurves:
    """Per-epoch columns of metrics.csv; NaN where a row has no number."""

    epochs: list[float]
    values: dict[str, list[float]]


@dataclass(frozen=True)
class ConfigDifference:
    name: str
    first: Any  # MISSING when that run's config does not have the field
    second: Any


MISSING = "(not set)"


# ------------------------------------------------------------------ finding
def is_run_folder(folder: Path) -> bool:
    """Whether ``folder`` holds one of a run's files; OSError when it cannot be looked into."""
    return any((folder / name).is_file() for name in RUN_FILES)


def find_run_folders(folders: Iterable[str | os.PathLike[str]], notes: list[str] | None = None) -> list[Path]:
    """Run folders in each folder: itself, its previous_runs/*, and the same one level
    down (a folder of output folders). A folder that does not exist is refused, or
    with ``notes`` given, said there and skipped (the window keeps the others).
    A folder that cannot be looked into is kept: ``read_run`` names it and says why."""
    found: dict[Path, None] = {}
    for given in folders:
        base = Path(given).expanduser()
        problem = _given_folder_problem(base)
        if problem:
            message = (f"{base} {problem}. Give the output folder of a training run "
                       "(the folder that holds metrics.csv and previous_runs/).")
            if notes is None:
                raise RunsFolderError(message)
            notes.append(message)
            continue
        for folder in [base, *_subfolders(base)]:
            for run in [folder, *_subfolders(folder / ARCHIVE_FOLDER)]:
                if _may_be_run(run):
                    found.setdefault(run.resolve(), None)
    return list(found)


def _given_folder_problem(base: Path) -> str:
    """Why a folder the user gave cannot be searched ('' when it can)."""
    try:
        if base.is_dir():
            return ""
        return "is not a folder" if base.exists() else "does not exist"
    except OSError as exc:  # e.g. a folder above it that may not be searched
        return f"cannot be read ({_reason(exc)})"


def _subfolders(folder: Path) -> list[Path]:
    try:
        entries = list(folder.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError:  # a folder that cannot be listed is kept, so that read_run names it
        return [folder] if _is_dir(folder) else []  # (not when its parent is the closed one)
    # One entry that cannot be looked at must not hide its neighbours.
    return sorted(p for p in entries if p.name != ARCHIVE_FOLDER and _is_dir(p))


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:
        return False


def _may_be_run(folder: Path) -> bool:
    try:
        return is_run_folder(folder)
    except OSError:  # cannot be looked into: listed, so that read_run names it and says why
        return True


def _unreadable(folder: Path) -> str:
    """Why the run's files in ``folder`` cannot even be looked at ('' when they can)."""
    try:
        is_run_folder(folder)
    except OSError as exc:  # PermissionError for a folder without read/search permission
        return f"the folder cannot be read ({_reason(exc)})"
    return ""


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def load_runs(folders: Iterable[str | os.PathLike[str]], notes: list[str] | None = None) -> list[RunRecord]:
    """Every run under ``folders``, newest first (``notes``: see ``find_run_folders``)."""
    records = [read_run(folder) for folder in find_run_folders(folders, notes)]
    # Same start second: the output folder's own run is newer than its archived ones.
    return sorted(records, key=lambda r: (r.started_at, not r.archived, r.folder.name), reverse=True)


# ------------------------------------------------------------------ reading
def read_run(folder: str | os.PathLike[str]) -> RunRecord:
    """One run folder as a record; never raises (unreadable parts go to ``problems``)."""
    record = RunRecord(Path(folder))
    unreadable = _unreadable(record.folder)
    if unreadable:
        record.ended, record.message = "unreadable", unreadable
        record.problems.append(unreadable)
        return record
    run = _read_json(record, RUN_RECORD_NAME)
    summary = _read_json(record, SUMMARY_NAME)
    config = _read_json(record, CONFIG_NAME)
    record.config = {k: v for k, v in config.items() if k != "format_version"}
    record.data_root = str(config.get("images_root") or "")
    record.arch = str(config.get("arch") or "")
    record.monitor = str(summary.get("monitor") or config.get("monitor") or "val_loss")
    record.planned_epochs = _int(config.get("n_epochs"))
    record.run_id = str(run.get("run_id") or "")
    record.resumed_from = str(run.get("resumed_from") or "")
    record.started_at = str(run.get("started_at") or "") or _file_date(record.folder)
    rows = read_metrics_rows(record.folder, record.problems)
    _fill_scores(record, summary, rows)
    _fill_ending(record, run, summary)
    record.model_path = _final_model(record.folder, config, summary)
    return record


def _read_json(record: RunRecord, name: str) -> dict[str, Any]:
    path = record.folder / name
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        if name != SUMMARY_NAME:  # a run without a summary says so through its ending
            record.problems.append(f"no {name}")
        return {}
    except OSError as exc:
        record.problems.append(f"{name} cannot be read ({_reason(exc)})")
        return {}
    except (ValueError, RecursionError) as exc:
        record.problems.append(f"{name} cannot be read ({type(exc).__name__})")
        return {}
    if not isinstance(data, dict):
        record.problems.append(f"{name} is not a JSON object")
        return {}
    return data


def read_metrics_rows(folder: Path, problems: list[str] | None = None) -> list[dict[str, float]]:
    """metrics.csv's rows as numbers (NaN where a cell is not one); [] without the file."""
    rows: list[dict[str, float]] = []
    try:
        with open(folder / METRICS_NAME, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                rows.append({str(k): _number(v) for k, v in row.items() if k is not None})
    except FileNotFoundError:
        pass
    except OSError as exc:
        if problems is not None:
            problems.append(f"{METRICS_NAME} cannot be read ({_reason(exc)})")
    except (ValueError, csv.Error) as exc:  # UnicodeDecodeError is a ValueError
        if problems is not None:
            problems.append(f"{METRICS_NAME} cannot be read ({type(exc).__name__})")
    return [row for row in rows if math.isfinite(row.get("epoch", math.nan))]


def _fill_scores(record: RunRecord, summary: dict[str, Any], rows: list[dict[str, float]]) -> None:
    record.epochs = _int(summary.get("epochs_completed"))
    if record.epochs is None and rows:
        record.epochs = int(rows[-1]["epoch"])
    record.best_score = _float(summary.get("best_score"))
    record.best_epoch = _int(summary.get("best_epoch")) or None
    if record.best_score is None and rows:  # older folders: the best row of metrics.csv
        scored = [r for r in rows if math.isfinite(r.get(record.monitor, math.nan))]
        if scored:
            pick = min if record.monitor.endswith("loss") else max
            best = pick(scored, key=lambda r: r[record.monitor])
            record.best_score, record.best_epoch = best[record.monitor], int(best["epoch"])
    record.test_map = _float(summary.get("test_map"))
    record.test_exact_match = _float(summary.get("test_exact_match"))
    record.test_macro_f1 = _float(summary.get("test_macro_f1"))
    record.wall_seconds = _float(summary.get("wall_seconds"))
    if record.wall_seconds is None and rows:
        seconds = [r.get("epoch_seconds", math.nan) for r in rows]
        if all(math.isfinite(s) for s in seconds):
            record.wall_seconds, record.wall_estimated = sum(seconds), True


def _fill_ending(record: RunRecord, run: dict[str, Any], summary: dict[str, Any]) -> None:
    record.message = str(summary.get("message") or "")
    owner = read_lock_owner(record.folder)
    if owner is not None:
        record.ended, record.message = "running", f"training now ({owner.describe()})"
        return
    status = str(run.get("status") or summary.get("reason") or "")
    if status in _ENDINGS:
        record.ended = _ENDINGS[status]
    elif status == "running":
        # "running" but nobody holds the lock: the process ended without a final status.
        failure = _logged_failure(record)
        record.ended = "failed" if failure else "interrupted"
        record.message = failure or "ended without writing its summary (the process was killed?)"
    elif status:
        record.ended = status
    else:  # an older version's folder, or one whose run.json and summary.json are gone
        failure = _logged_failure(record)
        record.ended = "failed" if failure else "unknown"
        record.message = failure or f"no {RUN_RECORD_NAME} or {SUMMARY_NAME} says how this run ended"
    if record.ended == "failed" and not record.message:
        record.message = _logged_failure(record)


def _logged_failure(record: RunRecord) -> str:
    """The 'Run failed: …' line of the run's log, when it has one."""
    name = str(record.config.get("log_name") or field_default("log_name"))
    try:
        with open(record.folder / name, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - _LOG_TAIL_BYTES))
            tail = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    found = re.findall(r"Run failed: (.*)", tail)
    return found[-1].strip() if found else ""


def _final_model(folder: Path, config: dict[str, Any], summary: dict[str, Any]) -> Path | None:
    files = summary.get("files") if isinstance(summary.get("files"), dict) else {}
    name = str(files.get("final_model") or with_current_names(config).get("final_model_name") or field_default("final_model_name"))
    path = folder / Path(name).name  # a name inside the run folder, never a path elsewhere
    try:
        return path if path.is_file() else None
    except OSError:  # a name too long, the folder's permissions changed since: no model to offer
        return None


def _file_date(folder: Path) -> str:
    """When run.json is missing: the newest of the run's files' modification times."""
    times = []
    for name in RUN_FILES:
        try:
            times.append((folder / name).stat().st_mtime)
        except OSError:
            pass
    return datetime.fromtimestamp(max(times)).isoformat(timespec="seconds") if times else ""


def _number(text: Any) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _int(value: Any) -> int | None:
    number = _float(value)
    return int(number) if number is not None else None


# ------------------------------------------------------------------ curves
def read_curves(folder: str | os.PathLike[str]) -> RunCurves:
    rows = read_metrics_rows(Path(folder))
    return RunCurves([r["epoch"] for r in rows],
                     {name: [r.get(name, math.nan) for r in rows] for name in CURVE_COLUMNS})


# ------------------------------------------------------------------ comparing
def setting_value(record: RunRecord, name: str) -> Any:
    """A config field's value; a field older configs lack has its default (it did not exist then)."""
    if name in record.config:
        return record.config[name]
    try:
        return field_default(name)
    except KeyError:
        return MISSING


def differing_settings(records: Iterable[RunRecord]) -> list[str]:
    """Config fields whose value is not the same in every run that has a config."""
    with_config = [r for r in records if r.config]
    if len(with_config) < 2:
        return []
    names = set().union(*(r.config for r in with_config)) - _OWN_COLUMNS
    order = {name: i for i, name in enumerate(field_names())}
    differing = [n for n in names if len({_key(setting_value(r, n)) for r in with_config}) > 1]
    return sorted(differing, key=lambda n: (order.get(n, len(order)), n))


def config_diff(first: RunRecord, second: RunRecord) -> list[ConfigDifference]:
    """Every config field whose value differs between two runs, in the form's order."""
    order = {name: i for i, name in enumerate(field_names())}
    names = (set(first.config) | set(second.config)) - {"format_version"}
    out = []
    for name in sorted(names, key=lambda n: (order.get(n, len(order)), n)):
        a = first.config.get(name, MISSING)
        b = second.config.get(name, MISSING)
        if _key(a) != _key(b):
            out.append(ConfigDifference(name, a, b))
    return out


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


# ------------------------------------------------------------------ the table
# (key, header): the CLI's and the Runs tab's columns, in this order.
TABLE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("started", "Date"), ("folder", "Folder"), ("data_root", "Data root"), ("arch", "Architecture"),
    ("settings", "Settings that differ"), ("epochs", "Epochs"), ("best_val", "Best val"),
    ("test_map", "Test mAP"), ("test_exact_match", "Exact match"), ("test_macro_f1", "Macro F1"),
    ("wall", "Wall time"), ("ended", "Ended"),
)


def table_row(record: RunRecord, differing: list[str]) -> dict[str, Any]:
    """The record's table cells as plain values (the JSON the CLI prints)."""
    return {
        "started": record.started_at, "folder": str(record.folder), "data_root": record.data_root,
        "arch": record.arch,
        "settings": {name: setting_value(record, name) for name in differing} if record.config else {},
        "epochs": record.epochs, "planned_epochs": record.planned_epochs,
        "monitor": record.monitor, "best_val": record.best_score, "best_epoch": record.best_epoch,
        "test_map": record.test_map, "test_exact_match": record.test_exact_match,
        "test_macro_f1": record.test_macro_f1, "wall": record.wall_seconds,
        "wall_estimated": record.wall_estimated, "ended": record.ended, "message": record.message,
        "run_id": record.run_id, "model": str(record.model_path or ""), "problems": list(record.problems),
    }


def cell_text(row: dict[str, Any], key: str) -> str:
    """One cell of ``table_row`` as the table shows it."""
    value = row.get(key)
    if key == "started":
        return str(value or "?").replace("T", " ")[:16]
    if key == "settings":
        return ", ".join(f"{k}={_short(v)}" for k, v in value.items()) if value else ""
    if key == "epochs":
        done = "?" if value is None else str(value)
        return f"{done}/{row['planned_epochs']}" if row.get("planned_epochs") else done
    if key == "best_val":
        if value is None:
            return "—"
        return f"{row['monitor']} {value:.4f}" + (f" (ep {row['best_epoch']})" if row.get("best_epoch") else "")
    if key in ("test_map", "test_exact_match", "test_macro_f1"):
        return "—" if value is None else f"{value:.3f}"
    if key == "wall":
        return "—" if value is None else ("≈" if row.get("wall_estimated") else "") + format_duration(value)
    return "" if value is None else str(value)


def common_root(folders: list[Path]) -> Path | None:
    """The folder every run is under, so a Folder column can show shorter paths."""
    if not folders:
        return None
    try:
        root = Path(os.path.commonpath([str(f) for f in folders]))
    except ValueError:  # different drives
        return None
    return root.parent if root in folders else root


def short_folder(folder: Path, root: Path | None) -> str:
    if root is None:
        return str(folder)
    try:
        return str(folder.relative_to(root))
    except ValueError:
        return str(folder)


def format_duration(seconds: float) -> str:
    """'7.3s', '45s', '2m05s', '1h02m': the one way the app writes a duration."""
    seconds = max(0.0, seconds)
    if seconds < 10:
        return f"{seconds:.1f}s"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    text = str(value)
    return text if len(text) <= 24 else "…" + text[-23:]
