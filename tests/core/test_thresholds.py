"""Tuned thresholds stay within sane bounds and never make a label's F1 worse."""

from __future__ import annotations

import numpy as np

from mlcls_gui.core.evaluation.metrics import compute_metrics
from mlcls_gui.core.evaluation.thresholds import MAX_TUNED_THRESHOLD, MIN_TUNED_THRESHOLD, tune_thresholds


def _f1(scores: np.ndarray, truth: np.ndarray, threshold: float) -> float:
    report = compute_metrics(scores[:, None], truth[:, None], ["x"], threshold)
    return report.per_label[0].f1


def test_a_low_scoring_label_gets_the_lower_bound_not_a_tiny_threshold() -> None:
    # An undertrained label: positives score 0.045-0.3, negatives below 0.04.
    # Unbounded tuning would pick 0.045; bounded, the best in [0.05, 0.95] is
    # used (0.096 predicts the same as 0.05 and lies closer to 0.5).
    truth = np.array([1] * 6 + [0] * 20)
    scores = np.concatenate([np.linspace(0.045, 0.3, 6), np.linspace(0.0, 0.04, 20)])
    (threshold,) = tune_thresholds(scores[:, None], truth[:, None])
    assert MIN_TUNED_THRESHOLD <= threshold < 0.1
    (unbounded,) = tune_thresholds(scores[:, None], truth[:, None], bounds=(0.0, 1.0))
    assert unbounded == 0.045
    assert _f1(scores, truth, threshold) > _f1(scores, truth, 0.5)


def test_a_high_scoring_label_is_capped_at_the_upper_bound() -> None:
    # Negatives score 0.6-0.985, positives above: the best cut (0.99) lies
    # beyond 0.95, so the cap is used — and it is still better than 0.5.
    truth = np.array([1] * 5 + [0] * 20)
    scores = np.concatenate([np.linspace(0.99, 0.999, 5), np.linspace(0.6, 0.985, 20)])
    (threshold,) = tune_thresholds(scores[:, None], truth[:, None])
    assert threshold == MAX_TUNED_THRESHOLD
    assert _f1(scores, truth, threshold) > _f1(scores, truth, 0.5)


def test_random_labels_stay_in_bounds_and_no_f1_gets_worse() -> None:
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 2, size=(200, 8))
    # Some labels squeezed towards 0, some towards 1: the tuner would like extremes.
    squeeze = np.array([0.02, 0.05, 0.2, 1.0, 1.0, 0.2, 0.05, 0.02])
    raw = np.clip(truth * rng.uniform(0.1, 0.6, truth.shape) + rng.uniform(0, 0.5, truth.shape), 0, 1)
    probs = raw * squeeze
    probs[:, 5:] = 1 - (1 - raw[:, 5:]) * squeeze[5:]
    thresholds = tune_thresholds(probs, truth)
    assert all(MIN_TUNED_THRESHOLD <= t <= MAX_TUNED_THRESHOLD for t in thresholds)
    base = compute_metrics(probs, truth, list("abcdefgh"), 0.5)
    tuned = compute_metrics(probs, truth, list("abcdefgh"), thresholds)
    for before, after in zip(base.per_label, tuned.per_label):
        assert after.f1 >= before.f1 - 1e-12


def test_the_default_itself_is_kept_even_outside_the_bounds() -> None:
    truth = np.array([[1], [0], [1]])  # fewer than 3 positives: the default is kept
    assert tune_thresholds(np.array([[0.9], [0.1], [0.8]]), truth, default=0.97) == [0.97]
