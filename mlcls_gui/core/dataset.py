"""Scan a data root in the seed's layout, split it, and summarise it.

Layout: every sub-folder of the root is named after the labels of the images
inside it, joined by '+' (``cat+dog/`` holds images showing both). A root that
holds ``train/`` and ``test/`` (and optionally ``val/``) folders, each in that
layout, uses those splits as given. A ``train/`` or ``test/`` folder that holds
images directly is a label folder (a "train" label), not a split; the reason for
the choice is kept in ``layout_reason``.

A root may instead be a CSV file, or a folder holding ``labels.csv`` (see
``csv_labels``); its images may have "unknown" labels (``Sample.unknown``),
which are masked out of the loss and the metrics rather than counted as negatives.

This module does not import torch: the GUI scans folders with it cheaply.
"""

from __future__ import annotations

import errno
import logging
import os
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from .errors import DatasetError
from .images import ImageLoadError, is_image_path, probe_image
from .labels import FOLDER_SEPARATOR, check_labels
from .safe_paths import is_inside

logger = logging.getLogger(__name__)

LABEL_SEPARATOR = FOLDER_SEPARATOR
# Data sets travel: a link that leads out of one could read (or, on relabel, move) anything.
_OUTSIDE = "a symbolic link that leads outside the data folder; copy the files into it instead"
SPLIT_NAMES = ("train", "val", "test")
TEXT_ROWS = 20  # rows of each list in a summary text; the rest is counted
# Files that operating systems drop into folders; never worth a warning.
_SYSTEM_FILES = frozenset({"thumbs.db", "desktop.ini", "icon\r"})


@dataclass(frozen=True)
class Sample:
    path: str
    labels: tuple[str, ...]  # known positives
    unknown: tuple[str, ...] = ()  # labels whose value nobody gave (CSV cells empty or -1)


def label_set_name(sample: Sample) -> str:
    """'cat+dog', '(none)' for an image known to carry no label, plus what is unknown."""
    name = LABEL_SEPARATOR.join(sample.labels) or "(none)"
    return f"{name} (unknown: {', '.join(sample.unknown)})" if sample.unknown else name


@dataclass(frozen=True)
class SkippedFile:
    path: str
    reason: str


