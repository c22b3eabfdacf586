"""Per-label decision thresholds tuned on the validation split.

Each label gets the threshold that maximises its validation F1, chosen among
the label's own validation probabilities that lie within
[``MIN_TUNED_THRESHOLD``, ``MAX_TUNED_THRESHOLD``], those two bounds, and 0.5.
0.5 is always a candidate and wins ties (ties go to the candidate closest to
0.5), so no label's F1 — and hence the macro F1 — can get worse than at 0.5.

Why the bounds (0.05 and 0.95): a threshold near 0 or 1 says "predict this
label for (almost) every image" or "(almost) never"; on a small validation
split, or after a short run whose confidences are still far from calibrated,
such a value fits a handful of images and does not carry over to new ones.
Within the bounds the tuned value is the best one available, never a clipped
one with a worse F1. A label with fewer than ``min_positives`` positive
validation images keeps 0.5: a threshold fitted to one or two images would be
noise. The default itself (0.5, or the configured threshold) is always
allowed, even outside the bounds: it is the user's choice, not a fit.
NaN targets (unknown labels) are left out of each label's fit.
"""

from __future__ import annotations

import numpy as np

DEFAULT_THRESHOLD = 0.5
MIN_POSITIVES = 3
MIN_TUNED_THRESHOLD = 0.05
MAX_TUNED_THRESHOLD = 0.95


def tune_thresholds(
    probabilities: np.ndarray,
    targets: np.ndarray,
    *,
    default: float = DEFAULT_THRESHOLD,
    min_positives: int = MIN_POSITIVES,
    bounds: tuple[float, float] = (MIN_TUNED_THRESHOLD, MAX_TUNED_THRESHOLD),
) -> list[float]:
    probs = np.asarray(probabilities, dtype=np.float64)
    raw = np.asarray(targets, dtype=np.float64)
    known = ~np.isnan(raw)
    truth = raw >= 0.5
    return [
        _best_threshold(probs[known[:, j], j], truth[known[:, j], j], default, min_positives, bounds)
        for j in range(probs.shape[1])
    ]


def _best_threshold(scores: np.ndarray, truth: np.ndarray, default: float, min_positives: int,
                    bounds: tuple[float, float]) -> float:
    if int(truth.sum()) < min_positives:
        return default
    low, high = bounds
    inside = scores[(scores >= low) & (scores <= high)]
    # The bounds are candidates too: between two scores every threshold
    # predicts the same, so the bound stands for the scores cut off beyond it.
    candidates = np.unique(np.concatenate([inside, [low, high]]))
    best_t, best_f1 = default, _f1(scores >= default, truth)
    for t in candidates:
        f1 = _f1(scores >= t, truth)
        # Strictly better, or as good and closer to the default.
        if f1 > best_f1 + 1e-12 or (abs(f1 - best_f1) <= 1e-12 and abs(t - default) < abs(best_t - default)):
            best_t, best_f1 = float(t), f1
    return float(best_t)


def _f1(predicted: np.ndarray, truth: np.ndarray) -> float:
    tp = float(np.sum(predicted & truth))
    fp = float(np.sum(predicted & ~truth))
    fn = float(np.sum(~predicted & truth))
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
