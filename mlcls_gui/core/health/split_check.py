"""After a run: do its validation and test images have near copies in its training
split? The data health check's finder (pretrained features, cleanlab Datalab) on
the run's own split, so a run trained on a leaking split says so in its summary."""

from __future__ import annotations

import logging
import time
from typing import Any

from mlcls_gui.core.data.splits import DatasetSplits
from mlcls_gui.core.health.features import image_features
from mlcls_gui.core.health.findings import find_issues

logger = logging.getLogger(__name__)
EXAMPLES = 3  # pairs named in the summary


def near_copies_across_splits(splits: DatasetSplits, device: str = "cpu") -> dict[str, Any]:
    """Counts of validation and test images with a near copy in training, a few examples,
    and what was checked (for summary.json)."""
    started = time.monotonic()
    samples = [(sample.path, name) for name in ("train", "val", "test") for sample in splits.split(name)]
    features = image_features([path for path, _ in samples], device=device)
    split_of = dict(samples)
    paths = features.paths
    groups = find_issues(features.vectors, layout_vectors=features.layout_vectors, outlier_neighbours=2).groups
    with_copy: dict[str, set[str]] = {"val": set(), "test": set()}
    examples: list[list[str]] = []
    for group in groups:
        members = [paths[i] for i in group.members]
        train = [p for p in members if split_of[p] == "train"]
        if not train:
            continue
        for path in members:
            if split_of[path] in with_copy:
                with_copy[split_of[path]].add(path)
                if len(examples) < EXAMPLES and split_of[path] == "test":
                    examples.append([path, train[0]])
    result = {
        "test_images_with_copy_in_train": len(with_copy["test"]),
        "val_images_with_copy_in_train": len(with_copy["val"]),
        "examples": examples, "checked_images": len(paths),
        "features": features.source, "seconds": round(time.monotonic() - started, 1),
    }
    logger.info("Near copies across the split: %d test and %d validation image(s) have one in train "
                "(%d images checked in %.0f s)", result["test_images_with_copy_in_train"],
                result["val_images_with_copy_in_train"], len(paths), result["seconds"])
    return result

