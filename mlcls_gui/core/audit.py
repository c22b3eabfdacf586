"""Dataset audit: what exact-match accuracy hides about a multi-label set.

Per-label counts, which labels occur together (co-occurrence), how many
labels images carry (cardinality), rare and strongly imbalanced labels, and
the same image file (by content hash) in more than one split — a leak that
makes test scores look better than they are. For a CSV root, how many
images leave each label unknown (masked out of the loss and the metrics).
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .dataset import SPLIT_NAMES, DatasetSplits

logger = logging.getLogger(__name__)

RARE_IMAGES = 10  # fewer training images than this: the label is hard to learn
IMBALANCE_RATIO = 10.0  # most common label ÷ rarest label above this: strong imbalance


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
        return {
            "labels": list(self.labels),
            "label_counts": self.label_counts,
            "cooccurrence": self.cooccurrence.tolist(),
            "cardinality": {str(k): v for k, v in sorted(self.cardinality.items())},
            "duplicates_across_splits": [list(group) for group in self.duplicates],
            "warnings": list(self.warnings),
            "unknown_counts": dict(self.unknown_counts),
        }

    def to_text(self) -> str:
        labels = self.labels
        width = max([len(label) for label in labels] + [6])
        lines = ["Label co-occurrence (images with both labels):"]
        lines.append(" " * (width + 2) + " ".join(f"{label[:6]:>6}" for label in labels))
        for i, label in enumerate(labels):
            lines.append(f"  {label:<{width}}" + " ".join(f"{int(v):>6}" for v in self.cooccurrence[i]))
        lines.append(
            "Labels per image: "
            + ", ".join(f"{k}: {v} image(s)" for k, v in sorted(self.cardinality.items()))
        )
        if any(self.unknown_counts.values()):
            lines.append("Unknown labels (images): " + ", ".join(
                f"{label} {n}" for label, n in self.unknown_counts.items() if n))
        if self.duplicates:
            lines.append(f"Identical files in more than one split: {len(self.duplicates)} group(s)")
            for group in self.duplicates[:10]:
                lines.append("  " + "  =  ".join(group))
        lines += [f"Warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def audit_dataset(
    splits: DatasetSplits,
    *,
    check_duplicates: bool = True,
    should_stop: Callable[[], bool] | None = None,
) -> DatasetAudit:
    labels = list(splits.labels)
    index = {label: i for i, label in enumerate(labels)}
    everything = [(name, s) for name in SPLIT_NAMES for s in splits.split(name)]
    matrix = np.zeros((len(labels), len(labels)), dtype=np.int64)
    cardinality: Counter[int] = Counter()
    for _, sample in everything:
        ids = [index[label] for label in sample.labels]
        for a in ids:
            for b in ids:
                matrix[a, b] += 1
        cardinality[len(ids)] += 1
    counts = {label: int(matrix[i, i]) for i, label in enumerate(labels)}
    unknown = Counter(label for _, sample in everything for label in sample.unknown)
    unknown_counts = {label: unknown.get(label, 0) for label in labels}
    train_counts = Counter(label for s in splits.train for label in s.labels)
    warnings = []
    for label in labels:
        if train_counts[label] < RARE_IMAGES:
            warnings.append(
                f"Label {label!r} has only {train_counts[label]} training image(s); fewer than "
                f"{RARE_IMAGES} are hard to learn. Add images or turn on pos_weight."
            )
    present = [c for c in (train_counts[label] for label in labels) if c > 0]
    if len(present) >= 2 and max(present) / min(present) > IMBALANCE_RATIO:
        common = max(labels, key=lambda label: train_counts[label])
        rare = min((label for label in labels if train_counts[label]), key=lambda label: train_counts[label])
        warnings.append(
            f"Strong imbalance: {common!r} has {train_counts[common]} training images, {rare!r} "
            f"{train_counts[rare]} ({train_counts[common] / train_counts[rare]:.0f}×). Consider pos_weight, "
            "and judge the model by per-label F1 and AP rather than accuracy."
        )
    for label in labels:
        if unknown_counts[label]:
            warnings.append(
                f"Label {label!r} is unknown for {unknown_counts[label]} of {len(everything)} image(s) "
                "(empty or -1 cells): those are left out of its loss and metrics. Fill them in for a "
                "fuller picture."
            )
    duplicates = _duplicates_across_splits(everything, should_stop) if check_duplicates else ()
    if duplicates:
        warnings.append(
            f"{len(duplicates)} image file(s) appear in more than one split: test scores on them "
            "are not honest. Remove the copies."
        )
    return DatasetAudit(tuple(labels), counts, matrix, dict(cardinality), duplicates, tuple(warnings),
                        unknown_counts)


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
            by_hash[_file_hash(path)].append((split, path))
    groups = [
        tuple(f"{split}:{path}" for split, path in sorted(members))
        for members in by_hash.values()
        if len({split for split, _ in members}) > 1
    ]
    return tuple(sorted(groups))


def _file_hash(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
