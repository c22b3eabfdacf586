"""What a scanned data set is: its images (samples), its three splits and
their summary; and the seeded split that makes them.

The scanners (``dataset`` for label folders, ``csv_labels`` for a CSV) both
build these. This module does not import torch.
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from mlcls_gui.core.data.labels import FOLDER_SEPARATOR
from mlcls_gui.core.errors import DatasetError, field_ref, os_reason
from mlcls_gui.core.output_names import UNLABELLED_FOLDER

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
    split_groups: str = ""  # the data health report whose near-copy groups the split kept together
    groups_crossing_splits: int | None = None  # its groups with images in more than one split (None: no report)
    unlabelled: int = 0  # images waiting for labels (unlabelled/, or CSV rows with every label unknown)
    unlabelled_where: str = ""  # where they are, in words

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
        if self.unlabelled:
            lines.append(f"Unlabelled: {self.unlabelled} image(s) {self.unlabelled_where}; training leaves "
                         "them out until they are labelled (Review → Label new images)")
        if self.split_groups:
            crossing = self.groups_crossing_splits or 0
            lines.append(f"Near-copy groups: {_clipped(self.split_groups)}; {crossing} "
                         f"{'crosses' if crossing == 1 else 'cross'} the train/val/test split")
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
    split_groups: str = ""  # the data health report read (config field split_groups)
    groups_crossing_splits: int | None = None  # its groups with images in more than one split
    # Images waiting for labels: never in a split, never moved without an Apply.
    unlabelled: list[str] = field(default_factory=list)

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
            split_groups=self.split_groups,
            groups_crossing_splits=self.groups_crossing_splits,
            unlabelled=len(self.unlabelled),
            unlabelled_where=(f"(rows of {os.path.basename(self.root)} with every label unknown)" if self.is_csv
                              else f"in {UNLABELLED_FOLDER}/") if self.unlabelled else "",
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
    samples: list[Sample], val_fraction: float, test_fraction: float, seed: int,
    groups: Mapping[str, str] | None = None,
) -> tuple[list[Sample], list[Sample], list[Sample]]:
    """Seeded split per label set, keeping at least one image of each set in train.

    Splitting each label combination separately keeps the label mix of the
    three splits alike, and every label that has images appears in train.
    ``groups`` (image path -> group id, e.g. near copies from a data health
    report) keeps each group in one split; images in no group split as without."""
    # Grouped by the known labels only: making a 0 cell unknown changes the
    # loss mask, never which split an image lands in.
    by_set: defaultdict[tuple[str, ...], list[Sample]] = defaultdict(list)
    for sample in sorted(samples, key=lambda s: s.path):
        by_set[sample.labels].append(sample)
    rng = random.Random(seed)
    if groups:
        return _grouped_split(by_set, val_fraction, test_fraction, rng, groups)
    train: list[Sample] = []
    val: list[Sample] = []
    test: list[Sample] = []
    for key in sorted(by_set):
        stratum = by_set[key]
        rng.shuffle(stratum)
        n_test, n_val = _split_counts(len(stratum), val_fraction, test_fraction)
        test.extend(stratum[:n_test])
        val.extend(stratum[n_test:n_test + n_val])
        train.extend(stratum[n_test + n_val:])
    return train, val, test


def _split_counts(n: int, val_fraction: float, test_fraction: float) -> tuple[int, int]:
    """Images of ``n`` that go to test and to val, leaving at least one for train."""
    n_test = int(n * test_fraction + 0.5)
    n_val = int(n * val_fraction + 0.5)
    while n - n_test - n_val < 1 and (n_test or n_val):
        if n_val >= n_test:
            n_val -= 1
        else:
            n_test -= 1
    return n_test, n_val


def _grouped_split(
    by_set: dict[tuple[str, ...], list[Sample]], val_fraction: float, test_fraction: float,
    rng: random.Random, groups: Mapping[str, str],
) -> tuple[list[Sample], list[Sample], list[Sample]]:
    """The split with each group as one unit. Each label set is shuffled as
    without groups; a group sits in the label set most of its members have, at
    its first member's place, and a unit joins test (then val) while that brings
    the split nearer its share of the label set's images. An image in no group
    is a unit of one, so a label set without groups splits exactly as before."""
    members: defaultdict[str, list[Sample]] = defaultdict(list)
    for stratum in by_set.values():
        for sample in stratum:
            group = groups.get(sample.path)
            if group is not None:
                members[group].append(sample)
    home: dict[str, tuple[str, ...]] = {}
    for group, found in members.items():
        sets = Counter(s.labels for s in found)
        home[group] = min(sets, key=lambda key: (-sets[key], key))
    train: list[Sample] = []
    val: list[Sample] = []
    test: list[Sample] = []
    for key in sorted(by_set):
        stratum = by_set[key]
        rng.shuffle(stratum)  # the same draws as without groups
        units: list[list[Sample]] = []
        placed: set[str] = set()
        for sample in stratum:
            group = groups.get(sample.path)
            if group is None or len(members[group]) < 2:
                units.append([sample])
            elif home[group] == key and group not in placed:
                placed.add(group)
                units.append(sorted(members[group], key=lambda s: s.path))
        n_test, n_val = _split_counts(sum(map(len, units)), val_fraction, test_fraction)
        counts = [0, 0]  # images in test, val so far
        kept = 0  # units in train
        for index, unit in enumerate(units):
            last = index == len(units) - 1
            target = next((i for i, wanted in enumerate((n_test, n_val))
                           if 2 * counts[i] + len(unit) <= 2 * wanted), None)
            if target is None or (last and not kept):
                train.extend(unit)
                kept += 1
                continue
            counts[target] += len(unit)
            (test if target == 0 else val).extend(unit)
    return train, val, test


# ------------------------------------------------------------------ split groups
HEALTH_FORMAT = "mlcls-health-1"


@dataclass(frozen=True)
class SplitGroups:
    """The near-copy groups of a data health report, as the scanned images' paths."""

    file: str
    groups: tuple[tuple[str, ...], ...]  # each a group's scanned images (two or more)
    ignored: int  # listed paths that are not among the scanned images

    def mapping(self) -> dict[str, str]:
        """Image path -> group id; groups that share an image are one group."""
        parent = list(range(len(self.groups)))

        def find(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        first: dict[str, int] = {}
        for index, paths in enumerate(self.groups):
            for path in paths:
                if path in first:
                    parent[find(index)] = find(first[path])
                else:
                    first[path] = index
        return {path: str(find(index)) for path, index in first.items()}

    def crossing(self, train: Sequence[Sample], val: Sequence[Sample], test: Sequence[Sample]) -> int:
        """Groups whose images are in more than one split."""
        split_of = {s.path: name for name, part in zip(SPLIT_NAMES, (train, val, test)) for s in part}
        return sum(len({split_of[p] for p in paths if p in split_of}) > 1 for paths in self.groups)


def read_split_groups(file: str | os.PathLike[str], folder: str, samples: Iterable[Sample]) -> SplitGroups:
    """Read a data health report's groups (``{"format": "mlcls-health-1", "groups":
    [{"images": [...]}, ...]}``); image paths are relative to ``folder`` (the
    scanned data root) or absolute. DatasetError, one line, when the file cannot be used."""
    path = Path(file).expanduser().absolute()  # the record names it wherever the run started
    fix = (f"set {field_ref('split_groups')} to a data health report (written by mlcls-gui health … "
           "--json FILE, or saved by the Data health tab), or leave it empty for a plain seeded split")

    def refuse(problem: str) -> DatasetError:
        return DatasetError(f"Split groups file {path} {problem}: {fix}.", field="split_groups")

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise refuse("does not exist") from None
    except UnicodeDecodeError:
        raise refuse("is not UTF-8 text") from None
    except OSError as exc:
        raise refuse(f"cannot be read ({os_reason(exc)})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise refuse(f"is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except RecursionError:
        raise refuse("is nested too deeply to be a data health report") from None
    if not isinstance(data, dict) or data.get("format") != HEALTH_FORMAT:
        found = data.get("format") if isinstance(data, dict) else None
        raise refuse(f"is not a data health report (its format is {found!r}, not {HEALTH_FORMAT!r})")
    listed = data.get("groups")
    if not isinstance(listed, list):
        raise refuse("has no list of groups")
    by_key = {os.path.normcase(os.path.normpath(s.path)): s.path for s in samples}
    groups: list[tuple[str, ...]] = []
    ignored = 0
    for number, group in enumerate(listed, start=1):
        images = group.get("images") if isinstance(group, dict) else None
        if not isinstance(images, list) or not all(isinstance(i, str) and i.strip() for i in images):
            raise refuse(f"has a group (number {number}) without a list of image paths")
        found_paths = []
        for image in images:
            match = _find_sample(image, folder, by_key)
            if match is None:
                ignored += 1
            elif match not in found_paths:
                found_paths.append(match)
        if len(found_paths) > 1:
            groups.append(tuple(found_paths))
    return SplitGroups(str(path), tuple(groups), ignored)


def _find_sample(image: str, folder: str, by_key: Mapping[str, str]) -> str | None:
    """The scanned image path that ``image`` (relative to ``folder``, or absolute) names."""
    full = image if os.path.isabs(image) else os.path.join(folder, *image.split("/"))
    match = by_key.get(os.path.normcase(os.path.normpath(full)))
    if match is None and os.path.isabs(image):  # e.g. the report saw the root through a link
        match = by_key.get(os.path.normcase(os.path.realpath(image)))
    return match


def load_split_groups(file: str | os.PathLike[str] | None, folder: str, samples: Iterable[Sample]) -> SplitGroups | None:
    """The report's groups, or None when no file is named (``split_groups`` empty)."""
    if file is None or not str(file).strip():
        return None
    return read_split_groups(file, folder, samples)


def count_split_groups(
    groups: SplitGroups | None, train: Sequence[Sample], val: Sequence[Sample], test: Sequence[Sample],
    warnings: list[str], *, given: str = "", seeded_val: bool = False,
) -> int | None:
    """Groups that cross the splits (None without a report), with the warnings
    that say so; ``given`` names what gave the split when the user did (then the
    groups could only be counted), ``seeded_val`` that val was split off its train by seed."""
    if groups is None:
        return None
    if groups.ignored:
        warnings.append(f"{groups.ignored} image path(s) in {groups.file} are not among the scanned images "
                        "(the data changed since the report): they were ignored.")
    if given:
        count = f"its {len(groups.groups)} near-copy group(s)"
        warnings.append(
            f"The split is given by {given}, so {field_ref('split_groups')} does not change it: "
            + (f"{count} were kept together only where validation images were split off train, "
               "and counted." if seeded_val else f"{count} were only counted."))
    crossing = groups.crossing(train, val, test)
    if crossing:
        warnings.append(f"{crossing} near-duplicate {'group crosses' if crossing == 1 else 'groups cross'} the "
                        "train/val/test split: the test score may be optimistic.")
    return crossing
