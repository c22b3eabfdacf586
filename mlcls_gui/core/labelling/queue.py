"""The labelling queue: every unlabelled image of a data root with the labels a
model suggests for it, in the order that asks about the most useful image first.

Suggestions come from a model file (.pt or .onnx: its probabilities and tuned
thresholds) or, before any model exists, from a linear probe on pretrained
features over the images labelled so far (``probe``). Nothing here moves a
file: the window (or a caller) applies the accepted labels with
``review.relabel.apply_label_changes``, journaled and undoable."""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field

import numpy as np

from mlcls_gui.core.errors import DatasetError
from mlcls_gui.core.labelling.ordering import ORDERS, at_random, by_diversity, by_uncertainty, threshold_margins
from mlcls_gui.core.labelling.probe import fit_probe
from mlcls_gui.core.progress import OnProgress, ShouldStop, never_stop, no_progress

logger = logging.getLogger(__name__)

# bench_labelling.py (simulated labeller, "objects" set, 600 to label, 3 seeds): the probe's test
# mAP after 50 / 100 / 200 labelled images was 0.630 / 0.625 / 0.641 in diversity order,
# 0.578 / 0.604 / 0.623 at random and 0.569 / 0.589 / 0.617 by uncertainty (which asks about
# look-alikes of one hard case first while few images are labelled).
DEFAULT_ORDER = "diversity"
PROBE_THRESHOLD = 0.5  # a probe's classes are balanced (class_weight), so 0.5 is its even point


@dataclass(frozen=True)
class Suggestion:
    path: str
    confidences: tuple[float, ...]  # per label of the queue (nan: the model does not know the label)
    suggested: tuple[str, ...]  # the labels at or above their threshold
    margin: float  # logits between the least certain label and its threshold (small: unsure)


@dataclass
class LabelQueue:
    root: str
    labels: list[str]
    thresholds: list[float]
    items: list[Suggestion]  # in the queue's order
    order: str
    source: str  # where the suggestions come from, in words
    unreadable: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.items)


def build_queue(root: str | os.PathLike[str], *, model: str = "", order: str = DEFAULT_ORDER, seed: int = 0,
                device: str = "cpu", batch_size: int = 32, on_progress: OnProgress = no_progress,
                should_stop: ShouldStop = never_stop) -> LabelQueue:
    """The queue of ``root``'s unlabelled images, suggested by ``model`` (a model
    file) or, without one, by a linear probe over the labelled images."""
    from mlcls_gui.core.data.dataset import scan_data_root
    from mlcls_gui.core.data.splits import label_matrix

    if order not in ORDERS:
        raise DatasetError(f"Unknown queue order {order!r}; choose one of {', '.join(ORDERS)}.")
    on_progress(0, 0, "Scanning the data folder")
    splits = scan_data_root(root)
    waiting = list(splits.unlabelled)
    if not waiting:
        where = ("give rows every label empty (unknown)" if splits.is_csv
                 else f"put them into {os.path.join(splits.root, 'unlabelled')}")
        raise DatasetError(f"{splits.root} has no unlabelled images. To label new images, {where}.")
    labelled = splits.train + splits.val + splits.test
    labels = list(splits.labels)
    features: dict[str, np.ndarray] = {}
    unreadable: dict[str, str] = {}
    if model:
        probabilities, labels, thresholds, source, unreadable = _from_model(
            model, waiting, labels, device, batch_size, on_progress, should_stop)
    else:
        features, unreadable = _pretrained_features([s.path for s in labelled] + waiting, device, batch_size,
                                                    on_progress, should_stop)
        known = [s for s in labelled if s.path in features]
        thresholds = [PROBE_THRESHOLD] * len(labels)
        readable = [p for p in waiting if p in features]
        if known and labels:
            probe = fit_probe(np.stack([features[s.path] for s in known]),
                              label_matrix([s.labels for s in known], labels), labels)
            probabilities = probe.probabilities(np.stack([features[p] for p in readable]))
            source = f"a linear probe on pretrained features over {len(known)} labelled image(s)"
        else:
            probabilities = np.full((len(readable), len(labels)), np.nan)
            source = "no suggestions yet (label a few images first, or train a model)"
    readable = [p for p in waiting if p not in unreadable]
    # What the scan could not read among them (a PDF dropped in, a truncated file).
    folder = os.path.join(splits.folder, "unlabelled")
    unreadable.update({s.path: s.reason for s in splits.skipped if s.path.startswith(folder + os.sep)})
    permutation = _order(order, probabilities, thresholds, readable, labelled, features, seed,
                         device, batch_size, on_progress, should_stop)
    margins = threshold_margins(np.nan_to_num(probabilities, nan=0.5), np.asarray(thresholds)) \
        if len(labels) else np.zeros(len(readable))
    items = [_suggestion(readable[i], probabilities[i], labels, thresholds, float(margins[i])) for i in permutation]
    logger.info("Labelling queue of %s: %d image(s), %s order, suggestions from %s",
                splits.root, len(items), order, source)
    return LabelQueue(splits.root, labels, list(thresholds), items, order, source, unreadable)


