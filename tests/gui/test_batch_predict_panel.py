"""The batch-predict panel: a folder in, a CSV (and optionally label folders) out."""

from __future__ import annotations

import csv
import shutil
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from mlcls_gui.core.inference.predict import Predictor, save_thresholds
from mlcls_gui.gui.predict.batch_predict_panel import BatchPredictPanel

TIMEOUT = 30_000


@pytest.fixture
def image_folder(demo_root: Path, tmp_path: Path) -> Path:
    """Three label folders of the demo set, nested one level deeper, plus a corrupt file."""
    folder = tmp_path / "new-images"
    for name in ("circle", "cross+square", "circle+square+triangle"):
        shutil.copytree(demo_root / name, folder / "batch" / name)
    (folder / "broken.png").write_bytes(b"not really a png")
    return folder


def make_panel(qtbot: QtBot) -> BatchPredictPanel:
    panel = BatchPredictPanel()
    qtbot.addWidget(panel)
    panel.resize(800, 400)
    panel.show()
    return panel


def run(qtbot: QtBot, panel: BatchPredictPanel, expected: str = "done") -> None:
    with qtbot.waitSignal(panel.finished, timeout=TIMEOUT) as blocker:
        assert panel.start()
    assert blocker.args == [expected], panel.last_error()
    assert not panel.is_busy() and panel.run_button.isEnabled()


