"""Label-issue finder: rank every labelled image by how likely a label is wrong or missing.

How the probabilities stay out-of-sample: the penultimate (un-augmented)
features of every image are computed once with a model, then k-fold
logistic-regression heads are trained on those features, and each image gets
its probabilities from the head whose training folds did not include it.
That takes seconds on a CPU (the features are the only pass through the
network), where k training runs would take k times a full training. The
ranking itself is cleanlab's (``cleanlab.multilabel_classification``):
``rank.get_label_quality_scores`` orders the images, ``filter.find_label_issues``
flags the likely issues.

Without a model, one is trained briefly for the review (resnet18 at 64 px for
10 epochs from random weights by default). Its feature extractor saw the
labels of its training split, so for those images only the heads are
out-of-sample; the report says so.

Cross-fitting (``ReviewOptions.cross_fit`` = K >= 2, ``--cross-fit K``) makes
that path fully out-of-sample: the images are dealt into K parts (stratified
by label set), K models are trained through the Trainer in memory (no output
folder), each on the other parts, and each image is scored by the sigmoid
outputs of the model that never saw it. It is not the default because it
ranked worse at the same cost. Measured with the loop cross-fitting had of
its own before, precision at k = number moved, demo shapes (450 images, 45 = 10 % moved into
other label folders, one seed each, so ±0.07 or so; a 2-core CPU shared with
other jobs):

* 64 px, 10 epochs: one model + heads (default) 0.58 in 497 s; cross-fit K=2
  0.31 with its own sigmoids, 0.40 with 5-fold heads on each part's features
  (633 s under heavier load); K=2 with 20 epochs (twice the cost) 0.40 / 0.44,
  0.49 for the mean of the two.
* 32 px: default 0.29; K=2 10 epochs 0.24 (sigmoids) / 0.16 (heads), with a
  constant instead of a cosine learning rate 0.24 / 0.22, 20 epochs (twice
  the cost) 0.33 / 0.20.

Half the images per model costs more in model quality than the held-out
scoring gains. (The coloured discs of the tests, 240 images with tiny_cnn,
measured 0.92 with the default; cross-fitting was not measured there.)
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from mlcls_gui.core.data.dataset import scan_data_root
from mlcls_gui.core.data.splits import DatasetSplits, Sample, label_matrix
from mlcls_gui.core.errors import MlclsError, os_reason
from mlcls_gui.core.files.atomic_files import write_csv_atomic, write_text_atomic
from mlcls_gui.core.progress import OnProgress, ShouldStop, never_stop, no_progress
from mlcls_gui.core.review.options import LabelReviewError, ReviewOptions

logger = logging.getLogger(__name__)

MIN_IMAGES_PER_FOLD = 2


class ReviewCancelled(MlclsError):
    """The user cancelled the review (inside; ``review_labels`` returns a cancelled report)."""

    def __init__(self) -> None:
        super().__init__("The label review was cancelled.")


@dataclass(frozen=True)
class ReviewItem:
    path: str
    given: tuple[str, ...]
    suggested: tuple[str, ...]
    score: float  # 1 - cleanlab's label quality: higher = more suspicious
    probabilities: dict[str, float]  # out-of-sample, per label
    split: str
    flagged: bool  # cleanlab's find_label_issues counts it as a likely issue

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path, "given": list(self.given), "suggested": list(self.suggested),
            "score": round(self.score, 6), "flagged": self.flagged, "split": self.split,
            "probabilities": {k: round(v, 6) for k, v in self.probabilities.items()},
        }


@dataclass
class ReviewReport:
    root: str
    labels: list[str]
    items: list[ReviewItem]  # most suspicious first
    method: str  # how the probabilities were made, for the user
    model: str  # the model file used, "" when one was trained for the review
    seconds: float
    notes: list[str] = field(default_factory=list)
    cancelled: bool = False  # stopped by should_stop: nothing was ranked

    @property
    def flagged_count(self) -> int:
        return sum(item.flagged for item in self.items)

    def write_json(self, path: str | os.PathLike[str]) -> None:
        """A list, most suspicious first (the issue's format)."""
        _write_text(path, json.dumps([item.to_dict() for item in self.items], indent=1))

    def write_csv(self, path: str | os.PathLike[str]) -> None:
        target = Path(path).expanduser()
        rows = [["rank", "path", "given", "suggested", "score", "flagged", "split",
                 *(f"p_{label}" for label in self.labels)]]
        for rank, item in enumerate(self.items, 1):
            rows.append([rank, item.path, "+".join(item.given), "+".join(item.suggested),
                         f"{item.score:.6f}", int(item.flagged), item.split,
                         *(f"{item.probabilities[label]:.6f}" for label in self.labels)])
        try:
            write_csv_atomic(target, rows)
        except OSError as exc:
            raise LabelReviewError(f"Cannot write {target} ({os_reason(exc)}).") from None


def _write_text(path: str | os.PathLike[str], text: str) -> None:
    target = Path(path).expanduser()
    try:
        write_text_atomic(target, text)
    except OSError as exc:
        raise LabelReviewError(f"Cannot write {target} ({os_reason(exc)}).") from None


# ------------------------------------------------------------------ the whole review
def review_labels(
    root: str | os.PathLike[str], *, model_path: str | os.PathLike[str] | None = None,
    options: ReviewOptions = ReviewOptions(), on_progress: OnProgress = no_progress,
    should_stop: ShouldStop = never_stop,
) -> ReviewReport:
    """Scan ``root``, get out-of-sample probabilities for every image, rank with cleanlab.

    ``on_progress`` / ``should_stop``: the protocol of ``core.progress``; once
    stopped, the report is empty and ``cancelled``."""
    started = time.monotonic()
    try:
        return _review(root, model_path, options, on_progress, should_stop, started)
    except ReviewCancelled:
        return ReviewReport(str(root), [], [], "", str(model_path or ""), time.monotonic() - started,
                            cancelled=True)


def _review(root: str | os.PathLike[str], model_path: str | os.PathLike[str] | None, options: ReviewOptions,
            report: OnProgress, stop: ShouldStop, started: float) -> ReviewReport:
    if options.folds < 2:
        raise LabelReviewError(f"--folds must be at least 2 (got {options.folds}).")
    report(0, 0, "Scanning the data folder")
    splits = scan_data_root(root)
    samples = [(s, name) for name in ("train", "val", "test") for s in splits.split(name)]
    labels = list(splits.labels)
    _check_reviewable(str(splits.root), samples, labels, options.folds)
    cross_fit = options.cross_fit >= 2 and not model_path  # a given model is never retrained
    notes: list[str] = []
    paths = [sample.path for sample, _ in samples]
    heads = (f"{options.folds}-fold logistic-regression heads, each image scored by the head that "
             "never saw it")
    if not cross_fit:
        if model_path:
            predictor = _load_predictor(model_path, options.device)
            method = (f"features of {predictor.arch} from {model_path} (penultimate layer, no "
                      f"augmentation); {heads}")
            notes.append("If this model was trained on these images, its features have seen their "
                         "labels; the k-fold heads keep the probabilities out-of-sample, the features cannot.")
        else:
            predictor, trained_on = _train_review_model(str(splits.root), options, report, stop)
            method = (f"features of a {options.train_arch} trained for this review ({options.train_epochs} "
                      f"epochs at {options.train_image_size} px, "
                      f"{'pretrained' if options.train_pretrained else 'random'} start); {heads}")
            notes.append(f"The review model's feature extractor was trained on {trained_on} of the "
                         f"{len(samples)} images with their current labels: for those, only the k-fold "
                         "heads are out-of-sample. Pass --model to use a model of your own, or "
                         "--cross-fit 2 to score every image with a model that never saw it.")
        features, unreadable = extract_features(predictor, paths, batch_size=options.batch_size,
                                                on_progress=report, should_stop=stop)
    else:
        method = (f"{options.cross_fit} {options.train_arch} models trained for this review "
                  f"({options.train_epochs} epochs at {options.train_image_size} px, "
                  f"{'pretrained' if options.train_pretrained else 'random'} start), each on "
                  f"{options.cross_fit - 1} of {options.cross_fit} parts of the images; each image "
                  "scored by the sigmoid outputs of the model that never saw it")
        notes.append(f"No image's own label reached its probabilities: each was scored by the one of "
                     f"the {options.cross_fit} review models that did not train on it. Pass --model "
                     "to use the features of a model of your own instead.")
        outputs = cross_fit_outputs(splits, [sample for sample, _ in samples], options, on_progress=report,
                                    should_stop=stop)
        unreadable = outputs.unreadable
    keep = [i for i, path in enumerate(paths) if path not in unreadable]
    for path, reason in unreadable.items():
        notes.append(f"Left out {path}: {reason}.")
    samples = [samples[i] for i in keep]
    _check_reviewable(str(splits.root), samples, labels, options.folds)
    targets = label_matrix((s.labels for s, _ in samples), labels)
    # CSV roots may leave labels unknown: those cells train no head (and no review model).
    known = 1.0 - label_matrix((getattr(s, "unknown", ()) for s, _ in samples), labels)
    if not cross_fit:
        report(0, options.folds, f"Training {options.folds} out-of-fold heads")
        probs = out_of_sample_probabilities(features, targets, folds=options.folds, seed=options.seed,
                                            known=known, on_progress=report, should_stop=stop)
    else:
        probs = outputs.probabilities[keep]
    report(0, 0, "Ranking with cleanlab")
    scores, flagged = rank_label_issues(targets, probs)
    items = [
        ReviewItem(path=sample.path, given=sample.labels,
                   suggested=suggest_labels(row, labels, options.threshold),
                   score=float(score), probabilities=dict(zip(labels, map(float, row))),
                   split=split, flagged=bool(flag))
        for (sample, split), row, score, flag in zip(samples, probs, scores, flagged)
    ]
    items.sort(key=lambda item: (-item.score, item.path))
    seconds = time.monotonic() - started
    method = (f"Out-of-sample probabilities: {method}. Ranking: cleanlab "
              "multilabel_classification (self-confidence label quality; find_label_issues flags).")
    logger.info("Reviewed %d images of %s in %.1f s: %d flagged", len(items), splits.root, seconds,
                sum(i.flagged for i in items))
    return ReviewReport(str(splits.root), labels, items, method, str(model_path or ""), seconds, notes)


def _check_reviewable(root: str, samples: Sequence, labels: Sequence[str], folds: int) -> None:
    if len(labels) < 2:
        raise LabelReviewError(
            f"{root} has {len(labels)} label(s); a label review needs at least two. Add folders "
            "for other labels.")
    needed = folds * MIN_IMAGES_PER_FOLD
    if len(samples) < needed:
        raise LabelReviewError(
            f"{root} has {len(samples)} usable images; {folds}-fold review needs at least {needed}. "
            "Add images or use fewer folds (--folds).")


def _load_predictor(model_path: str | os.PathLike[str], device: str):  # -> Predictor
    from mlcls_gui.core.inference.predict import Predictor

    if Path(model_path).suffix.lower() == ".onnx":
        raise LabelReviewError(
            f"{model_path} is an ONNX export; the review needs the layers of a .pt model file "
            "(its features). Pass the final_model.pt it was exported from.")
    return Predictor.from_file(model_path, device=device)


def _train_review_model(root: str, options: ReviewOptions, report: OnProgress,
                        stop: ShouldStop):  # -> tuple[Predictor, int]
    """Train the small review model in a temporary folder; keep only its weights in memory."""
    from mlcls_gui.core.config import demo_config
    from mlcls_gui.core.inference.predict import Predictor
    from mlcls_gui.core.model_file.contents import read_model_file
    from mlcls_gui.core.training.engine import RunControl, Trainer
    from mlcls_gui.core.training.events import BatchEnd

    control = RunControl()
    epochs = options.train_epochs

    def on_event(event: object) -> None:
        if stop():
            control.request_stop()
        if isinstance(event, BatchEnd):
            report((event.epoch - 1) * event.batches + event.batch, epochs * event.batches,
                   f"Training a {options.train_arch} for the review: epoch {event.epoch}/{epochs}")

    report(0, 0, f"Training a {options.train_arch} for the review")
    with tempfile.TemporaryDirectory(prefix="mlcls-review-") as folder:
        config = demo_config(root, folder).with_values(
            arch=options.train_arch, image_size=options.train_image_size, n_epochs=epochs,
            pretrained=options.train_pretrained, early_stop_epoch_limit=max(epochs, 1),
            lr_step=max(epochs, 1), device=options.device, seed=options.seed or 42,
        )
        trainer = Trainer(config, on_event=on_event, control=control)
        result = trainer.run()
        if stop():
            raise ReviewCancelled()
        contents = read_model_file(result.final_model_path)
        trained_on = len(trainer.splits.train) if trainer.splits else 0
    return Predictor(contents, device=options.device, source="the review model"), trained_on


@dataclass
class CrossFitOutputs:
    """What the cross-fitted review models give for the images each never saw."""

    parts: np.ndarray  # (N,) the part of each image = the model that did not train on it
    probabilities: np.ndarray  # (N, L) that model's sigmoid outputs (NaN for an unreadable image)
    unreadable: dict[str, str]  # {path: reason} of the images no model could read


def cross_fit_outputs(splits: DatasetSplits, samples: Sequence[Sample], options: ReviewOptions, *,
                      on_progress: OnProgress = no_progress, should_stop: ShouldStop = never_stop,
                      ) -> CrossFitOutputs:
    """Deal ``samples`` into ``options.cross_fit`` parts (stratified by label set),
    train one model per part on the other parts' images, and score each part with
    the model that never saw it: no image's own label reaches its probabilities.

    Each model trains through the Trainer, in memory (no output folder), with the
    held-out part as its validation split; its last epoch's weights score that
    part, so the held-out labels choose nothing (no best epoch, no early stop)."""
    report, stop = on_progress, should_stop
    labels = list(splits.labels)
    count = options.cross_fit
    parts = assign_folds(label_matrix((s.labels for s in samples), labels), count, options.seed)
    probabilities = np.full((len(samples), len(labels)), np.nan)
    unreadable: dict[str, str] = {}
    for part in range(count):
        held = np.flatnonzero(parts == part)
        part_splits = dataclasses.replace(
            splits, train=[samples[i] for i in np.flatnonzero(parts != part)], val=[samples[i] for i in held],
            test=[], skipped=[], warnings=[])
        trainer = _part_trainer(part_splits, options, part, count, report, stop)
        trainer.run()
        if trainer.final_val is None:  # stopped: the review was cancelled
            raise ReviewCancelled()
        scored = trainer.final_val
        probabilities[held[scored.indices]] = scored.probabilities
        unreadable.update((item.path, item.reason) for item in trainer.skipped)
        logger.info("Review model %d of %d: trained on %d images, scored %d", part + 1, count,
                    len(part_splits.train), len(scored.indices))
    return CrossFitOutputs(parts, probabilities, unreadable)


def _part_trainer(splits: DatasetSplits, options: ReviewOptions, part: int, count: int,
                  report: OnProgress, stop: ShouldStop):  # -> Trainer
    """The Trainer of review model ``part``: the demo's recipe at the review's size,
    AdamW (weight decay 0.3), ±15° rotation and flips, and a cosine decay to zero so
    that the last epoch's weights are the settled ones."""
    from mlcls_gui.core.config import demo_config
    from mlcls_gui.core.training.engine import RunControl, Trainer
    from mlcls_gui.core.training.events import BatchEnd

    epochs = options.train_epochs
    config = demo_config(splits.root, splits.root).with_values(
        arch=options.train_arch, image_size=options.train_image_size, n_epochs=epochs,
        pretrained=options.train_pretrained, batch_size=options.train_batch_size,
        learning_rate=options.train_learning_rate, optimizer="adamw", weight_decay=0.3,
        lr_schedule="cosine", warmup_epochs=0.0, rotation_degrees=15.0, horizontal_flip=True,
        early_stop_epoch_limit=max(epochs, 1), device=options.device, seed=options.seed + part,
    )
    control = RunControl()

    def on_event(event: object) -> None:
        if stop():
            control.request_stop()
        if isinstance(event, BatchEnd):
            per_model = epochs * event.batches
            report(part * per_model + (event.epoch - 1) * event.batches + event.batch, count * per_model,
                   f"Training review model {part + 1} of {count}: epoch {event.epoch}/{epochs}")

    return Trainer(config, on_event=on_event, control=control, splits=splits, in_memory=True)


# ------------------------------------------------------------------ features
def extract_features(predictor, paths: Sequence[str], *, batch_size: int = 32,
                     on_progress: OnProgress = no_progress, should_stop: ShouldStop = never_stop,
                     embed=None) -> tuple[np.ndarray, dict[str, str]]:
    """(N_readable, D) float32 penultimate features, and {path: reason} of unreadable images.

    ``embed``: another map from the normalised batch to feature vectors (the data
    health check keeps the image's layout); by default the model's feature extractor."""
    import torch

    from mlcls_gui.core.data.images import ImageLoadError
    from mlcls_gui.core.models import build as models

    report, stop = on_progress, should_stop
    extractor = embed or models.feature_extractor(predictor.model, predictor.arch).eval()
    chunks: list[np.ndarray] = []
    unreadable: dict[str, str] = {}
    for start in range(0, len(paths), batch_size):
        if stop():
            raise ReviewCancelled()
        report(start, len(paths), "Computing image features")
        images = []
        for path in paths[start:start + batch_size]:
            try:
                images.append(predictor.load_image(path))
            except ImageLoadError as exc:
                unreadable[path] = exc.reason
        if not images:
            continue
        with torch.inference_mode():
            inputs = predictor.batch_transform(torch.stack(images), augment=False)
            chunks.append(extractor(inputs).float().flatten(1).cpu().numpy())
    report(len(paths), len(paths), "Computing image features")
    if not chunks:
        raise LabelReviewError("None of the images could be read; nothing to review.")
    return np.concatenate(chunks).astype(np.float32), unreadable


# ------------------------------------------------------------------ out-of-sample heads
def assign_folds(targets: np.ndarray, folds: int, seed: int = 0) -> np.ndarray:
    """Fold number of each row, stratified by label set: every label combination is
    dealt round-robin over the folds, so each fold's training part sees every
    combination that has more than one image."""
    groups: defaultdict[bytes, list[int]] = defaultdict(list)
    for index, row in enumerate(targets.astype(bool)):
        groups[row.tobytes()].append(index)
    rng = np.random.default_rng(seed)
    fold_of = np.zeros(len(targets), dtype=np.int64)
    dealt = 0
    for key in sorted(groups):
        members = rng.permutation(groups[key])
        for member in members:
            fold_of[member] = dealt % folds
            dealt += 1
    return fold_of


def out_of_sample_probabilities(
    features: np.ndarray, targets: np.ndarray, *, folds: int = 5, seed: int = 0, l2: float = 1e-2,
    known: np.ndarray | None = None, on_progress: OnProgress = no_progress, should_stop: ShouldStop = never_stop,
) -> np.ndarray:
    """(N, L) probabilities; row i from a head trained on the other folds only."""
    report, stop = on_progress, should_stop
    fold_of = assign_folds(targets, folds, seed)
    known = np.ones_like(targets) if known is None else known
    probs = np.zeros(targets.shape, dtype=np.float64)
    for fold in range(folds):
        if stop():
            raise ReviewCancelled()
        held = fold_of == fold
        if not held.any():
            continue
        probs[held] = fit_predict_logistic(features[~held], targets[~held], features[held], l2=l2,
                                           known=known[~held])
        report(fold + 1, folds, f"Training {folds} out-of-fold heads")
    return probs


def fit_predict_logistic(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, *,
                         l2: float = 1e-2, iterations: int = 200, known: np.ndarray | None = None,
                         ) -> np.ndarray:
    """One L2-regularised logistic regression per label (all at once, LBFGS) on
    standardised features; probabilities for ``test_x``. A label without
    positives (or negatives) in the training rows simply learns its base rate."""
    import torch

    mean = train_x.mean(axis=0)
    std = train_x.std(axis=0) + 1e-6  # constant features (dead ReLUs) stay finite
    x = torch.from_numpy((train_x - mean) / std).double()
    y = torch.from_numpy(train_y).double()
    mask = torch.ones_like(y) if known is None else torch.from_numpy(known).double()
    rate = ((y * mask).sum(0) / mask.sum(0).clamp(min=1)).clamp(1e-3, 1 - 1e-3)
    weight = torch.zeros(x.shape[1], y.shape[1], dtype=torch.float64, requires_grad=True)
    bias = torch.log(rate / (1 - rate)).clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=iterations,
                                  line_search_fn="strong_wolfe")
    loss_fn = torch.nn.BCEWithLogitsLoss(weight=mask, reduction="sum")
    cells = mask.sum().clamp(min=1)

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = loss_fn(x @ weight + bias, y) / cells + l2 * weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    test = torch.from_numpy((test_x - mean) / std).double()
    with torch.no_grad():
        return torch.sigmoid(test @ weight + bias).numpy()


