"""Dataset audit: what exact-match accuracy hides about a multi-label set.

Per-label counts, which labels occur together (co-occurrence), how many
labels images carry (cardinality), rare and strongly imbalanced labels, and
the same image file (by content hash) in more than one split — a leak that
makes test scores look better than they are. For a CSV root, how many
images leave each label unknown (masked out of the loss and the metrics).

A CSV may have thousands of label columns: the text, the JSON and the warnings
list a bounded number of items of each kind and say how many more there are;
the counts and totals cover every label.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from mlcls_gui.core.data.splits import SPLIT_NAMES, DatasetSplits, Sample
from mlcls_gui.core.errors import field_ref
from mlcls_gui.core.files.digest import file_sha256

logger = logging.getLogger(__name__)

RARE_IMAGES = 10  # fewer training images than this: the label is hard to learn
IMBALANCE_RATIO = 10.0  # most common label ÷ rarest label above this: strong imbalance
MAX_LISTED = 20  # items of each kind of finding listed, then "(and N more)"
MAX_TABLE_LABELS = 20  # the printed co-occurrence table: the most common labels only
MAX_JSON_MATRIX_LABELS = 200  # the JSON's matrix: 40,000 cells at most
_CHUNK_IMAGES = 1024  # images per block of the co-occurrence product


@dataclass(frozen=True)
class DatasetAudit:
    labels: tuple[str, ...]
    label_counts: dict[str, int]  # all splits
    cooccurrence: np.ndarray  # (L, L): images carrying both labels; diagonal = label count
    cardinality: dict[int, int]  # labels per image -> images
    duplicates: tuple[tuple[str, ...], ...]  # groups of identical files in different splits
    warnings: tuple[str, ...]
    unknown_counts: dict[str, int] = field(default_factory=dict)  # label -> images where it is unknown

    def to_dict(self) -> dict:
        shown = self.most_common_labels(MAX_JSON_MATRIX_LABELS)
        return {
            "labels": list(self.labels),
            "label_counts": self.label_counts,
            # The matrix's rows and columns: every label, or the most common ones of a large set.
            "cooccurrence_labels": [self.labels[i] for i in shown],
            "cooccurrence": self.cooccurrence[np.ix_(shown, shown)].tolist() if shown else [],
            "cardinality": {str(k): v for k, v in sorted(self.cardinality.items())},
            "duplicates_across_splits": [list(group) for group in self.duplicates[:MAX_LISTED]],
            "duplicate_groups": len(self.duplicates),
            "warnings": list(self.warnings),
            "unknown_counts": dict(self.unknown_counts),
        }

    def most_common_labels(self, limit: int) -> list[int]:
        """Indices of all labels when there are at most ``limit``, else of the ``limit``
        most common (ties in label order), most common first."""
        order = range(len(self.labels))
        if len(self.labels) <= limit:
            return list(order)
        diagonal = np.diagonal(self.cooccurrence)
        return sorted(order, key=lambda i: (-int(diagonal[i]), i))[:limit]

    def to_text(self) -> str:
        lines = self._cooccurrence_lines()
        cardinality = [f"{k}: {v} image(s)" for k, v in sorted(self.cardinality.items())]
        lines.append("Labels per image: " + listed(cardinality))
        unknown = [f"{label} {n}" for label, n in self.unknown_counts.items() if n]
        if unknown:
            lines.append("Unknown labels (images): " + listed(unknown))
        if self.duplicates:
            lines.append(f"Identical files in more than one split: {len(self.duplicates)} group(s)")
            lines += ["  " + "  =  ".join(group) for group in self.duplicates[:MAX_LISTED]]
            if len(self.duplicates) > MAX_LISTED:
                lines.append(f"  (and {len(self.duplicates) - MAX_LISTED} more)")
        lines += [f"Warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def _cooccurrence_lines(self) -> list[str]:
        shown = self.most_common_labels(MAX_TABLE_LABELS)
        names = [self.labels[i] for i in shown]
        width = max([len(label) for label in names] + [6])
        cut = len(self.labels) - len(shown)
        which = f" of the {len(shown)} most common labels" if cut else ""
        lines = [f"Label co-occurrence{which} (images with both labels):"]
        lines.append(" " * (width + 2) + " ".join(f"{label[:6]:>6}" for label in names))
        for i, label in zip(shown, names):
            lines.append(f"  {label:<{width}}" + " ".join(f"{int(self.cooccurrence[i, j]):>6}" for j in shown))
        if cut:
            in_json = ("all of them" if len(self.labels) <= MAX_JSON_MATRIX_LABELS
                       else f"the {MAX_JSON_MATRIX_LABELS} most common")
            lines.append(f"  (and {cut} more labels; --json FILE holds the table of {in_json})")
        return lines


def listed(items: list[str]) -> str:
    """At most MAX_LISTED items joined by commas, then how many were left out."""
    text = ", ".join(items[:MAX_LISTED])
    return text + (f" (and {len(items) - MAX_LISTED} more)" if len(items) > MAX_LISTED else "")


def audit_dataset(
    splits: DatasetSplits,
    *,
    check_duplicates: bool = True,
    should_stop: Callable[[], bool] | None = None,
) -> DatasetAudit:
    labels = list(splits.labels)
    everything = [(name, s) for name in SPLIT_NAMES for s in splits.split(name)]
    matrix = cooccurrence_matrix(labels, [sample for _, sample in everything])
    cardinality = Counter(len(sample.labels) for _, sample in everything)
    counts = {label: int(matrix[i, i]) for i, label in enumerate(labels)}
    unknown = Counter(label for _, sample in everything for label in sample.unknown)
    unknown_counts = {label: unknown.get(label, 0) for label in labels}
    train_counts = Counter(label for s in splits.train for label in s.labels)
    warnings = _rare_warnings(labels, train_counts)
    present = [c for c in (train_counts[label] for label in labels) if c > 0]
    if len(present) >= 2 and max(present) / min(present) > IMBALANCE_RATIO:
        common = max(labels, key=lambda label: train_counts[label])
        rare = min((label for label in labels if train_counts[label]), key=lambda label: train_counts[label])
        warnings.append(
            f"Strong imbalance: {common!r} has {train_counts[common]} training images, {rare!r} "
            f"{train_counts[rare]} ({train_counts[common] / train_counts[rare]:.0f}×). Consider "
            f"{field_ref('pos_weight', True)}, "
            "and judge the model by per-label F1 and AP rather than accuracy."
        )
    warnings += _unknown_warnings(unknown_counts, len(everything))
    duplicates = _duplicates_across_splits(everything, should_stop) if check_duplicates else ()
    if duplicates:
        warnings.append(
            f"{len(duplicates)} image file(s) appear in more than one split: test scores on them "
            "are not honest. Remove the copies."
        )
    return DatasetAudit(tuple(labels), counts, matrix, dict(cardinality), duplicates, tuple(warnings),
                        unknown_counts)


def cooccurrence_matrix(labels: list[str], samples: list[Sample]) -> np.ndarray:
    """(L, L) images carrying both labels, as blocks of 0/1 rows multiplied: a Python
    loop over every pair of an image's labels takes minutes on thousands of labels."""
    index = {label: i for i, label in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), dtype=np.int32)  # half of int64 on 10,000 labels
    for start in range(0, len(samples), _CHUNK_IMAGES):
        chunk = samples[start:start + _CHUNK_IMAGES]
        block = np.zeros((len(chunk), len(labels)), dtype=np.float32)  # counts <= chunk: exact
        for row, sample in enumerate(chunk):
            block[row, [index[label] for label in sample.labels]] = 1.0
        np.add(matrix, block.T @ block, out=matrix, casting="unsafe")
    return matrix


