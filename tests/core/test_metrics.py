import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, f1_score, hamming_loss, precision_score

from mlcls_gui.core.evaluation.metrics import average_precision, compute_metrics, exact_match_count


def test_agrees_with_sklearn_on_random_data_with_ties():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, size=(200, 5))
    probs = np.round(rng.random((200, 5)) * 0.6 + truth * 0.3, 2)  # rounding makes ties
    report = compute_metrics(probs, truth, list("abcde"), threshold=0.5)
    predicted = probs >= 0.5
    for j, m in enumerate(report.per_label):
        assert m.average_precision == pytest.approx(average_precision_score(truth[:, j], probs[:, j]), abs=1e-9)
        assert m.precision == pytest.approx(precision_score(truth[:, j], predicted[:, j], zero_division=0))
    assert report.macro_f1 == pytest.approx(f1_score(truth, predicted, average="macro", zero_division=0))
    assert report.micro_f1 == pytest.approx(f1_score(truth, predicted, average="micro", zero_division=0))
    assert report.hamming_loss == pytest.approx(hamming_loss(truth, predicted))
    assert report.mean_average_precision == pytest.approx(
        average_precision_score(truth, probs, average="macro"), abs=1e-9)


def test_exact_match_needs_every_label_right():
    truth = np.array([[1, 0], [1, 1], [0, 0]])
    probs = np.array([[0.9, 0.2], [0.9, 0.4], [0.1, 0.1]])
    assert compute_metrics(probs, truth, ["a", "b"]).exact_match == pytest.approx(2 / 3)
    logits = np.log(probs / (1 - probs))
    assert exact_match_count(logits, truth) == 2


def test_label_without_positives_has_no_ap_and_is_left_out_of_map():
    truth = np.array([[1, 0], [0, 0], [1, 0]])
    probs = np.array([[0.9, 0.1], [0.2, 0.3], [0.8, 0.2]])
    report = compute_metrics(probs, truth, ["a", "b"])
    assert report.per_label[0].average_precision == 1.0
    assert math.isnan(report.per_label[1].average_precision)
    assert report.mean_average_precision == 1.0
    assert report.per_label_ap() == {"a": 1.0, "b": None}


def test_average_precision_by_hand():
    # ranks: pos, neg, pos -> AP = (1/1 + 2/3) / 2
    assert average_precision(np.array([0.9, 0.8, 0.7]), np.array([1, 0, 1])) == pytest.approx(5 / 6)


def test_precision_recall_curve_agrees_with_sklearn():
    from sklearn.metrics import precision_recall_curve as sk_curve

    from mlcls_gui.core.evaluation.metrics import precision_recall_curve

    rng = np.random.default_rng(1)
    scores = np.round(rng.random(200), 2)  # ties included
    truth = rng.random(200) < scores
    recall, precision = precision_recall_curve(scores, truth)
    sk_precision, sk_recall, _ = sk_curve(truth, scores)
    assert recall == pytest.approx(sk_recall[::-1]) and precision == pytest.approx(sk_precision[::-1])
    assert precision_recall_curve(scores, np.zeros(200, dtype=bool))[0].size == 0
