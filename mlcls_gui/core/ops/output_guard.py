"""What an output option may replace: nothing that belongs to a run or a data set
unless the user says so (``--overwrite`` in the CLI, a confirmation in the window).

``export run/final_model.pt --out run/checkpoint.pt`` would replace the best
checkpoint, ``review DATA --csv DATA/labels.csv`` the data set's labels. An
existing file is *kept* when it is a model file, an image, a labels CSV (or
its backup), or one of a run's own files in a run folder; the app's own
journal and lock files, and any symlink, are never written by an output.
Other existing files (an earlier evaluation's JSON) are replaced as before.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mlcls_gui.core.data.data_lock import DATA_LOCK_NAME
from mlcls_gui.core.data.images import is_image_path
from mlcls_gui.core.errors import ConfigError
from mlcls_gui.core.output_names import FIXED_OUTPUT_NAMES, LOCK_NAME, RUN_RECORD_NAME, SUMMARY_NAME
from mlcls_gui.core.review.relabel_journal import JOURNAL_NAME

MODEL_SUFFIXES = (".pt", ".pth", ".onnx", ".ckpt", ".safetensors", ".torchscript")
_NEVER_WRITTEN = (JOURNAL_NAME, LOCK_NAME, DATA_LOCK_NAME)
_RUN_MARKERS = (RUN_RECORD_NAME, SUMMARY_NAME, LOCK_NAME)


@dataclass(frozen=True)
class Kept:
    """Why an existing file is not replaced without asking; ``final``: not even then."""

    reason: str
    final: bool = False


def kept_file(path: str | os.PathLike[str]) -> Kept | None:
    """Why an output must not replace ``path`` without the user's word, or None."""
    target = Path(path).expanduser()
    if target.is_symlink():
        return Kept("is a symbolic link, and outputs are never written through one", final=True)
    if not target.is_file():
        return None
    name = target.name
    if name in _NEVER_WRITTEN or name.startswith(".mlcls-"):
        return Kept("is one of mlcls-gui's own bookkeeping files", final=True)
    if name.lower().endswith(MODEL_SUFFIXES):
        return Kept("is a model file")
    if is_image_path(name):
        return Kept("is an image")
    if _is_labels_csv(target):
        return Kept("is a CSV of image paths and labels (a data set's labels file, earlier predictions, or a backup)")
    if (name in FIXED_OUTPUT_NAMES or name.endswith(".log")) and _is_run_folder(target.parent):
        return Kept(f"belongs to the training run in {target.parent}")
    return None


def check_output_target(path: str | os.PathLike[str], option: str, *, overwrite: bool) -> None:
    """ConfigError (before any work) when ``option``'s file would replace one that is kept."""
    kept = kept_file(path)
    if kept is None or (overwrite and not kept.final):
        return
    if kept.final:
        raise ConfigError(f"{option} {path}: that file {kept.reason}. Choose another file name.")
    raise ConfigError(f"{option} {path}: that file {kept.reason}; it is not replaced unless you add "
                      "--overwrite. Choose another file name, or add --overwrite.")


def _is_labels_csv(path: Path) -> bool:
    name = path.name.lower()
    if name == "labels.csv" or ".csv.bak-" in name:
        return True
    if not name.endswith(".csv"):
        return False
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as handle:
            first = handle.readline(10_000)
    except OSError:
        return False
    # The first column named 'path', as every labels CSV (and predict's CSV) starts.
    cells = [cell.strip().strip('"').casefold() for cell in first.replace(";", ",").replace("\t", ",").split(",")]
    return "path" in cells


def _is_run_folder(folder: Path) -> bool:
    try:
        return any((folder / marker).exists() for marker in _RUN_MARKERS) or any(
            entry.name.endswith(".pt") for entry in os.scandir(folder))
    except OSError:
        return False
