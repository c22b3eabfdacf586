"""Predict many images with a model file, write the CSV, copy into label folders:
``mlcls-gui predict`` and the window's batch-predict panel call this one function.

The CSV has: path, one probability column per label, the predicted label set
joined by '+', and the reason an image could not be read. With ``copy_to``
each readable image is also copied into ``<copy_to>/<predicted labels joined
by '+'>/`` (``_no_label/`` for none): the layout training reads, a quick way
to pre-label new data.

The same refusals for both clients, before the model is loaded: a copy folder
inside a folder being predicted (``check_copy_target``), a copy folder that is
a file or whose parent is missing, a CSV that is a folder or whose folder is
missing. Whether an existing file may be replaced is the client's question
(``--overwrite`` in the CLI, a confirmation in the window). Work goes in
chunks with the progress/cancel protocol of ``core.progress``; stopped
before every image is predicted, nothing is written.

Importing this module imports no torch (the window imports it at start-up).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from mlcls_gui.core.errors import ConfigError, DatasetError, os_reason
from mlcls_gui.core.output_names import NO_LABEL_FOLDER
from mlcls_gui.core.progress import OnProgress, ShouldStop, never_stop, no_progress

if TYPE_CHECKING:
    from mlcls_gui.core.inference.predict import Prediction

CHUNK_SIZE = 32  # images between two progress reports and cancel checks
NO_LABEL = NO_LABEL_FOLDER  # the copy folder of images with no predicted label (training reads it as such)

# Stages reported through on_progress.
LOADING = "Loading the model…"
SEARCHING = "Looking for images…"
PREDICTING = "Predicting"
COPYING = "Copying"


@dataclass
class BatchResult:
    """What a batch prediction did."""

    csv_path: str = ""  # "" when no CSV was asked for
    labels: list[str] = field(default_factory=list)
    thresholds: dict[str, float] = field(default_factory=dict)  # label -> the threshold that decided it
    total: int = 0  # image files found
    predicted: int = 0  # images read and predicted
    predictions: list["Prediction"] = field(default_factory=list)  # in the order of the images found
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # inputs not used: (path, reason)
    copied: int | None = None  # None: no copy asked for (or cancelled before it)
    copy_target: str = ""
    cancelled: bool = False
    label_sets: dict[str, int] = field(default_factory=dict)  # "a+b" (or NO_LABEL) -> images, most first

    @property
    def all_unreadable(self) -> bool:
        """Every image found failed to read (the CLI's exit status 1)."""
        return bool(self.predictions) and self.predicted == 0


def check_batch_targets(inputs: Sequence[str | os.PathLike[str]], csv_path: str = "", copy_to: str = "") -> None:
    """The refusals before any work (ConfigError), the same for the CLI and the window."""
    from mlcls_gui.core.inference.predict import check_copy_target

    if csv_path:
        target = Path(csv_path).expanduser()
        what = f"Cannot write {target}"
        if _probe(target.is_dir, what):
            raise ConfigError(f"{what}: it is a folder; give a file name such as predictions.csv.")
        _require_folder(target.parent, what)
    if copy_to:
        root = Path(copy_to).expanduser()
        what = f"Cannot copy images into {root}"
        if _probe(root.exists, what) and not _probe(root.is_dir, what):
            raise ConfigError(f"{what}: it is a file, not a folder.")
        if not _probe(root.exists, what):
            _require_folder(root.parent, what)
        check_copy_target(inputs, copy_to)


def predict_batch(
    model_path: str | os.PathLike[str],
    inputs: Sequence[str | os.PathLike[str]],
    *,
    csv_path: str = "",
    copy_to: str = "",
    threshold: float | None = None,
    device: str = "cpu",
    chunk_size: int = CHUNK_SIZE,
    on_skipped: Callable[[str, str], None] | None = None,
    on_progress: OnProgress | None = None,
    should_stop: ShouldStop | None = None,
) -> BatchResult:
    """Predict the image files and folders (recursively) in ``inputs``; write
    ``csv_path`` and copy into ``copy_to`` when given.

    ``threshold`` decides every label instead of the model's per-label
    thresholds. ``on_skipped(path, reason)`` hears each input that is not
    used (not an image, missing, an unreadable sub-folder) before the images
    are predicted. Raises ConfigError / DatasetError / CheckpointError for
    what the user must change: a refused target, an unreadable model file, no
    image at all, a predicted label set no folder name can hold."""
    from mlcls_gui.core.inference.predict import (
        Predictor,
        copy_into_label_folders,
        expand_image_paths,
        write_predictions_csv,
    )

    report = on_progress or no_progress
    stop = should_stop or never_stop
    check_batch_targets(inputs, csv_path, copy_to)
    report(0, 0, LOADING)
    predictor = Predictor.from_file(model_path, device=device)
    report(0, 0, SEARCHING)
    images, rejected = expand_image_paths(inputs)
    for path, reason in rejected:
        if on_skipped is not None:
            on_skipped(path, reason)
    if not images:
        shown = ", ".join(str(item) for item in inputs)
        raise DatasetError(f"No image files to predict in {shown}: give image files or folders that hold "
                           "images (sub-folders are searched).")
    result = BatchResult(csv_path=csv_path, labels=list(predictor.labels),
                         thresholds=predictor.thresholds_used(threshold), total=len(images),
                         rejected=list(rejected), copy_target=copy_to)
    predictions: list[Prediction] = []
    for start in range(0, len(images), chunk_size):
        if stop():
            result.cancelled = True
            return result
        predictions.extend(predictor.predict_paths(images[start:start + chunk_size], threshold=threshold))
        report(len(predictions), len(images), PREDICTING)
    result.predictions = predictions
    result.predicted = sum(1 for p in predictions if p.ok)
    result.unreadable = [(p.path, p.error) for p in predictions if not p.ok]
    result.label_sets = dict(Counter(
        "+".join(sorted(p.predicted)) or NO_LABEL for p in predictions if p.ok).most_common())
    if csv_path:
        write_predictions_csv(csv_path, predictor.labels, predictions)
    if copy_to:
        readable = [p for p in predictions if p.ok]
        _check_label_folders(readable)  # all of them before the first copy, not chunk by chunk
        result.copied = 0
        for start in range(0, len(readable), chunk_size):
            if stop():
                result.cancelled = True
                break
            result.copied += copy_into_label_folders(readable[start:start + chunk_size], copy_to,
                                                     none_folder=NO_LABEL)
            report(result.copied, len(readable), COPYING)
    return result


def _check_label_folders(predictions: Sequence["Prediction"]) -> None:
    """Every predicted label set must make a folder name, or nothing is copied."""
    from mlcls_gui.core.data.labels import folder_label_problem

    for prediction in predictions:
        problem = folder_label_problem(sorted(prediction.predicted))
        if problem:
            raise ConfigError(f"Cannot copy into label folders: {problem}. Write the predictions as a CSV "
                              "instead (--csv, or Save CSV in the window).")


def _require_folder(folder: Path, what: str) -> None:
    if _probe(folder.is_dir, what):
        return
    if _probe(folder.exists, what):
        raise ConfigError(f"{what}: {folder} is a file, not a folder.")
    raise ConfigError(f"{what}: the folder {folder} does not exist.")


def _probe(check: Callable[[], bool], what: str) -> bool:
    try:
        return check()
    except (OSError, ValueError) as exc:  # a name too long, a NUL byte
        raise ConfigError(f"{what} ({os_reason(exc)}).") from None
