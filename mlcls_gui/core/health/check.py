"""The whole health check of a data folder: scan, features, Datalab, the map, one report."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from mlcls_gui.core.errors import DatasetError
from mlcls_gui.core.health.data_map import map_coordinates
from mlcls_gui.core.health.features import (
    DEFAULT_EXTRACTOR,
    DEFAULT_IMAGE_SIZE,
    image_features,
    load_feature_model,
)
from mlcls_gui.core.health.findings import NEAR_DUPLICATE_THRESHOLD, find_issues
from mlcls_gui.core.health.report import DuplicateGroup, HealthImage, HealthReport, Outlier
from mlcls_gui.core.progress import OnProgress, ShouldStop, never_stop, no_progress

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HealthOptions:
    model: str = ""  # a .pt model file: its features and the split it trained on; "": a pretrained extractor
    arch: str = DEFAULT_EXTRACTOR
    image_size: int = DEFAULT_IMAGE_SIZE
    weights_file: str = ""
    threshold: float = NEAR_DUPLICATE_THRESHOLD
    map_method: str = "pca"
    # The seeded split to check for leakage (a model's own settings win).
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    seed: int = 42
    device: str = "cpu"
    batch_size: int = 32


def check_health(root: str | os.PathLike[str], options: HealthOptions = HealthOptions(), *,
                 on_progress: OnProgress = no_progress, should_stop: ShouldStop = never_stop) -> HealthReport:
    """Near-duplicate groups (with leakage across the split and label conflicts),
    outliers and a 2-D map for every image under ``root``."""
    from mlcls_gui.core.data.dataset import scan_data_root

    started = time.monotonic()
    # Loaded once: its features, and the split it was trained on.
    model = load_feature_model(options.model, options.device) if options.model else None
    split_settings = _split_settings(options, model)
    on_progress(0, 0, "Scanning the data folder")
    splits = scan_data_root(root, val_fraction=split_settings["val_fraction"],
                            test_fraction=split_settings["test_fraction"], seed=split_settings["seed"],
                            groups_file=split_settings.get("split_groups") or None)
    base = Path(splits.root)
    samples = [(sample, name) for name in ("train", "val", "test") for sample in splits.split(name)]
    if len(samples) < 2:
        raise DatasetError(f"{base} holds {len(samples)} image(s): a health check compares at least two.")
    if splits.layout in ("splits", "csv-splits"):
        split_settings = {"given": splits.summary().layout_text}
    features = image_features([sample.path for sample, _ in samples], model=model,
                              arch=options.arch, image_size=options.image_size, weights_file=options.weights_file,
                              device=options.device, batch_size=options.batch_size, on_progress=on_progress,
                              should_stop=should_stop)
    readable = set(features.paths)
    samples = [(sample, name) for sample, name in samples if sample.path in readable]
    if len(samples) < 2:
        raise DatasetError(f"Fewer than two images of {base} could be read: nothing to compare.")
    images = [HealthImage(_relative(sample.path, base), name, tuple(sample.labels)) for sample, name in samples]
    label_index = {label: i for i, label in enumerate(splits.labels)}
    _stop_if_asked(should_stop)
    on_progress(0, 0, "Finding near-duplicates and outliers (cleanlab Datalab)")
    found = find_issues(features.vectors, [[label_index[label] for label in image.labels] for image in images],
                        layout_vectors=features.layout_vectors, threshold=options.threshold)
    _stop_if_asked(should_stop)
    on_progress(0, 0, f"Drawing the map ({options.map_method})")
    xy = map_coordinates(features.vectors, options.map_method)
    groups = [_group(members.members, members.sureness, images) for members in found.groups]
    order = sorted(range(len(images)), key=lambda i: (found.outlier_scores[i], images[i].path))
    outliers = [Outlier(i, float(found.outlier_scores[i]), bool(found.outlier_flags[i])) for i in order]
    report = HealthReport(
        root=str(base), source=features.source, split=split_settings, images=images, groups=groups,
        outliers=outliers, map_method=options.map_method, map_xy=[(float(x), float(y)) for x, y in xy],
        unreadable={_relative(path, base): reason for path, reason in features.unreadable.items()},
        seconds=time.monotonic() - started, threshold=options.threshold)
    logger.info("Health of %s: %s", base, " ".join(report.summary_lines()))
    return report


def _stop_if_asked(should_stop: ShouldStop) -> None:
    """Between the stages: a Cancel during the features ends the check before Datalab
    (the same exception as a cancel inside the feature loop)."""
    if should_stop():
        from mlcls_gui.core.review.label_review import ReviewCancelled

        raise ReviewCancelled()


def _split_settings(options: HealthOptions, model) -> dict:
    settings = {"val_fraction": options.val_fraction, "test_fraction": options.test_fraction, "seed": options.seed}
    if model is not None:  # the split this model was trained on
        settings = {key: type(value)(model.config.get(key, value)) for key, value in settings.items()}
        settings["model"] = str(options.model)
        if model.config.get("split_groups"):  # trained on a group-aware split: that one is checked
            settings["split_groups"] = str(model.config["split_groups"])
    return settings


def _group(members: tuple[int, ...], sureness: float, images: list[HealthImage]) -> DuplicateGroup:
    splits = tuple(images[index].split for index in members)
    labels = {frozenset(images[index].labels) for index in members}
    return DuplicateGroup(members, sureness, splits, crosses_splits=len(set(splits)) > 1,
                          labels_differ=len(labels) > 1)


def _relative(path: str, base: Path) -> str:
    try:
        return Path(path).relative_to(base).as_posix()
    except ValueError:
        return Path(path).as_posix()
