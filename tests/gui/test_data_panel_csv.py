"""The data panel takes a labels CSV: a button beside the folder picker, drops
on the field or anywhere on the panel, and a summary with the CSV's format and
its unknown cells."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from PySide6.QtWidgets import QFileDialog
from pytestqt.qtbot import QtBot

from mlcls_gui.gui.data.data_panel import DataPanel

from .conftest import drop_urls
from .test_data_panel import scan, top_item


@pytest.fixture()
def labels_csv(demo_root: Path, tmp_path: Path) -> Path:
    """A copy of the demo images listed as 0/1 columns in a CSV beside them;
    'cross' unknown for the circle-only images, and one listed file missing."""
    data = Path(shutil.copytree(demo_root, tmp_path / "data"))
    labels = ["circle", "cross", "square", "triangle"]
    lines = ["path," + ",".join(labels)]
    for image in sorted(data.rglob("*.png")):
        carried = image.parent.name.split("+")
        cells = ["" if label == "cross" and carried == ["circle"] else str(int(label in carried))
                 for label in labels]
        lines.append(os.path.relpath(image, tmp_path) + "," + ",".join(cells))
    lines.append("data/missing.png,1,0,0,0")
    path = tmp_path / "labels.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _panel(qtbot: QtBot) -> DataPanel:
    panel = DataPanel()
    qtbot.addWidget(panel)
    panel.show()
    return panel


def test_csv_root_summary_shows_format_and_unknown_cells(qtbot: QtBot, labels_csv: Path) -> None:
    panel = _panel(qtbot)
    scan(qtbot, panel, labels_csv)
    summary = panel.summary()
    assert summary is not None and summary.csv_format == "0/1 columns"
    assert summary.total_images == 54 and summary.unknown_cells == 6
    status = panel.status_label.text()
    assert "CSV, 0/1 columns, seeded split" in status and "<b>6</b> unknown label cells" in status
    unknown = top_item(panel, "Unknown label cells (6)")
    assert "0/1 columns" in unknown.text(1) and "6 image(s)" in unknown.text(1)
    assert [(unknown.child(i).text(0), unknown.child(i).text(1)) for i in range(unknown.childCount())] == [
        ("cross", "6")]
    skipped = top_item(panel, "Skipped files (1)")
    assert skipped.child(0).text(0) == str(Path("data") / "missing.png")
    assert skipped.child(0).text(1).startswith("file not found (row 56")
    assert panel.blocking_reason() == "" and panel.recent_roots()[0] == str(labels_csv)
    panel.set_recent_roots([str(labels_csv), str(labels_csv.with_name("gone.csv"))])
    assert panel.recent_roots() == [str(labels_csv)]


@pytest.fixture(params=["field", "details"])
def drop_target(request):
    return request.param


def test_dropping_a_csv_selects_it(qtbot: QtBot, labels_csv: Path, drop_target: str) -> None:
    panel = _panel(qtbot)
    target = panel.path_edit if drop_target == "field" else panel.details
    with qtbot.waitSignal(panel.root_chosen) as blocker:
        assert drop_urls(target, [labels_csv])
    assert blocker.args == [str(labels_csv)]
    qtbot.waitUntil(lambda: not panel.is_scanning() and panel.summary() is not None, timeout=30_000)
    assert panel.path_edit.text() == str(labels_csv) and panel.summary().csv_format


def test_dropping_another_file_on_the_panel_is_refused(qtbot: QtBot, tmp_path: Path) -> None:
    panel = _panel(qtbot)
    note = tmp_path / "notes.txt"
    note.write_text("x")
    assert drop_urls(panel.chart, [note])
    assert "is not a folder or a .csv file" in panel.status_label.text() and panel.root() == ""


def test_csv_button_opens_a_file_dialog(qtbot: QtBot, labels_csv: Path, monkeypatch) -> None:
    panel = _panel(qtbot)
    asked: list[tuple] = []

    def fake(parent, title, start, filters):
        asked.append((title, start, filters))
        return str(labels_csv), filters

    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(fake))
    with qtbot.waitSignal(panel.root_chosen) as blocker:
        panel.csv_button.click()
    assert blocker.args == [str(labels_csv)]
    assert asked and "*.csv" in asked[0][2]
    qtbot.waitUntil(lambda: not panel.is_scanning(), timeout=30_000)
    panel.csv_button.click()  # a second time it starts in the CSV's folder
    assert asked[1][1] == str(labels_csv.parent)
    qtbot.waitUntil(lambda: not panel.is_scanning(), timeout=30_000)
    panel.set_locked(True)
    assert not panel.csv_button.isEnabled() and not panel.acceptDrops()


def test_a_bad_csv_blocks_start_with_its_row(qtbot: QtBot, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("path,labels,split\na.png,cat,training\n", encoding="utf-8")
    panel = _panel(qtbot)
    scan(qtbot, panel, path)
    reason = panel.blocking_reason()
    assert "row 2, column 'split'" in reason and "use train, val or test" in reason
    assert panel.problems_label.isVisible()
