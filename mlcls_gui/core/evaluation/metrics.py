"""Multi-label metrics on per-image probabilities (numpy, sklearn's definitions).

* exact-match accuracy — the seed's score: an image counts only when every
  label is right (probability ≥ threshold ⇔ logit ≥ 0 at 0.5);
* per-label precision, recall, F1 (0 where undefined, as sklearn's default)
  and average precision (step-wise, ties grouped, as sklearn);
* mAP is the mean AP over labels that have at least one positive: a label
  absent from the split has no defined AP and is reported as NaN.

A NaN target means "unknown" (a CSV cell left empty): it is left out of every
figure — per-label metrics use the known entries only, an image is an exact
match when all its known labels are right, Hamming loss and micro F1 count
known entries only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class LabelMetrics:
    label: str
    precision: float
    recall: float
    f1: float
    average_precision: float  # NaN when the label has no positives
    support: int  # images that carry the label (unknown entries not counted)
    threshold: float = 0.5


@dataclass(frozen=True)
class MetricReport:
    exact_match: float
    mean_average_precision: float
    macro_f1: float
    micro_f1: float
    hamming_loss: float
    per_label: tuple[LabelMetrics, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        """JSON-ready; NaN (undefined) becomes None."""
        return {
            "exact_match": _none_if_nan(self.exact_match),
            "map": _none_if_nan(self.mean_average_precision),
            "macro_f1": _none_if_nan(self.macro_f1),
            "micro_f1": _none_if_nan(self.micro_f1),
            "hamming_loss": _none_if_nan(self.hamming_loss),
            "per_label": [
                {
                    "label": m.label, "threshold": m.threshold, "precision": m.precision,
                    "recall": m.recall, "f1": m.f1,
                    "average_precision": _none_if_nan(m.average_precision), "support": m.support,
                }
                for m in self.per_label
            ],
        }

    def per_label_ap(self) -> dict[str, float | None]:
        return {m.label: _none_if_nan(m.average_precision) for m in self.per_label}


def compute_metrics(
    probabilities: np.ndarray,
    targets: np.ndarray,
    labels: Sequence[str],
    threshold: float | Sequence[float] = 0.5,
) -> MetricReport:
    """Metrics at one threshold for all labels, or one threshold per label."""
    probs = np.asarray(probabilities, dtype=np.float64)
    raw = np.asarray(targets, dtype=np.float64)
    if probs.ndim != 2 or raw.shape != probs.shape:
        raise ValueError(f"probabilities {probs.shape} and targets {raw.shape} must be (N, L)")
    known = ~np.isnan(raw)
    truth = raw >= 0.5  # NaN compares False; ``known`` keeps those entries out
    cuts = np.broadcast_to(np.asarray(threshold, dtype=np.float64), (probs.shape[1],))
    predicted = probs >= cuts[None, :]
    n = probs.shape[0]
    per_label = []
    for j, label in enumerate(labels):
        rows = known[:, j]
        p, r, f = _precision_recall_f1(predicted[rows, j], truth[rows, j])
        per_label.append(
            LabelMetrics(
                label=label, precision=p, recall=r, f1=f,
                average_precision=average_precision(probs[rows, j], truth[rows, j]),
                support=int(truth[rows, j].sum()),
                threshold=float(cuts[j]),
            )
        )
    aps = np.array([m.average_precision for m in per_label], dtype=np.float64)
    defined = aps[~np.isnan(aps)]
    _, _, micro = _precision_recall_f1(predicted[known], truth[known])
    wrong = (predicted != truth) & known
    return MetricReport(
        exact_match=float((~wrong).all(axis=1).mean()) if n else float("nan"),
        mean_average_precision=float(defined.mean()) if defined.size else float("nan"),
        macro_f1=float(np.mean([m.f1 for m in per_label])) if per_label else float("nan"),
        micro_f1=micro,
        hamming_loss=float(wrong.sum() / known.sum()) if known.any() else float("nan"),
        per_label=tuple(per_label),
    )


def exact_match_count(logits: np.ndarray, targets: np.ndarray) -> int:
    """Images whose every known label is right at threshold 0.5 (logit ≥ 0);
    NaN targets (unknown) are ignored, so an image with none known counts as right."""
    raw = np.asarray(targets, dtype=np.float64)
    wrong = ((np.asarray(logits) >= 0) != (raw >= 0.5)) & ~np.isnan(raw)
    return int((~wrong).all(axis=1).sum())


def precision_recall_curve(scores: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(recall, precision) at every distinct score, highest score first.

    Tied images share one threshold. The curve starts at recall 0, precision 1
    (as sklearn's); empty arrays when the label has no positive image. Unknown
    (NaN) truth entries are left out."""
    scores = np.asarray(scores, dtype=np.float64)
    raw = np.asarray(truth, dtype=np.float64)
    known = ~np.isnan(raw)
    scores, truth = scores[known], raw[known] >= 0.5
    n_pos = int(truth.sum())
    if n_pos == 0 or scores.size == 0:
        return np.empty(0), np.empty(0)
    order = np.argsort(-scores, kind="mergesort")
    sorted_scores = scores[order]
    hits = truth[order].astype(np.float64)
    # Last index of each run of equal scores.
    cut = np.r_[np.nonzero(np.diff(sorted_scores))[0], len(sorted_scores) - 1]
    tps = np.cumsum(hits)[cut]
    return np.r_[0.0, tps / n_pos], np.r_[1.0, tps / (cut + 1)]


def average_precision(scores: np.ndarray, truth: np.ndarray) -> float:
    """Area under the step-wise precision–recall curve; NaN without positives."""
    recall, precision = precision_recall_curve(scores, truth)
    if recall.size == 0:
        return float("nan")
    return float(np.sum(np.diff(recall) * precision[1:]))


def _precision_recall_f1(predicted: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    tp = float(np.sum(predicted & truth))
    fp = float(np.sum(predicted & ~truth))
    fn = float(np.sum(~predicted & truth))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
    return precision, recall, f1


def _none_if_nan(value: float) -> float | None:
    return None if value != value else float(value)
