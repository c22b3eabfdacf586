"""What a scanned data set is: its images (samples), its three splits and
their summary; and the seeded split that makes them.

The scanners (``dataset`` for label folders, ``csv_labels`` for a CSV) both
build these. This module does not import torch.
"""

from __future__ import annotations

import os
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from mlcls_gui.core.data.labels import FOLDER_SEPARATOR
from mlcls_gui.core.errors import DatasetError, field_ref

LABEL_SEPARATOR = FOLDER_SEPARATOR
SPLIT_NAMES = ("train", "val", "test")
TEXT_ROWS = 20  # rows of each list in a summary text; the rest is counted


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
                f"The validation split is empty: add images, raise {field_ref('val_fraction')}, or "
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
