"""Qt-free helpers behind the Evaluate panel: mistakes, metric text, the JSON
report, and the message for a file that is not a model."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from mlcls_gui.core.evaluation.report import ImageResult, build_report
from mlcls_gui.core.evaluation.views import compare_metric, format_metric, label_mistakes, write_report_json


def test_label_mistakes_orders_false_positives_by_confidence_and_keeps_ties_in_image_order() -> None:
    probabilities = np.array([[0.7], [0.9], [0.7], [0.2], [0.4], [0.6], [0.4]])
    truth = np.array([[0], [0], [0], [0], [1], [1], [1]])
    false_pos, false_neg = label_mistakes(probabilities, truth, 0, 0.5)
    assert false_pos == [1, 0, 2]  # 0.9 first; the two 0.7s in image order
    assert false_neg == [4, 6]  # both 0.4, image order
    # The threshold counts as predicted (p >= threshold).
    assert label_mistakes(probabilities, truth, 0, 0.4) == ([1, 0, 2], [])
    assert label_mistakes(probabilities, truth, 0, 0.41) == ([1, 0, 2], [4, 6])


def test_label_mistakes_reads_only_its_column() -> None:
    probabilities = np.array([[0.9, 0.1], [0.1, 0.9]])
    truth = np.array([[1, 0], [0, 0]])
    assert label_mistakes(probabilities, truth, 0, 0.5) == ([], [])
    assert label_mistakes(probabilities, truth, 1, 0.5) == ([1], [])


def test_format_metric_says_n_a_for_an_undefined_metric() -> None:
    assert format_metric(0.12345) == "0.123"
    assert format_metric(1.0) == "1.000"
    assert format_metric(math.nan) == "n/a"


def test_compare_metric_knows_that_a_lower_hamming_loss_is_better() -> None:
    assert compare_metric("macro_f1", 0.5, 0.6) == 1
    assert compare_metric("macro_f1", 0.5, 0.4) == -1
    assert compare_metric("macro_f1", 0.5, 0.5) == 0
    assert compare_metric("hamming_loss", 0.3, 0.2) == 1
    assert compare_metric("hamming_loss", 0.3, 0.4) == -1
    assert compare_metric("mean_average_precision", math.nan, 0.5) == 0
    assert compare_metric("f1", 0.5, 0.5 + 1e-13, tolerance=1e-12) == 0
    assert compare_metric("f1", 0.5, 0.5 + 1e-11, tolerance=1e-12) == 1


def test_write_report_json_writes_the_whole_report_and_no_temporary_file(tmp_path: Path) -> None:
    images = [ImageResult("a.png", ("cat",), (0.8, 0.1)), ImageResult("b.png", (), (0.3, 0.6))]
    report = build_report(["cat", "dog"], [0.5, 0.7], images, source={"model": "m.pt", "split": "test"})
    target = tmp_path / "evaluation.json"
    target.write_text("an older report", encoding="utf-8")
    assert write_report_json(report, str(target)) == str(target)
    data = json.loads(target.read_text(encoding="utf-8"))
    assert data == json.loads(json.dumps(report.to_dict()))
    assert data["thresholds"] == [0.5, 0.7] and data["model"] == "m.pt"
    assert [entry["predicted"] for entry in data["images"]] == [["cat"], []]
    assert [p.name for p in tmp_path.iterdir()] == ["evaluation.json"]
