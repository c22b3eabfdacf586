"""Suggestions before any model is trained: a linear probe (one logistic
regression per label, scikit-learn) on pretrained features of the images
labelled so far."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from mlcls_gui.core.labelling.ordering import unit_rows


@dataclass
class LinearProbe:
    labels: list[str]
    models: list  # per label: a fitted LogisticRegression, or a float (the label's share when it has one class)

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        rows = unit_rows(features)
        columns = [np.full(len(rows), model) if isinstance(model, float) else model.predict_proba(rows)[:, 1]
                   for model in self.models]
        return np.stack(columns, axis=1) if columns else np.zeros((len(rows), 0))


def fit_probe(features: np.ndarray, targets: np.ndarray, labels: list[str]) -> LinearProbe:
    """``targets`` (N, L) 0/1. A label seen only as positive (or never) predicts its
    share instead of a classifier: there is nothing to separate yet."""
    from sklearn.linear_model import LogisticRegression

    rows = unit_rows(features)
    models: list = []
    for column in np.asarray(targets, dtype=float).T:
        if len(np.unique(column)) < 2:
            models.append(float(column.mean()) if len(column) else 0.0)
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence chatter on a handful of images
            models.append(LogisticRegression(C=10.0, class_weight="balanced", max_iter=2000).fit(rows, column))
    return LinearProbe(list(labels), models)