def test_the_csv_has_one_row_per_image_and_the_copies_go_into_plus_named_folders(
        qtbot: QtBot, trained_model: Path, image_folder: Path, tmp_path: Path) -> None:
    panel = make_panel(qtbot)
    panel.set_model_path(str(trained_model))
    panel.set_folder(str(image_folder))
    # The CSV path is suggested next to the folder, not inside it.
    assert panel.csv_field.path() == str(tmp_path / "new-images_predictions.csv")
    output = tmp_path / "out.csv"
    panel.set_csv_path(str(output))
    copies = tmp_path / "sorted"
    panel.set_copy_target(str(copies))
    run(qtbot, panel)

    predictor = Predictor.from_file(trained_model)
    labels = predictor.labels
    images = sorted(str(p) for p in image_folder.rglob("*.png"))
    with open(output, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["path", *labels, "predicted", "error"]
    body = {row[0]: row for row in rows[1:]}
    assert sorted(body) == images and len(rows) - 1 == len(images) == 19
    broken = body[str(image_folder / "broken.png")]
    assert broken[-1] and all(value == "" for value in broken[1:-1])
    copied_into: dict[str, str] = {}
    for path, row in body.items():
        if path.endswith("broken.png"):
            continue
        probabilities = [float(v) for v in row[1:1 + len(labels)]]
        assert all(0.0 <= p <= 1.0 for p in probabilities)
        predicted = [label for label, p, t in zip(labels, probabilities, predictor.thresholds) if p >= t]
        assert row[-2] == "+".join(predicted) and row[-1] == ""
        copied_into[Path(path).name] = "+".join(sorted(predicted)) or "_no_label"

    # Every readable image was copied into the folder named after its predicted labels.
    found = {p.name: p.parent.name for p in copies.rglob("*.png")}
    assert found == copied_into
    assert all(p.parent.parent == copies for p in copies.rglob("*.png"))

    result = panel.result()
    assert result is not None and result.predicted == 18 and len(result.unreadable) == 1
    assert result.copied == 18
    summary = panel.summary_label.text()
    assert "18 image(s) predicted" in summary and "1 unreadable" in summary and str(output) in summary
    assert sum(result.label_sets.values()) == 18 and panel.sets_table.rowCount() == len(result.label_sets)
    # Every image is listed with its labels and confidences, sortable by a label's confidence.
    table = panel.images_table
    assert table.rowCount() == len(result.predictions) == 19 and table.columnCount() == 2 + len(labels)
    listed = {table.item(row, 0).toolTip(): table.item(row, 1).text() for row in range(table.rowCount())}
    assert listed[str(image_folder / "broken.png")].startswith("unreadable")
    for path, row in body.items():
        if not path.endswith("broken.png"):
            assert listed[path] == (row[-2] or "(no label)")
    table.sortItems(2, Qt.SortOrder.DescendingOrder)
    column = [table.item(row, 2).data(Qt.ItemDataRole.DisplayRole) for row in range(table.rowCount())
              if table.item(row, 2) is not None]
    assert len(column) == 18 and column == sorted(column, reverse=True)  # numbers, not text
    with qtbot.waitSignal(panel.open_image_requested) as opened:
        table.cellDoubleClicked.emit(0, 1)
    assert opened.args == [table.item(0, 0).toolTip()]


def test_images_with_several_predicted_labels_go_into_a_plus_named_folder(
        qtbot: QtBot, trained_model: Path, image_folder: Path, tmp_path: Path) -> None:
    model = tmp_path / "eager.pt"
    shutil.copy(trained_model, model)
    labels = Predictor.from_file(model).labels
    save_thresholds(model, [0.001] * len(labels))  # every label predicted for every image
    panel = make_panel(qtbot)
    panel.set_model_path(str(model))
    panel.set_folder(str(image_folder))
    panel.set_copy_target(str(tmp_path / "sorted"))
    run(qtbot, panel)
    folders = {p.name: len(list(p.iterdir())) for p in (tmp_path / "sorted").iterdir()}
    assert folders == {"+".join(sorted(labels)): 18}


def test_a_bad_model_file_gives_a_message_and_writes_nothing(
        qtbot: QtBot, image_folder: Path, tmp_path: Path) -> None:
    bad = tmp_path / "broken-model.pt"
    bad.write_bytes(b"\x00" * 64)
    panel = make_panel(qtbot)
    panel.set_model_path(str(bad))
    panel.set_folder(str(image_folder))
    run(qtbot, panel, expected="failed")
    assert "broken-model.pt" in panel.last_error()
    assert "broken-model.pt" in panel.summary_label.text()
    assert not (tmp_path / "new-images_predictions.csv").exists()
    boxes = [box for box in panel.findChildren(QMessageBox) if box.isVisible()]
    assert boxes and "broken-model.pt" in boxes[0].text()


def test_an_earlier_predictions_csv_is_replaced_only_when_the_user_agrees(
        qtbot: QtBot, trained_model: Path, image_folder: Path, tmp_path: Path, monkeypatch) -> None:
    """A predictions CSV (a 'path' column, like a labels file) is named for what
    it is before it is replaced; a symlink is refused without a question."""
    panel = make_panel(qtbot)
    panel.set_model_path(str(trained_model))
    panel.set_folder(str(image_folder))
    output = tmp_path / "out.csv"
    panel.set_csv_path(str(output))
    run(qtbot, panel)  # a new file: no question
    before = output.read_bytes()
    asked: list[str] = []
    answers = [QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Yes]

    def answer(_parent, _title, text, *_args):
        asked.append(text)
        return answers.pop(0)

    monkeypatch.setattr(QMessageBox, "question", answer)
    output.write_bytes(before + b"# a mark\n")
    assert not panel.start()
    assert len(asked) == 1 and "labels file" in asked[0] and str(output) in asked[0]
    assert "Not started" in panel.last_error() and output.read_bytes().endswith(b"# a mark\n")
    run(qtbot, panel)  # the user says Yes
    assert len(asked) == 2 and not output.read_bytes().endswith(b"# a mark\n")
    link = tmp_path / "link.csv"
    link.symlink_to(output)
    panel.set_csv_path(str(link))
    assert not panel.start() and len(asked) == 2
    assert link.is_symlink()


def test_the_save_dialog_names_what_it_would_replace(qtbot: QtBot, tmp_path: Path, monkeypatch) -> None:
    """Browse… in save mode: Qt's own replace question is off, ours names the
    file's kind; after a Yes the caller is not asked a second time."""
    from mlcls_gui.gui.widgets import dialogs
    from mlcls_gui.gui.widgets.fields import PathField

    model = tmp_path / "final_model.pt"
    model.write_bytes(b"x")
    calls: list[dict] = []

    def save_dialog(*args, **kwargs):
        calls.append(kwargs)
        return str(model), ""

    asked: list[str] = []
    monkeypatch.setattr(dialogs.QFileDialog, "getSaveFileName", save_dialog)
    monkeypatch.setattr(QMessageBox, "question",
                        lambda _p, _t, text, *_a: asked.append(text) or QMessageBox.StandardButton.Yes)
    field = PathField("save", "Save")
    qtbot.addWidget(field)
    field.browse_button.click()
    assert calls[0]["options"] == dialogs.QFileDialog.Option.DontConfirmOverwrite
    assert len(asked) == 1 and "is a model file" in asked[0]
    assert field.path() == str(model) and field.replace_agreed()
    field.set_path(str(tmp_path / "other.pt"))
    assert not field.replace_agreed()


def test_missing_choices_are_named_and_a_copy_folder_inside_the_images_is_refused(
        qtbot: QtBot, trained_model: Path, image_folder: Path) -> None:
    panel = make_panel(qtbot)
    assert not panel.start()
    assert panel.last_error() == "Choose a model file, a folder of images and a CSV file to write first."
    panel.set_model_path(str(trained_model))
    panel.set_folder(str(image_folder))
    panel.set_copy_target(str(image_folder / "sorted"))
    run(qtbot, panel, expected="failed")
    assert "inside the folder" in panel.last_error()
    assert not (image_folder / "sorted").exists()


def test_cancel_stops_before_the_csv_is_written(
        qtbot: QtBot, trained_model: Path, demo_root: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    started, release = threading.Event(), threading.Event()
    calls: list[int] = []
    real = Predictor.predict_paths

    def slow_predict(self: Predictor, paths, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(len(paths))
        started.set()
        release.wait(10)
        return real(self, paths, **kwargs)

    monkeypatch.setattr(Predictor, "predict_paths", slow_predict)
    panel = make_panel(qtbot)
    panel.set_model_path(str(trained_model))
    panel.set_folder(str(demo_root))  # 54 images: two chunks
    output = tmp_path / "cancelled.csv"
    panel.set_csv_path(str(output))
    with qtbot.waitSignal(panel.finished, timeout=TIMEOUT) as blocker:
        assert panel.start()
        qtbot.waitUntil(started.is_set, timeout=TIMEOUT)
        panel.cancel_button.click()
        release.set()
    assert blocker.args == ["cancelled"]
    assert len(calls) == 1
    assert not output.exists()
    assert "Cancelled" in panel.summary_label.text()


def test_the_text_follows_the_progress_bar(qtbot: QtBot) -> None:
    """Issue 15: "Looking for images…" stayed while the bar said "Predicting 352/450"."""
    panel = make_panel(qtbot)
    panel.progress_bar.show()
    panel._runner.progressed.emit(0, 0, "Looking for images…")
    assert panel.summary_label.text() == "Looking for images…"
    panel._runner.progressed.emit(352, 450, "Predicting")
    assert panel.progress_bar.format() == "Predicting 352 / 450"
    assert panel.summary_label.text() == "Predicting 352 of 450 images…"


def test_the_panel_predicts_through_the_cores_function_with_its_progress_and_cancel(
        qtbot: QtBot, trained_model: Path, image_folder: Path, tmp_path: Path, monkeypatch) -> None:
    """The CLI's predict calls the same function (tests/core/test_ops_batch_predict.py):
    one set of rules for both. The job's ProgressState and Cancel flag are the
    progress protocol as they are."""
    from mlcls_gui.core.ops import batch_predict

    calls: list[tuple] = []
    real = batch_predict.predict_batch

    def spy(model, inputs, **kwargs):
        calls.append((model, list(inputs), kwargs))
        return real(model, inputs, **kwargs)

    monkeypatch.setattr(batch_predict, "predict_batch", spy)
    panel = make_panel(qtbot)
    panel.set_model_path(str(trained_model))
    panel.set_folder(str(image_folder))
    panel.set_csv_path(str(tmp_path / "out.csv"))
    panel.set_copy_target(str(tmp_path / "sorted"))
    run(qtbot, panel)
    ((model, inputs, kwargs),) = calls
    assert model == str(trained_model) and inputs == [str(image_folder)]
    assert kwargs["csv_path"] == str(tmp_path / "out.csv") and kwargs["copy_to"] == str(tmp_path / "sorted")
    assert kwargs["on_progress"].__name__ == "set" and kwargs["should_stop"].__name__ == "is_set"
    assert panel.result() is not None and panel.result().copied == 18


@pytest.mark.parametrize("case", ["copy-into-a-file", "csv-in-a-missing-folder"])
def test_targets_the_cli_refuses_are_refused_before_the_model_is_read(
        qtbot: QtBot, image_folder: Path, tmp_path: Path, case: str) -> None:
    """The core's refusals, before any work: a damaged model file would otherwise be
    the message (it used to come after every image was predicted)."""
    bad = tmp_path / "broken-model.pt"
    bad.write_bytes(b"\x00" * 64)
    panel = make_panel(qtbot)
    panel.set_model_path(str(bad))
    panel.set_folder(str(image_folder))
    if case == "copy-into-a-file":
        (tmp_path / "a_file").write_text("x")
        panel.set_copy_target(str(tmp_path / "a_file"))
        words = "is a file, not a folder"
    else:
        panel.set_csv_path(str(tmp_path / "no" / "out.csv"))
        words = "does not exist"
    run(qtbot, panel, expected="failed")
    assert words in panel.last_error() and "broken-model.pt" not in panel.last_error()
    for box in panel.findChildren(QMessageBox):
        box.close()


def test_a_path_typed_over_the_suggested_csv_replaces_it(qtbot: QtBot, tmp_path: Path) -> None:
    panel = make_panel(qtbot)
    panel.activateWindow()
    panel.set_folder(str(tmp_path / "photos"))
    assert panel.csv_field.is_suggestion()
    edit = panel.csv_field.edit
    qtbot.mouseClick(edit, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: edit.selectedText() == edit.text())
    qtbot.keyClicks(edit, "/data/mine.csv")
    assert panel.csv_field.path() == "/data/mine.csv"  # not the suggestion with the typing at its end
    assert not panel.csv_field.is_suggestion()
    # A path the user typed is theirs: another folder does not overwrite it.
    panel.set_folder(str(tmp_path / "more"))
    assert panel.csv_field.path() == "/data/mine.csv"