def _rare_warnings(labels: list[str], train_counts: Counter[str]) -> list[str]:
    rare = [label for label in labels if train_counts[label] < RARE_IMAGES]
    warnings = [
        f"Label {label!r} has only {train_counts[label]} training image(s); fewer than "
        f"{RARE_IMAGES} are hard to learn. Add images or turn on {field_ref('pos_weight')}."
        for label in rare[:MAX_LISTED]
    ]
    if len(rare) > MAX_LISTED:
        warnings.append(f"(and {len(rare) - MAX_LISTED} more like this: {len(rare)} of {len(labels)} "
                        f"labels have fewer than {RARE_IMAGES} training images)")
    return warnings


def _unknown_warnings(unknown_counts: dict[str, int], images: int) -> list[str]:
    partial = [label for label, n in unknown_counts.items() if n]
    warnings = [
        f"Label {label!r} is unknown for {unknown_counts[label]} of {images} image(s) "
        "(empty or -1 cells): those are left out of its loss and metrics. Fill them in for a "
        "fuller picture."
        for label in partial[:MAX_LISTED]
    ]
    if len(partial) > MAX_LISTED:
        warnings.append(f"(and {len(partial) - MAX_LISTED} more like this: {len(partial)} of "
                        f"{len(unknown_counts)} labels are unknown for some images)")
    return warnings


def _duplicates_across_splits(
    everything: list, should_stop: Callable[[], bool] | None
) -> tuple[tuple[str, ...], ...]:
    by_size: defaultdict[int, list[tuple[str, str]]] = defaultdict(list)
    for split, sample in everything:
        try:
            with open(sample.path, "rb") as handle:
                handle.seek(0, 2)
                by_size[handle.tell()].append((split, sample.path))
        except OSError:
            continue
    by_hash: defaultdict[str, list[tuple[str, str]]] = defaultdict(list)
    for same_size in by_size.values():
        if len(same_size) < 2 or len({split for split, _ in same_size}) < 2:
            continue  # only files of equal size in different splits can be leaks
        for split, path in same_size:
            if should_stop is not None and should_stop():
                return ()
            by_hash[file_sha256(path)].append((split, path))
    groups = [
        tuple(f"{split}:{path}" for split, path in sorted(members))
        for members in by_hash.values()
        if len({split for split, _ in members}) > 1
    ]
    return tuple(sorted(groups))


