"""Editing per-label thresholds over an evaluation report, without Qt or a model."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlcls_gui.core.evaluation.metrics import compute_metrics
from mlcls_gui.core.evaluation.report import EvaluationReport, ImageResult, build_report
from mlcls_gui.core.evaluation.threshold_edits import ThresholdEdits

LABELS = ["cat", "dog", "owl"]
IMAGES = [  # path, probabilities (cat, dog, owl), true labels
    ("a.png", (0.90, 0.20, 0.05), ("cat",)),
    ("b.png", (0.60, 0.70, 0.10), ("dog",)),
    ("c.png", (0.40, 0.65, 0.30), ("cat", "dog")),
    ("d.png", (0.20, 0.10, 0.80), ()),
    ("e.png", (0.55, 0.45, 0.35), ("cat", "owl")),
    ("f.png", (0.05, 0.30, 0.60), ("owl",)),
]


@pytest.fixture
def report() -> EvaluationReport:
    images = [ImageResult(path, labels, probs) for path, probs, labels in IMAGES]
    return build_report(LABELS, [0.5, 0.6, 0.5], images, source={"model": "/m/final_model.pt"})


def test_a_new_edit_shows_the_reports_thresholds_and_metrics(report: EvaluationReport) -> None:
    edits = ThresholdEdits(report)
    assert edits.labels == LABELS
    assert edits.thresholds() == [0.5, 0.6, 0.5] == edits.saved_thresholds()
    assert not edits.edited()
    assert edits.at_thresholds == report.at_thresholds
    assert edits.at_half == report.at_half
    assert edits.current_report().to_dict() == report.to_dict()


def test_editing_a_threshold_recomputes_the_metrics_from_the_stored_probabilities(
        report: EvaluationReport) -> None:
    edits = ThresholdEdits(report)
    cat_before = edits.at_thresholds.per_label[0]
    edits.set_threshold(0, 0.3)  # cat: c.png (0.40) now predicted, and so is b.png (0.60) still
    expected = compute_metrics(report.probabilities(), report.targets(), LABELS, [0.3, 0.6, 0.5])
    assert edits.at_thresholds == expected
    cat = edits.at_thresholds.per_label[0]
    assert cat.recall == pytest.approx(1.0) and cat_before.recall == pytest.approx(2 / 3)
    assert cat.threshold == 0.3
    assert edits.edited() and edits.thresholds() == [0.3, 0.6, 0.5]
    assert edits.saved_thresholds() == [0.5, 0.6, 0.5]
    # The reference at 0.5 and the report as evaluated do not move.
    assert edits.at_half == report.at_half
    assert edits.source_report.thresholds == [0.5, 0.6, 0.5]
    current = edits.current_report()
    assert current.thresholds == [0.3, 0.6, 0.5] and current.at_thresholds == expected
    assert current.to_dict()["images"][2]["predicted"] == ["cat", "dog"]
    assert report.to_dict()["images"][2]["predicted"] == ["dog"]


def test_reset_goes_back_to_the_saved_thresholds(report: EvaluationReport) -> None:
    edits = ThresholdEdits(report)
    edits.set_threshold(1, 0.05)
    edits.set_threshold(2, 1.0)
    edits.reset()
    assert edits.thresholds() == [0.5, 0.6, 0.5] and not edits.edited()
    assert edits.at_thresholds == report.at_thresholds


def test_saving_a_snapshot_while_editing_on_keeps_the_later_edit_unsaved(report: EvaluationReport) -> None:
    edits = ThresholdEdits(report)
    edits.set_threshold(0, 0.25)
    snapshot = edits.thresholds()  # what the save writes
    edits.set_threshold(1, 0.9)  # edited while the file was being written
    edits.mark_saved(snapshot)
    assert edits.saved_thresholds() == [0.25, 0.6, 0.5]
    assert edits.edited()
    edits.reset()
    assert edits.thresholds() == [0.25, 0.6, 0.5] and not edits.edited()
    # After a save, reset recomputes: the report's own metrics were at the old thresholds.
    assert edits.at_thresholds == compute_metrics(
        report.probabilities(), report.targets(), LABELS, [0.25, 0.6, 0.5])
    assert edits.at_thresholds != report.at_thresholds


@pytest.mark.parametrize("value", [0.0, -0.1, 1.01, math.nan])
def test_a_threshold_outside_0_to_1_is_refused(report: EvaluationReport, value: float) -> None:
    edits = ThresholdEdits(report)
    with pytest.raises(ValueError):
        edits.set_threshold(0, value)
    assert edits.thresholds() == [0.5, 0.6, 0.5] and not edits.edited()


def test_an_unknown_label_column_or_a_wrong_length_save_is_refused(report: EvaluationReport) -> None:
    edits = ThresholdEdits(report)
    with pytest.raises(IndexError):
        edits.set_threshold(3, 0.5)
    with pytest.raises(IndexError):
        edits.set_threshold(-1, 0.5)
    with pytest.raises(ValueError):
        edits.mark_saved([0.5, 0.5])


def test_mistakes_follow_the_edited_threshold(report: EvaluationReport) -> None:
    edits = ThresholdEdits(report)
    # cat at 0.5: b.png (0.60) is a false positive; c.png (0.40) a false negative.
    assert edits.mistakes(0) == ([1], [2])
    edits.set_threshold(0, 0.5 + 1e-9)
    assert edits.mistakes(0) == ([1], [2])
    edits.set_threshold(0, 0.15)
    # Every image without cat, most confident first: b (0.60), d (0.20); f (0.05) stays below.
    assert edits.mistakes(0) == ([1, 3], [])
    edits.set_threshold(0, 0.95)
    # Every cat image missed, least confident first: c (0.40), e (0.55), a (0.90).
    assert edits.mistakes(0) == ([], [2, 4, 0])


def test_an_empty_report_can_be_edited_without_errors() -> None:
    report = build_report(LABELS, [0.5, 0.5, 0.5], [])
    edits = ThresholdEdits(report)
    assert edits.probabilities.shape == (0, 3) and edits.truth.shape == (0, 3)
    edits.set_threshold(2, 0.7)
    assert edits.edited() and edits.mistakes(2) == ([], [])


def test_an_unknown_label_is_neither_a_mistake_nor_a_negative_in_the_curve() -> None:
    from mlcls_gui.core.evaluation.metrics import precision_recall_curve

    images = [ImageResult(path, labels, probs) for path, probs, labels in IMAGES]
    # d.png's cat is unknown (a CSV's empty cell): at 0.15 it would be a false positive.
    images[3] = ImageResult("d.png", (), (0.20, 0.10, 0.80), unknown=("cat",))
    edits = ThresholdEdits(build_report(LABELS, [0.5, 0.6, 0.5], images))
    assert math.isnan(edits.truth[3, 0])
    edits.set_threshold(0, 0.15)
    assert edits.mistakes(0) == ([1], [])
    recall, _ = precision_recall_curve(edits.probabilities[:, 0], edits.truth[:, 0])
    # Five known images, three distinct scores among them above the unknown one's: no NaN step.
    assert len(recall) == 1 + 5 and not np.isnan(recall).any()