# ------------------------------------------------------------------ ranking
def rank_label_issues(targets: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(score per image: 1 - cleanlab's label quality, bool: cleanlab flags it)."""
    from cleanlab.multilabel_classification import filter as cl_filter
    from cleanlab.multilabel_classification import rank as cl_rank

    given = [list(np.flatnonzero(row)) for row in targets]
    clipped = np.clip(probs, 1e-6, 1 - 1e-6)
    quality = cl_rank.get_label_quality_scores(given, clipped)
    try:
        # n_jobs=1: no worker processes (the window runs this on a thread).
        flagged = cl_filter.find_label_issues(given, clipped, n_jobs=1)
    except (ValueError, IndexError) as exc:  # too few images of a label for its noise estimate
        logger.warning("cleanlab could not flag issues (%s); ranking only", exc)
        flagged = np.zeros(len(given), dtype=bool)
    return 1.0 - np.asarray(quality, dtype=np.float64), np.asarray(flagged, dtype=bool)


def suggest_labels(probabilities: Sequence[float], labels: Sequence[str], threshold: float) -> tuple[str, ...]:
    """Labels at or above ``threshold``; the most likely one when none is (a label
    folder needs at least one label)."""
    chosen = tuple(label for label, p in zip(labels, probabilities) if p >= threshold)
    return chosen or (labels[int(np.argmax(probabilities))],)