def _suggestion(path: str, row: np.ndarray, labels: list[str], thresholds: list[float], margin: float) -> Suggestion:
    confidences = tuple(float(p) for p in row)
    suggested = tuple(label for label, p, t in zip(labels, confidences, thresholds) if not math.isnan(p) and p >= t)
    return Suggestion(path, confidences, suggested, margin)


def _from_model(model: str, waiting: list[str], data_labels: list[str], device: str, batch_size: int,
                on_progress: OnProgress, should_stop: ShouldStop):
    from mlcls_gui.core.inference.predict import PredictorBase
    from mlcls_gui.core.review.label_review import ReviewCancelled

    predictor = PredictorBase.from_file(model, device=device)
    # The model's labels, then the data's labels it has never seen (no suggestion for those).
    labels = list(predictor.labels) + [label for label in data_labels if label not in predictor.labels]
    thresholds = list(predictor.thresholds) + [PROBE_THRESHOLD] * (len(labels) - len(predictor.labels))
    rows: list[list[float]] = []
    unreadable: dict[str, str] = {}
    for start in range(0, len(waiting), batch_size):
        if should_stop():
            raise ReviewCancelled()
        on_progress(start, len(waiting), "Predicting the unlabelled images")
        for prediction in predictor.predict_paths(waiting[start:start + batch_size], batch_size=batch_size):
            if not prediction.ok:
                unreadable[prediction.path] = prediction.error
                continue
            known = [prediction.probabilities[label] for label in predictor.labels]
            rows.append(known + [math.nan] * (len(labels) - len(known)))
    source = f"the model {os.path.basename(model)}"
    return np.asarray(rows, dtype=float).reshape(-1, len(labels)), labels, thresholds, source, unreadable


def _pretrained_features(paths: list[str], device: str, batch_size: int, on_progress: OnProgress,
                         should_stop: ShouldStop) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Pooled features of the health check's pretrained extractor (installed weights, offline)."""
    from mlcls_gui.core.health.features import image_features

    found = image_features(paths, device=device, batch_size=batch_size, on_progress=on_progress,
                           should_stop=should_stop)
    return dict(zip(found.paths, found.vectors)), dict(found.unreadable)


def _order(order: str, probabilities: np.ndarray, thresholds: list[float], readable: list[str], labelled: list,
           features: dict[str, np.ndarray], seed: int, device: str, batch_size: int,
           on_progress: OnProgress, should_stop: ShouldStop) -> np.ndarray:
    if order == "random" or not len(readable):
        return at_random(len(readable), seed)
    if order == "uncertainty":
        if np.isnan(probabilities).all():  # nothing to be unsure about yet: spread out instead
            order = "diversity"
        else:
            return by_uncertainty(np.nan_to_num(probabilities, nan=0.5), np.asarray(thresholds))
    missing = [p for p in readable + [s.path for s in labelled] if p not in features]
    if missing:
        more, _ = _pretrained_features(missing, device, batch_size, on_progress, should_stop)
        features = {**features, **more}
    pool = np.stack([features[p] for p in readable])
    done = [features[s.path] for s in labelled if s.path in features]
    return by_diversity(pool, np.stack(done) if done else np.zeros((0, pool.shape[1])))