@dataclass(frozen=True)
class DatasetSummary:
    """Plain-data description of a scanned root, for the GUI and the CLI."""

    root: str
    layout: str  # "folders"/"csv" (seeded split) or "splits"/"csv-splits" (splits given)
    labels: tuple[str, ...]
    split_sizes: dict[str, int]
    label_counts: dict[str, dict[str, int]]  # split -> label -> images
    label_set_counts: dict[str, int]  # "a+b" -> images (all splits)
    skipped: tuple[SkippedFile, ...]
    warnings: tuple[str, ...]
    problems: tuple[str, ...]  # blocking: training cannot start
    layout_reason: str = ""  # one sentence: why this layout was chosen
    csv_format: str = ""  # CSV roots: "labels column" or "0/1 columns"
    unknown_counts: dict[str, int] = field(default_factory=dict)  # label -> images where it is unknown
    unknown_images: int = 0  # images with at least one unknown label

    @property
    def total_images(self) -> int:
        return sum(self.split_sizes.values())

    @property
    def unknown_cells(self) -> int:
        """(image, label) pairs that are unknown: masked out of loss and metrics."""
        return sum(self.unknown_counts.values())

    @property
    def layout_text(self) -> str:
        return {
            "splits": "train/val/test folders", "folders": "label folders, seeded split",
            "csv": f"CSV, {self.csv_format}, seeded split", "csv-splits": f"CSV, {self.csv_format}, split column",
        }.get(self.layout, self.layout)

    def to_text(self) -> str:
        lines = [f"Data root: {self.root} ({self.layout_text})"]
        if self.layout_reason:
            lines.append(f"Layout: {_clipped(self.layout_reason)}")
        if self.csv_format:
            lines.append(
                f"Unknown label cells: {self.unknown_cells} in {self.unknown_images} image(s) "
                "(left out of the loss and the metrics)"
                + "".join(f"; {label} {n}" for label, n in sorted(self.unknown_counts.items()) if n)
            )
        lines.append(
            "Images: "
            + ", ".join(f"{name} {self.split_sizes.get(name, 0)}" for name in SPLIT_NAMES)
            + f" (total {self.total_images})"
        )
        if self.labels:
            # The most common labels first when they do not all fit (a CSV can have thousands).
            shown = self.labels if len(self.labels) <= TEXT_ROWS else sorted(
                self.labels, key=lambda label: -sum(self.label_counts.get(s, {}).get(label, 0)
                                                     for s in SPLIT_NAMES))[:TEXT_ROWS]
            width = max(len(label) for label in shown)
            lines.append(f"Labels ({len(self.labels)}):        train   val  test")
            for label in shown:
                counts = [self.label_counts.get(s, {}).get(label, 0) for s in SPLIT_NAMES]
                lines.append(f"  {label:<{width}}  {counts[0]:>6} {counts[1]:>5} {counts[2]:>5}")
            _and_more(lines, len(self.labels), len(shown), "labels")
        if self.label_set_counts:
            lines.append("Label sets:")
            ranked = sorted(self.label_set_counts.items(), key=lambda kv: (-kv[1], kv[0]))
            for name, count in ranked[:TEXT_ROWS]:
                lines.append(f"  {_clipped(name)}: {count}")
            _and_more(lines, len(ranked), TEXT_ROWS, "label sets")
        if self.skipped:
            lines.append(f"Skipped files ({len(self.skipped)}):")
            for item in self.skipped[:TEXT_ROWS]:
                lines.append(f"  {item.path}: {item.reason}")
            _and_more(lines, len(self.skipped), TEXT_ROWS, "files")
        for warning in self.warnings:
            lines.append(f"Warning: {warning}")
        for problem in self.problems:
            lines.append(f"Problem: {problem}")
        return "\n".join(lines)


