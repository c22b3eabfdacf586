"""Which unlabelled image to ask about next: by the model's uncertainty, by
diversity (far from what is labelled, in feature space), or at random.

Each returns a permutation of the unlabelled images (positions into their list)."""

from __future__ import annotations

import numpy as np

ORDERS = ("uncertainty", "diversity", "random")
ORDER_TITLES = {
    "uncertainty": "Least sure first (labels nearest their thresholds)",
    "diversity": "Most different first (far from the labelled images)",
    "random": "Random",
}
_EPS = 1e-6


def threshold_margins(probabilities: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """(N,) how far each image's least certain label is from its threshold, in logits
    (0: a label right at its threshold). The logit scale treats 0.50 vs 0.45 as
    closer than 0.99 vs 0.94."""
    if probabilities.size == 0:
        return np.zeros(len(probabilities))
    p = np.clip(probabilities, _EPS, 1 - _EPS)
    t = np.clip(np.asarray(thresholds, dtype=float), _EPS, 1 - _EPS)
    logit = np.log(p / (1 - p)) - np.log(t / (1 - t))
    return np.abs(logit).min(axis=1)


def by_uncertainty(probabilities: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    return np.argsort(threshold_margins(probabilities, thresholds), kind="stable")


def by_diversity(unlabelled: np.ndarray, labelled: np.ndarray) -> np.ndarray:
    """Farthest-first (greedy k-centre): each next image is the one farthest from
    everything labelled or already chosen, by cosine distance."""
    count = len(unlabelled)
    if count == 0:
        return np.zeros(0, dtype=int)
    pool = unit_rows(unlabelled)
    if len(labelled):
        nearest = 1.0 - (pool @ unit_rows(labelled).T).max(axis=1)
    else:  # nothing labelled: start from the image farthest from the mean
        nearest = 1.0 - pool @ unit_rows(pool.mean(axis=0, keepdims=True))[0]
    order = np.empty(count, dtype=int)
    for step in range(count):
        pick = int(np.argmax(nearest))
        order[step] = pick
        nearest = np.minimum(nearest, 1.0 - pool @ pool[pick])
        nearest[order[:step + 1]] = -np.inf
    return order


def at_random(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).permutation(count)


def unit_rows(rows: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (cosine similarity is then a dot product)."""
    rows = np.asarray(rows, dtype=np.float64)
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)
