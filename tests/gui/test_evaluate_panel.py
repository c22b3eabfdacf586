"""The Evaluate panel: per-label metrics of a model file, hand-edited thresholds,
each label's mistakes as thumbnails, thresholds saved back into the model."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from mlcls_gui.core.evaluation.metrics import compute_metrics
from mlcls_gui.core.evaluation.report import EvaluationReport
from mlcls_gui.core.inference.predict import Predictor
from mlcls_gui.core.model_file.contents import read_model_file
from mlcls_gui.core.ops.evaluate import evaluate_model_file
from mlcls_gui.gui.evaluate.evaluate_panel import EvaluatePanel
from mlcls_gui.gui.evaluate.metric_tables import (
    COL_AP,
    COL_F1,
    COL_F1_HALF,
    COL_LABEL,
    COL_PRECISION,
    COL_RECALL,
    COL_SUPPORT,
    COL_THRESHOLD,
    OVERALL_ROWS,
)
from mlcls_gui.gui.evaluate.thumbnail_gallery import PATH_ROLE, THUMBNAIL_SIZE, thumbnail_image

TIMEOUT = 30_000


def make_panel(qtbot: QtBot, model: Path, root: Path) -> EvaluatePanel:
    panel = EvaluatePanel()
    qtbot.addWidget(panel)
    panel.resize(1200, 800)
    panel.show()
    panel.set_model_path(str(model))
    panel.set_data_root(str(root))
    return panel


def evaluate(qtbot: QtBot, panel: EvaluatePanel, expected: str = "done") -> None:
    with qtbot.waitSignal(panel.evaluation_finished, timeout=TIMEOUT) as blocker:
        assert panel.start_evaluation()
    assert blocker.args == [expected], panel.last_error()
    assert not panel.is_busy()


@pytest.fixture(scope="module")
def headless_report(trained_model: Path, demo_root: Path) -> EvaluationReport:
    """The same evaluation without the GUI: what the panel must show."""
    return evaluate_model_file(trained_model, demo_root)


def cell(panel: EvaluatePanel, row: int, column: int) -> str:
    return panel.label_table.item(row, column).text()


def as_text(value: float) -> str:
    return "n/a" if value != value else f"{value:.3f}"


def spin(panel: EvaluatePanel, row: int):  # -> ThresholdSpin
    return panel.label_table.cellWidget(row, COL_THRESHOLD)


def test_evaluation_fills_the_tables_with_the_models_labels_and_metrics(
        qtbot: QtBot, trained_model: Path, demo_root: Path, headless_report: EvaluationReport) -> None:
    panel = make_panel(qtbot, trained_model, demo_root)
    assert panel.label_table.rowCount() == 0
    evaluate(qtbot, panel)

    labels = list(read_model_file(trained_model).labels)
    shown = [cell(panel, row, COL_LABEL) for row in range(panel.label_table.rowCount())]
    assert shown == labels
    expected = headless_report
    for row, (tuned, half) in enumerate(zip(expected.at_thresholds.per_label, expected.at_half.per_label)):
        assert spin(panel, row).value() == pytest.approx(expected.thresholds[row], abs=5e-4)
        assert cell(panel, row, COL_SUPPORT) == str(tuned.support)
        assert cell(panel, row, COL_PRECISION) == as_text(tuned.precision)
        assert cell(panel, row, COL_RECALL) == as_text(tuned.recall)
        assert cell(panel, row, COL_F1) == as_text(tuned.f1)
        assert cell(panel, row, COL_AP) == as_text(tuned.average_precision)
        assert cell(panel, row, COL_F1_HALF) == as_text(half.f1)
    for row, (_, attribute) in enumerate(OVERALL_ROWS):
        assert panel.overall_table.item(row, 0).text() == as_text(getattr(expected.at_half, attribute))
        assert panel.overall_table.item(row, 1).text() == as_text(getattr(expected.at_thresholds, attribute))
    report = panel.report()
    assert report is not None and len(report.images) == len(expected.images) == 54
    # One precision-recall curve per label, each with its threshold point.
    assert len(panel.pr_plot.curves) == len(labels)
    assert all(len(curve.xData) > 1 for curve in panel.pr_plot.curves)
    assert panel.export_button.isEnabled()
    assert not panel.save_button.isEnabled()  # nothing edited: nothing to save


def test_editing_a_threshold_recomputes_the_metrics_like_compute_metrics(
        qtbot: QtBot, trained_model: Path, demo_root: Path) -> None:
    panel = make_panel(qtbot, trained_model, demo_root)
    evaluate(qtbot, panel)
    report = panel.report()
    probabilities, targets = report.probabilities(), report.targets()
    row = 0
    before = cell(panel, row, COL_F1)
    # Everything at or above 0.001: recall 1, precision = the label's share of images.
    spin(panel, row).setValue(0.001)
    thresholds = list(report.thresholds)
    thresholds[row] = 0.001
    expected = compute_metrics(probabilities, targets, report.labels, thresholds)
    assert cell(panel, row, COL_RECALL) == "1.000"
    assert cell(panel, row, COL_F1) == as_text(expected.per_label[row].f1)
    assert cell(panel, row, COL_F1) != before
    macro_row = [name for _, name in OVERALL_ROWS].index("macro_f1")
    assert panel.overall_table.item(macro_row, 1).text() == as_text(expected.macro_f1)
    # The 0.5 column is a fixed reference: it does not move.
    assert panel.overall_table.item(macro_row, 0).text() == as_text(report.at_half.macro_f1)
    assert panel.report().at_thresholds.per_label[row].f1 == pytest.approx(expected.per_label[row].f1)
    assert panel.thresholds_edited() and panel.reset_button.isEnabled() and panel.save_button.isEnabled()
    assert "not saved" in panel.thresholds_note.text()
    # The threshold point on the curve moved to the new recall / precision.
    point = panel.pr_plot.points[row].data[0]
    assert (point["x"], point["y"]) == pytest.approx(
        (expected.per_label[row].recall, expected.per_label[row].precision))

    panel.reset_button.click()
    assert cell(panel, row, COL_F1) == before
    assert not panel.thresholds_edited()


def test_selecting_a_label_lists_exactly_its_false_positives_and_negatives(
        qtbot: QtBot, trained_model: Path, demo_root: Path) -> None:
    panel = make_panel(qtbot, trained_model, demo_root)
    evaluate(qtbot, panel)
    report = panel.report()

    def expected(label: str, threshold: float) -> tuple[set[str], set[str]]:
        column = report.labels.index(label)
        fp = {r.path for r in report.images if r.probabilities[column] >= threshold and label not in r.labels}
        fn = {r.path for r in report.images if r.probabilities[column] < threshold and label in r.labels}
        return fp, fn

    label = report.labels[2]
    with qtbot.waitSignal(panel.examples_shown, timeout=TIMEOUT):
        panel.label_table.selectRow(2)
    assert panel.selected_label() == label
    fp, fn = expected(label, panel.thresholds()[2])
    assert fp or fn, "the tiny model should make some mistakes"
    assert set(panel.false_positive_paths()) == fp and len(panel.false_positive_paths()) == len(fp)
    assert set(panel.false_negative_paths()) == fn and len(panel.false_negative_paths()) == len(fn)
    assert f"{len(fp)}" in panel.fp_title.text() and label in panel.fp_title.text()
    # Most confident false positive first.
    column = report.labels.index(label)
    probability = {r.path: r.probabilities[column] for r in report.images}
    scores = [probability[p] for p in panel.false_positive_paths()]
    assert scores == sorted(scores, reverse=True)
    # The thumbnails show the images themselves (loaded off the GUI thread).
    listing = panel.fp_list if fp else panel.fn_list
    for row in (0, listing.count() - 1):
        item = listing.item(row)
        shown = item.icon().pixmap(THUMBNAIL_SIZE, THUMBNAIL_SIZE).toImage().convertToFormat(QImage.Format.Format_RGB32)
        wanted = thumbnail_image(item.data(PATH_ROLE)).convertToFormat(QImage.Format.Format_RGB32)
        assert shown == wanted

    # A lower threshold: every image without the label becomes a false positive.
    with qtbot.waitSignal(panel.examples_shown, timeout=TIMEOUT):
        spin(panel, 2).setValue(0.001)
    fp, fn = expected(label, 0.001)
    assert set(panel.false_positive_paths()) == fp
    assert panel.false_negative_paths() == [] == sorted(fn)
    assert len(fp) == sum(1 for r in report.images if label not in r.labels)

    # Double-clicking a thumbnail asks to open that image.
    item = panel.fp_list.item(0)
    rect = panel.fp_list.visualItemRect(item)
    with qtbot.waitSignal(panel.open_image_requested, timeout=5_000) as blocker:
        # A real double-click starts with a click (QTest's double-click alone does not).
        qtbot.mouseClick(panel.fp_list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        qtbot.mouseDClick(panel.fp_list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert blocker.args == [panel.false_positive_paths()[0]]


def test_saving_thresholds_writes_them_into_the_model_file(
        qtbot: QtBot, trained_model: Path, demo_root: Path, tmp_path: Path) -> None:
    model = tmp_path / "model.pt"
    shutil.copy(trained_model, model)
    panel = make_panel(qtbot, model, demo_root)
    evaluate(qtbot, panel)
    original = Predictor.from_file(model).thresholds
    spin(panel, 1).setValue(0.25)
    spin(panel, 3).setValue(0.9)
    wanted = panel.thresholds()
    assert wanted[1] == pytest.approx(0.25) and wanted[3] == pytest.approx(0.9)

    asked: list[tuple[str, list[float]]] = []
    panel.confirm_save_thresholds = lambda path, values: asked.append((path, values)) or False  # type: ignore[method-assign]
    assert not panel.save_thresholds()
    assert asked and asked[0][0] == str(model)
    assert Predictor.from_file(model).thresholds == original  # declined: nothing written

    panel.confirm_save_thresholds = lambda path, values: True  # type: ignore[method-assign]
    with qtbot.waitSignal(panel.thresholds_saved, timeout=TIMEOUT) as blocker:
        panel.save_button.click()
    assert blocker.args == [str(model)]
    assert Predictor.from_file(model).thresholds == pytest.approx(wanted)
    assert not panel.save_button.isEnabled()
    assert not panel.thresholds_edited()
    assert panel.thresholds_note.text() == ""


def test_saving_into_a_missing_model_file_shows_an_error(
        qtbot: QtBot, trained_model: Path, demo_root: Path, tmp_path: Path) -> None:
    model = tmp_path / "model.pt"
    shutil.copy(trained_model, model)
    panel = make_panel(qtbot, model, demo_root)
    evaluate(qtbot, panel)
    model.unlink()
    panel.confirm_save_thresholds = lambda path, values: True  # type: ignore[method-assign]
    spin(panel, 0).setValue(0.4)
    assert panel.save_thresholds()
    qtbot.waitUntil(lambda: panel.save_button.isEnabled(), timeout=TIMEOUT)
    assert "model.pt" in panel.last_error()
    boxes = [box for box in panel.findChildren(QMessageBox) if box.isVisible()]
    assert boxes and "model.pt" in boxes[0].text()


def test_json_export_writes_the_report_with_the_edited_thresholds(
        qtbot: QtBot, trained_model: Path, demo_root: Path, tmp_path: Path) -> None:
    panel = make_panel(qtbot, trained_model, demo_root)
    evaluate(qtbot, panel)
    spin(panel, 0).setValue(0.3)
    target = tmp_path / "evaluation.json"
    with qtbot.waitSignal(panel.json_exported, timeout=TIMEOUT):
        assert panel.export_json(str(target))
    data = json.loads(target.read_text(encoding="utf-8"))
    assert data["labels"] == panel.labels()
    assert data["thresholds"][0] == pytest.approx(0.3)
    assert len(data["images"]) == 54
    f1 = [entry["f1"] for entry in data["metrics_at_thresholds"]["per_label"]]
    assert f1 == pytest.approx([m.f1 for m in panel.report().at_thresholds.per_label])


def test_cancel_stops_the_evaluation(
        qtbot: QtBot, trained_model: Path, demo_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started, release = threading.Event(), threading.Event()
    calls: list[int] = []
    real = Predictor.predict_paths

    def slow_predict(self: Predictor, paths, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(len(paths))
        started.set()
        release.wait(10)
        return real(self, paths, **kwargs)

    monkeypatch.setattr(Predictor, "predict_paths", slow_predict)
    panel = make_panel(qtbot, trained_model, demo_root)
    with qtbot.waitSignal(panel.evaluation_finished, timeout=TIMEOUT) as blocker:
        assert panel.start_evaluation()
        assert not panel.evaluate_button.isEnabled() and panel.cancel_button.isEnabled()
        qtbot.waitUntil(started.is_set, timeout=TIMEOUT)
        panel.cancel_button.click()
        assert not panel.cancel_button.isEnabled()
        release.set()
    assert blocker.args == ["cancelled"]
    assert len(calls) == 1, "the evaluation went on after Cancel"
    assert panel.report() is None and panel.label_table.rowCount() == 0
    assert "cancelled" in panel.status_label.text().lower()
    assert panel.evaluate_button.isEnabled() and not panel.progress_bar.isVisible()


def test_a_bad_model_file_gives_a_message_not_a_crash(
        qtbot: QtBot, demo_root: Path, tmp_path: Path) -> None:
    bad = tmp_path / "not-a-model.pt"
    bad.write_bytes(b"this is not a model file")
    panel = make_panel(qtbot, bad, demo_root)
    evaluate(qtbot, panel, expected="failed")
    assert "not-a-model.pt" in panel.last_error()
    assert panel.message_label.isVisible() and "not-a-model.pt" in panel.message_label.text()
    assert panel.report() is None
    assert panel.evaluate_button.isEnabled()
    boxes = [box for box in panel.findChildren(QMessageBox) if box.isVisible()]
    assert boxes and "not-a-model.pt" in boxes[0].text()


def test_evaluate_without_a_model_says_what_to_choose(qtbot: QtBot, demo_root: Path) -> None:
    panel = EvaluatePanel()
    qtbot.addWidget(panel)
    panel.set_data_root(str(demo_root))
    assert not panel.start_evaluation()
    assert "model file" in panel.last_error()
    assert not panel.is_busy()


def test_the_status_names_the_evaluated_model_and_says_when_another_is_chosen(
        qtbot: QtBot, trained_model: Path, demo_root: Path, tmp_path: Path) -> None:
    """Predict opening an exported .onnx (the window passes it on with set_model_path) leaves
    the shown results those of the earlier model: the panel says so and offers Evaluate."""
    from mlcls_gui.core.inference.export import export_model

    run = tmp_path / "run-1"
    run.mkdir()
    model = run / "final_model.pt"
    shutil.copy(trained_model, model)
    onnx = Path(export_model(model, "onnx").path)
    panel = make_panel(qtbot, model, demo_root)
    evaluate(qtbot, panel)
    assert "evaluated with <b>run-1/final_model.pt</b>" in panel.status_label.text()
    assert panel.evaluated_model() == str(model) and not panel.model_note.isVisible()

    panel.set_model_path(str(onnx))  # as the window does when Predict opens another model
    assert panel.results_are_stale() and panel.model_note.isVisible()
    note = panel.model_note.text()
    assert "results shown are from the earlier model, <b>run-1/final_model.pt</b>" in note
    assert f"<b>run-1/{onnx.name}</b> now chosen" in note and "Press <b>Evaluate</b>" in note
    assert panel.evaluate_button.text() == "Evaluate" and panel.evaluate_button.isEnabled()
    assert "run-1/final_model.pt" in panel.status_label.text()  # still the model of what is shown
    assert str(model) in panel.save_button.toolTip()  # Save writes into the evaluated file, not the .onnx

    panel.set_model_path(str(model))  # back to the evaluated one: nothing stale
    assert not panel.model_note.isVisible()
    panel.set_model_path(str(onnx))
    with qtbot.waitSignal(panel.evaluation_finished, timeout=TIMEOUT) as blocker:
        panel.evaluate_button.click()
    assert blocker.args == ["done"], panel.last_error()
    assert f"evaluated with <b>run-1/{onnx.name}</b>" in panel.status_label.text()
    assert panel.evaluated_model() == str(onnx) and not panel.model_note.isVisible()