def _clipped(text: str, limit: int = 200) -> str:
    """One line of a summary stays readable when it names hundreds of labels."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text) - limit} more characters)"


def _and_more(lines: list[str], total: int, shown: int, what: str) -> None:
    if total > shown:
        lines.append(f"  (and {total - shown} more {what})")


@dataclass
class DatasetSplits:
    root: str
    layout: str
    labels: list[str]
    train: list[Sample]
    val: list[Sample]
    test: list[Sample]
    skipped: list[SkippedFile] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    layout_reason: str = ""
    csv_format: str = ""  # CSV roots: "labels column" or "0/1 columns"

    @property
    def is_csv(self) -> bool:
        return self.layout.startswith("csv")

    @property
    def folder(self) -> str:
        """The folder image paths are relative to (a CSV root's own folder)."""
        return os.path.dirname(self.root) if self.is_csv else self.root

    def split(self, name: str) -> list[Sample]:
        return {"train": self.train, "val": self.val, "test": self.test}[name]

    def problems(self) -> list[str]:
        """Reasons training cannot start; empty when it can."""
        found: list[str] = []
        total = len(self.train) + len(self.val) + len(self.test)
        if total == 0:
            found.append(
                f"No usable images in {self.root}. Add rows whose path names an image beside the CSV."
                if self.is_csv else
                f"No usable images in {self.root}. Put images into sub-folders named after "
                "their labels, e.g. cat/, dog/, cat+dog/."
            )
            return found
        if not self.train:
            found.append(f"The training split of {self.root} has no images.")
        if not self.val:
            found.append(
                "The validation split is empty: add images, raise val_fraction, or "
                + ("give rows the split val." if self.is_csv else "add a val/ folder.")
            )
        label_sets = {s.labels for s in self.train + self.val + self.test}
        if len(label_sets) < 2:
            only = LABEL_SEPARATOR.join(next(iter(label_sets)))
            found.append(
                f"Every image in {self.root} has the same labels ({only!r}), so there is "
                "nothing to learn. Add " + ("rows" if self.is_csv else "folders")
                + " for other labels or label combinations."
            )
        return found

    def summary(self) -> DatasetSummary:
        label_counts: dict[str, dict[str, int]] = {}
        set_counts: Counter[str] = Counter()
        unknown: Counter[str] = Counter()
        unknown_images = 0
        for name in SPLIT_NAMES:
            counts: Counter[str] = Counter()
            for sample in self.split(name):
                counts.update(sample.labels)
                unknown.update(sample.unknown)
                unknown_images += bool(sample.unknown)
                set_counts[label_set_name(sample)] += 1
            label_counts[name] = {label: counts.get(label, 0) for label in self.labels}
        return DatasetSummary(
            root=self.root,
            layout=self.layout,
            labels=tuple(self.labels),
            split_sizes={name: len(self.split(name)) for name in SPLIT_NAMES},
            label_counts=label_counts,
            label_set_counts=dict(set_counts),
            skipped=tuple(self.skipped),
            warnings=tuple(self.warnings),
            problems=tuple(self.problems()),
            layout_reason=self.layout_reason,
            csv_format=self.csv_format,
            unknown_counts={label: unknown.get(label, 0) for label in self.labels} if self.is_csv else {},
            unknown_images=unknown_images,
        )

    def require_trainable(self) -> None:
        problems = self.problems()
        if problems:
            raise DatasetError(" ".join(problems))


# ------------------------------------------------------------------ labels
def label_matrix(label_sets: Iterable[Sequence[str]], labels: Sequence[str]) -> np.ndarray:
    """(N, L) float32 0/1: row i marks the labels of item i; unknown labels are ignored."""
    rows = list(label_sets)
    index = {label: j for j, label in enumerate(labels)}
    matrix = np.zeros((len(rows), len(labels)), dtype=np.float32)
    for i, item_labels in enumerate(rows):
        for label in item_labels:
            if label in index:
                matrix[i, index[label]] = 1.0
    return matrix


def target_matrix(samples: Sequence[Sample], labels: Sequence[str]) -> np.ndarray:
    """(N, L) float32 training targets: 1 positive, 0 negative, NaN unknown."""
    matrix = label_matrix((s.labels for s in samples), labels)
    index = {label: j for j, label in enumerate(labels)}
    for i, sample in enumerate(samples):
        for label in sample.unknown:
            if label in index:
                matrix[i, index[label]] = np.nan
    return matrix


def parse_label_folder(name: str, *, where: str = "") -> tuple[str, ...]:
    """``"cat + dog"`` → ``("cat", "dog")``; empty parts are refused."""
    parts = [part.strip() for part in name.split(LABEL_SEPARATOR)]
    if any(not part for part in parts):
        location = f" in {where}" if where else ""
        raise DatasetError(
            f"Folder name {name!r}{location} has an empty label (labels are joined by "
            f"'+', as in 'cat+dog'). Rename the folder, e.g. to "
            f"{LABEL_SEPARATOR.join(p for p in parts if p) or 'label'!r}."
        )
    location = f"Folder name {name!r}" + (f" in {where}" if where else "")
    return tuple(sorted(set(check_labels(parts, location))))


# ------------------------------------------------------------------ scanning
def scan_data_root(
    root: str | os.PathLike[str],
    *,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = 42,
) -> DatasetSplits:
    """Find the images and labels under ``root`` and split them.

    Raises DatasetError when the root itself is unusable (missing, not a
    folder, unreadable, badly named label folders); problems that only stop
    training (e.g. an empty validation split) are in ``.problems()``.
    A CSV root (a .csv file, or a folder holding labels.csv) reads its labels
    from the CSV."""
    base = check_data_root(root)
    from .csv_labels import find_labels_csv, scan_csv_root  # it builds on this module

    csv_file = find_labels_csv(base)
    if csv_file is not None:
        return scan_csv_root(csv_file, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)
    skipped: list[SkippedFile] = []
    warnings: list[str] = []
    split_dirs, layout_reason = choose_layout(base, warnings)
    if split_dirs is not None:
        layout = "splits"
        given = {name: _scan_label_folders(path, skipped, warnings, root=base) for name, path in split_dirs.items()}
        train = given.get("train", [])
        test = given.get("test", [])
        if "val" in given:
            val = given["val"]
        else:
            train, val, _ = stratified_split(train, val_fraction, 0.0, seed)
        if "test" not in split_dirs:
            warnings.append("No test/ folder: the run will report no test metrics.")
        for name, path in sorted(_unused_entries(base, split_dirs)):
            skipped.append(SkippedFile(str(path), f"not inside train/, val/ or test/ ({name})"))
    else:
        layout = "folders"
        samples = _scan_label_folders(base, skipped, warnings, root=base)
        train, val, test = stratified_split(samples, val_fraction, test_fraction, seed)

    labels = sorted({label for sample in train + val + test for label in sample.labels})
    warn_about_labels(labels, train, warnings)
    splits = DatasetSplits(
        root=str(base), layout=layout, labels=labels, train=train, val=val, test=test,
        skipped=skipped, warnings=warnings, layout_reason=layout_reason,
    )
    logger.info("Layout of %s: %s. %s", base, layout, layout_reason)
    logger.info(
        "Scanned %s: %d train, %d val, %d test images, %d labels, %d skipped",
        base, len(train), len(val), len(test), len(labels), len(skipped),
    )
    return splits


def check_data_root(root: str | os.PathLike[str]) -> Path:
    """The resolved data root (a folder or a .csv file), or DatasetError (one
    line) saying why it cannot be used."""
    if not str(root).strip():
        raise DatasetError(
            "No data folder chosen: set images_root to the folder with your labelled images "
            "(or to a labels CSV file)."
        )
    base = Path(root).expanduser()
    try:
        # Python 3.11 raises (ENAMETOOLONG, EACCES on a parent) instead of returning False.
        exists, is_dir = base.exists(), base.is_dir()
    except (OSError, ValueError) as exc:
        raise DatasetError(f"Cannot use data folder {base} ({os_reason(exc)}).") from None
    if not exists:
        if base.suffix.lower() == ".csv":
            raise DatasetError(f"Labels CSV {base} does not exist. Choose an existing file (or a data folder).")
        raise DatasetError(f"Data folder {base} does not exist. Choose an existing folder.")
    if not is_dir:
        if base.suffix.lower() == ".csv":
            return base.resolve()
        raise DatasetError(
            f"{base} is a file, not a folder or a .csv file. Choose the folder that holds the "
            "label folders, or a CSV of labels."
        )
    try:
        with os.scandir(base) as entries:  # closed at once: an open iterator warns later
            next(entries, None)
    except OSError as exc:
        raise DatasetError(
            f"Cannot read data folder {base} ({exc.strerror or exc}). Check its permissions."
        ) from None
    return base.resolve()


def os_reason(exc: BaseException) -> str:
    """A short reason for a failed file-system call, e.g. 'Permission denied'."""
    if isinstance(exc, OSError) and exc.errno == errno.ENAMETOOLONG:
        return "path too long: a name over 255 characters or a path over 4096"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


# ------------------------------------------------------------------ layout
@dataclass(frozen=True)
class _FolderShape:
    """What a candidate split folder holds, judged without reading image headers."""

    direct_images: bool = False  # image files right inside it
    label_folders: bool = False  # sub-folders that hold images
    error: str = ""  # why it could not be read

    @property
    def is_split(self) -> bool:
        return self.label_folders and not self.direct_images and not self.error


def choose_layout(base: Path, warnings: list[str]) -> tuple[dict[str, Path] | None, str]:
    """The given train/val/test folders (None for the flat layout) and one
    sentence saying why. A train/ that holds images directly is a label folder:
    a flat root may well have a "train" or "test" label."""
    found = _split_candidates(base)
    if "train" not in found:
        return None, "There is no train/ folder, so the sub-folders are label folders split by seed."
    train_name = found["train"].name
    others = [name for name in ("val", "test") if name in found]
    if not others:
        return None, (
            f"{train_name}/ has no test/ or val/ folder beside it, so it is read as the label {train_name!r}."
        )
    shapes = {name: _folder_shape(path) for name, path in found.items()}
    train = shapes["train"]
    if train.direct_images and train.label_folders:
        warnings.append(
            f"{found['train']} holds images directly and also sub-folders, so it was read as the "
            f"label {train_name!r} (label folders, seeded split). To use it as the training split, "
            "move its images into label folders."
        )
        return None, (
            f"{train_name}/ holds images directly as well as sub-folders, so it is read as the "
            f"label {train_name!r}."
        )
    if not train.is_split:
        return None, f"{train_name}/ {_shape_text(train)}, so it is read as the label {train_name!r}."
    given = [name for name in others if shapes[name].is_split]
    if not given:
        names = _join_names(found[name].name for name in others)
        verb = "do" if len(others) > 1 else "does"
        warnings.append(
            f"{found['train']} holds label folders but {names} {verb} not, so all were read as "
            f"labels (label folders, seeded split). Put label folders into {names} to use the "
            "splits as given."
        )
        return None, f"{names} {verb} not hold label folders, so {train_name}/ and {names} are read as labels."
    names = _join_names(found[name].name for name in ["train", *given])
    return found, f"{names} hold label folders, so their images are used as given."


def _join_names(names: Iterable[str]) -> str:
    """("train", "val", "test") → "train/, val/ and test/"."""
    folders = [f"{name}/" for name in names]
    return folders[0] if len(folders) == 1 else ", ".join(folders[:-1]) + " and " + folders[-1]


def _shape_text(shape: _FolderShape) -> str:
    if shape.error:
        return f"cannot be read ({shape.error})"
    if shape.direct_images:
        return "holds images directly"
    return "holds no label folders with images"


def _split_candidates(base: Path) -> dict[str, Path]:
    found = {}
    with os.scandir(base) as entries:
        for entry in entries:
            if entry.is_dir() and entry.name.lower() in SPLIT_NAMES:
                found[entry.name.lower()] = Path(entry.path)
    return found


def _folder_shape(folder: Path) -> _FolderShape:
    direct_images = label_folders = False
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if _is_hidden(entry.name):
                    continue
                if entry.is_dir():
                    label_folders = label_folders or _holds_an_image(Path(entry.path))
                elif is_image_path(entry.name):
                    direct_images = True
    except OSError as exc:
        return _FolderShape(error=os_reason(exc))
    return _FolderShape(direct_images, label_folders)


def _holds_an_image(folder: Path) -> bool:
    """True at the first image file (by extension) anywhere under ``folder``."""
    for _dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames[:] = [d for d in dirnames if not _is_hidden(d)]
        if any(not _is_hidden(name) and is_image_path(name) for name in filenames):
            return True
    return False


def _unused_entries(base: Path, split_dirs: dict[str, Path]) -> Iterable[tuple[str, Path]]:
    used = {path.name for path in split_dirs.values()}
    for entry in os.scandir(base):
        if entry.name in used or _is_hidden(entry.name):
            continue
        yield entry.name, Path(entry.path)


def _is_hidden(name: str) -> bool:
    return name.startswith(".") or name.lower() in _SYSTEM_FILES


def _scan_label_folders(base: Path, skipped: list[SkippedFile], warnings: list[str], *, root: Path) -> list[Sample]:
    samples: list[Sample] = []
    try:
        entries = sorted(os.scandir(base), key=lambda e: e.name)
    except OSError as exc:
        raise DatasetError(f"Cannot read folder {base} ({exc.strerror or exc}).") from None
    for entry in entries:
        if _is_hidden(entry.name):
            continue
        if not entry.is_dir():
            skipped.append(SkippedFile(entry.path, "not inside a label folder"))
            continue
        if not is_inside(entry.path, root):
            skipped.append(SkippedFile(entry.path, f"{_OUTSIDE} (to {os.path.realpath(entry.path)})"))
            continue
        labels = parse_label_folder(entry.name, where=str(base))
        found = list(_images_under(Path(entry.path), skipped, root))
        if not found:
            warnings.append(f"Folder {entry.path} holds no usable images; its labels are ignored.")
        samples.extend(Sample(path, labels) for path in found)
    return samples


def _images_under(folder: Path, skipped: list[SkippedFile], root: Path) -> Iterable[str]:
    """Image files under ``folder`` (recursively, symlinked folders not followed)."""
    def on_error(exc: OSError) -> None:
        skipped.append(SkippedFile(str(exc.filename), f"cannot read folder ({exc.strerror})"))

    for dirpath, dirnames, filenames in os.walk(folder, onerror=on_error, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not _is_hidden(d))
        for name in sorted(filenames):
            if _is_hidden(name):
                continue
            path = os.path.join(dirpath, name)
            if os.path.islink(path) and not is_inside(path, root):
                skipped.append(SkippedFile(path, _OUTSIDE))
                continue
            if not is_image_path(path):
                suffix = Path(name).suffix or "no extension"
                skipped.append(SkippedFile(path, f"not an image file ({suffix})"))
                continue
            try:
                probe_image(path)
            except ImageLoadError as exc:
                skipped.append(SkippedFile(path, exc.reason))
                continue
            yield path


def warn_about_labels(labels: list[str], train: list[Sample], warnings: list[str]) -> None:
    by_fold: defaultdict[str, list[str]] = defaultdict(list)
    for label in labels:
        by_fold[label.casefold()].append(label)
    for variants in by_fold.values():
        if len(variants) > 1:
            warnings.append(
                "Labels that differ only in case are treated as different labels: "
                + ", ".join(repr(v) for v in variants) + ". Rename the folders if they are the same."
            )
    in_train = {label for sample in train for label in sample.labels}
    for label in labels:
        if label not in in_train:
            warnings.append(f"Label {label!r} has no training images; the model cannot learn it.")


# ------------------------------------------------------------------ splitting
def stratified_split(
    samples: list[Sample], val_fraction: float, test_fraction: float, seed: int
) -> tuple[list[Sample], list[Sample], list[Sample]]:
    """Seeded split per label set, keeping at least one image of each set in train.

    Splitting each label combination separately keeps the label mix of the
    three splits alike, and every label that has images appears in train."""
    # Grouped by the known labels only: making a 0 cell unknown changes the
    # loss mask, never which split an image lands in.
    groups: defaultdict[tuple[str, ...], list[Sample]] = defaultdict(list)
    for sample in sorted(samples, key=lambda s: s.path):
        groups[sample.labels].append(sample)
    rng = random.Random(seed)
    train: list[Sample] = []
    val: list[Sample] = []
    test: list[Sample] = []
    for key in sorted(groups):
        group = groups[key]
        rng.shuffle(group)
        n = len(group)
        n_test = int(n * test_fraction + 0.5)
        n_val = int(n * val_fraction + 0.5)
        while n - n_test - n_val < 1 and (n_test or n_val):
            if n_val >= n_test:
                n_val -= 1
            else:
                n_test -= 1
        test.extend(group[:n_test])
        val.extend(group[n_test:n_test + n_val])
        train.extend(group[n_test + n_val:])
    return train, val, test
