"""Evaluate a model file on a labelled data folder: the CLI's ``evaluate`` and the
window's Evaluate tab call this one function."""

from __future__ import annotations

import logging
import os

from mlcls_gui.core.data.dataset import check_data_root, scan_data_root
from mlcls_gui.core.data.splits import Sample
from mlcls_gui.core.errors import DatasetError
from mlcls_gui.core.evaluation.report import EvaluationReport, ImageResult, build_report
from mlcls_gui.core.progress import OnProgress, ShouldStop, never_stop, no_progress

logger = logging.getLogger(__name__)


def evaluate_model_file(
    model_path: str | os.PathLike[str],
    data_root: str | os.PathLike[str],
    *,
    split: str = "all",
    device: str = "cpu",
    threshold: float | None = None,
    batch_size: int = 32,
    on_progress: OnProgress | None = None,
    should_stop: ShouldStop | None = None,
) -> EvaluationReport:
    """Evaluate a model file on a labelled data root (label folders or a CSV).

    ``split`` "all" uses every image under the root; "train", "val" or "test"
    uses that split as training would make it (the model's own seed and
    fractions). ``threshold`` overrides the model's per-label thresholds.
    ``on_progress`` / ``should_stop``: the protocol of ``core.progress``
    (one stage: images evaluated of all; stopped early, the report holds the
    images done so far)."""
    from mlcls_gui.core.inference.predict import Predictor  # torch: imported only when a model is evaluated

    check_data_root(data_root)  # a bad root fails in one line before the model loads
    on_progress = on_progress or no_progress
    should_stop = should_stop or never_stop
    predictor = Predictor.from_file(model_path, device=device)
    config = predictor.config
    splits = scan_data_root(
        data_root, val_fraction=float(config.get("val_fraction", 0.15)),
        test_fraction=float(config.get("test_fraction", 0.15)), seed=int(config.get("seed", 42)),
        groups_file=str(config.get("split_groups") or "") or None,  # the group-aware split it trained on
    )
    samples: list[Sample] = (
        splits.train + splits.val + splits.test if split == "all" else list(splits.split(split))
    )
    if not samples:
        raise DatasetError(f"No labelled images to evaluate in {data_root} (split {split}).")
    warnings = list(splits.warnings)
    unknown = sorted(set(splits.labels) - set(predictor.labels))
    if unknown:
        warnings.append(
            f"The model does not know the label(s) {', '.join(unknown)}; they are ignored."
        )
    missing = sorted(set(predictor.labels) - set(splits.labels))
    if missing:
        warnings.append(f"No images carry the model's label(s) {', '.join(missing)}: their AP is undefined.")
    masked = sum(len(set(s.unknown) & set(predictor.labels)) for s in samples)
    if masked:
        warnings.append(f"{masked} label entries are unknown (empty CSV cells) and left out of the metrics.")
    thresholds = [threshold] * len(predictor.labels) if threshold is not None else predictor.thresholds
    images: list[ImageResult] = []
    skipped = [(s.path, s.reason) for s in splits.skipped]
    for start in range(0, len(samples), batch_size):
        if should_stop():
            break
        chunk = samples[start:start + batch_size]
        for sample, prediction in zip(chunk, predictor.predict_paths([s.path for s in chunk])):
            if not prediction.ok:
                skipped.append((sample.path, prediction.error))
                continue
            images.append(ImageResult(
                sample.path, sample.labels,
                tuple(prediction.probabilities[label] for label in predictor.labels),
                sample.unknown,
            ))
        on_progress(min(start + batch_size, len(samples)), len(samples), "Evaluating")
    return build_report(
        predictor.labels, thresholds, images,
        source={"model": str(model_path), "data_root": str(splits.root), "split": split},
        skipped=skipped, warnings=warnings,
    )
