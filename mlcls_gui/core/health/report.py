"""What a health check found, as one JSON file (``mlcls-health-1``) and a few sentences.

Image paths are relative to the data root (POSIX separators), so a report
stays valid when the data folder moves; ``split_groups`` (a training
setting) reads the same file to keep each group inside one split."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlcls_gui.core.errors import ConfigError, os_reason
from mlcls_gui.core.files.atomic_files import write_json_atomic

REPORT_FORMAT = "mlcls-health-1"
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class HealthImage:
    path: str  # relative to the data root
    split: str  # "train", "val" or "test"
    labels: tuple[str, ...]


@dataclass(frozen=True)
class DuplicateGroup:
    images: tuple[int, ...]  # indexes into HealthReport.images, nearest pair first
    sureness: float  # 1: identical features; 0: at the finder's threshold
    splits: tuple[str, ...]  # the members' splits, in order
    crosses_splits: bool  # leakage: members in more than one split
    labels_differ: bool  # members carry different labels: one of them is wrong


@dataclass(frozen=True)
class Outlier:
    image: int  # index into HealthReport.images
    score: float  # Datalab's outlier score: lower is more unusual
    flagged: bool  # Datalab counts it as an outlier issue


@dataclass
class HealthReport:
    root: str
    source: str  # what made the features
    split: dict[str, Any]  # how images were placed in splits (the seeded split's settings, or "given")
    images: list[HealthImage]
    groups: list[DuplicateGroup]
    outliers: list[Outlier]  # every image, most unusual first
    map_method: str
    map_xy: list[tuple[float, float]]  # one per image ([] without a map)
    unreadable: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    threshold: float = 0.0

    # ------------------------------------------------------------ counts
    def leaking_groups(self) -> list[DuplicateGroup]:
        return [group for group in self.groups if group.crosses_splits]

    def conflicting_groups(self) -> list[DuplicateGroup]:
        return [group for group in self.groups if group.labels_differ]

    def images_with_a_copy_in(self, split: str, other: str) -> int:
        """Images of ``split`` with a near copy in ``other`` (e.g. test images with a copy in train)."""
        return sum(
            sum(1 for index in group.images if self.images[index].split == split)
            for group in self.groups if split in group.splits and other in group.splits)

    def counts(self) -> dict[str, int]:
        return {
            "images": len(self.images), "unreadable": len(self.unreadable),
            "groups": len(self.groups), "images_in_groups": sum(len(g.images) for g in self.groups),
            "leaking_groups": len(self.leaking_groups()),
            "test_images_with_a_copy_in_train": self.images_with_a_copy_in("test", "train"),
            "val_images_with_a_copy_in_train": self.images_with_a_copy_in("val", "train"),
            "groups_with_different_labels": len(self.conflicting_groups()),
            "outliers_flagged": sum(1 for outlier in self.outliers if outlier.flagged),
        }

    def summary_lines(self) -> list[str]:
        counts = self.counts()
        lines = [f"{counts['images']} images checked in {self.seconds:.0f} s ({self.source})."]
        if counts["unreadable"]:
            lines.append(f"{counts['unreadable']} image(s) could not be read and were left out.")
        if not self.groups:
            lines.append("No near-duplicates found.")
        else:
            lines.append(f"{counts['groups']} group(s) of near-duplicates ({counts['images_in_groups']} images).")
        leaks = 0
        for split, other in (("test", "train"), ("val", "train"), ("test", "val")):
            number = self.images_with_a_copy_in(split, other)
            if number:
                leaks += 1
                lines.append(f"{number} {split} image(s) have a near copy in {other}: leakage, the {split} "
                             "score is optimistic.")
        if leaks:
            lines.append("Train with split_groups set to this report to keep each group in one split.")
        if counts["groups_with_different_labels"]:
            lines.append(f"{counts['groups_with_different_labels']} group(s) hold near copies with different "
                         "labels: one of each is likely wrong.")
        lines.append(f"{counts['outliers_flagged']} image(s) flagged as outliers (unlike the rest of the data).")
        return lines

    # ------------------------------------------------------------ file
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": REPORT_FORMAT, "root": self.root, "source": self.source, "split": self.split,
            "threshold": self.threshold, "seconds": round(self.seconds, 2), "counts": self.counts(),
            "summary": self.summary_lines(),
            "images": [{"path": i.path, "split": i.split, "labels": list(i.labels)} for i in self.images],
            "groups": [{
                "images": [self.images[index].path for index in group.images],
                "splits": list(group.splits),
                "labels": [list(self.images[index].labels) for index in group.images],
                "sureness": round(group.sureness, 4), "crosses_splits": group.crosses_splits,
                "labels_differ": group.labels_differ,
            } for group in self.groups],
            "outliers": [{"path": self.images[o.image].path, "split": self.images[o.image].split,
                          "labels": list(self.images[o.image].labels), "score": round(o.score, 6),
                          "flagged": o.flagged} for o in self.outliers],
            "map": {"method": self.map_method,
                    "points": [[round(x, 5), round(y, 5)] for x, y in self.map_xy]},
            "unreadable": dict(self.unreadable),
        }

    def write_json(self, path: str | os.PathLike[str]) -> None:
        target = Path(path).expanduser()
        try:
            write_json_atomic(target, self.to_dict(), indent=1)
        except OSError as exc:
            raise ConfigError(f"Cannot write {target} ({os_reason(exc)}).") from None

    def absolute_path(self, image: int) -> str:
        return str(Path(self.root) / self.images[image].path)
