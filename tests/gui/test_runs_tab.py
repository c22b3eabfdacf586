"""The Runs tab on real run folders: table, overlaid curves, config diff, actions."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from mlcls_gui.core.output_names import ARCHIVE_FOLDER
from mlcls_gui.core.runs.listing import TABLE_COLUMNS
from mlcls_gui.gui.runs.runs_tab import RunsTab

from .conftest import tiny_config

COLUMN = {key: index for index, (key, _header) in enumerate(TABLE_COLUMNS)}


@pytest.fixture(scope="session")
def run_folder(demo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two real tiny_cnn runs into one output folder (the first is archived)."""
    import torch

    from mlcls_gui.core.training.engine import Trainer

    torch.set_num_threads(1)
    output = tmp_path_factory.mktemp("runs-tab") / "out"
    Trainer(tiny_config(demo_root, output, arch="tiny_cnn", n_epochs=3, learning_rate=1e-3)).run()
    Trainer(tiny_config(demo_root, output, arch="tiny_cnn", n_epochs=3, learning_rate=1e-2)).run()
    return output


@pytest.fixture
def tab(qtbot) -> RunsTab:
    widget = RunsTab()
    qtbot.addWidget(widget)
    widget.resize(1400, 900)
    widget.show()
    yield widget
    widget.shutdown()


def _load(qtbot, tab: RunsTab, folder: Path) -> None:
    with qtbot.waitSignal(tab.runs_loaded, timeout=30_000):
        tab.set_output_folder(str(folder))


def _cell(tab: RunsTab, row: int, key: str) -> str:
    return tab.table.item(row, COLUMN[key]).text()


def test_lists_the_runs_and_compares_two(qtbot, tab: RunsTab, run_folder: Path) -> None:
    _load(qtbot, tab, run_folder)
    assert tab.table.rowCount() == 2
    assert [_cell(tab, row, "settings") for row in range(2)] == ["learning_rate=0.01", "learning_rate=0.001"]
    assert {_cell(tab, row, "ended") for row in range(2)} == {"finished"}
    assert _cell(tab, 0, "epochs") == "3/3" and _cell(tab, 0, "arch") == "tiny_cnn"
    assert float(_cell(tab, 0, "test_map")) > 0
    assert "2 run(s)" in tab.status_label.text()

    tab.select_runs([r.folder for r in tab.records()])
    assert len(tab.curves.names) == 2
    lines = tab.curves.loss_plot.getPlotItem().listDataItems()
    assert len(lines) == 4  # train and validation loss of each run
    assert all(len(line.getData()[0]) == 3 for line in lines)
    assert tab.diff_view.rows() == [("Learning rate", "0.01", "0.001")]
    assert not tab.predict_button.isEnabled() and not tab.folder_button.isEnabled()

    shot = tab.grab()
    target = Path(os.environ.get("MLCLS_RUNS_SCREENSHOT", "") or run_folder.parent / "runs_tab.png")
    assert shot.save(str(target)) and target.stat().st_size > 0


def test_one_run_opens_in_predict_evaluate_and_its_folder(qtbot, tab: RunsTab, run_folder: Path) -> None:
    _load(qtbot, tab, run_folder)
    archived = next(r for r in tab.records() if r.archived)
    tab.select_runs([archived.folder])
    assert tab.predict_button.isEnabled() and tab.evaluate_button.isEnabled()
    assert tab.diff_view.rows() == [] and len(tab.curves.names) == 1
    with qtbot.waitSignal(tab.open_in_predict) as predict:
        tab.predict_button.click()
    assert predict.args == [str(archived.folder / "final_model.pt")]
    with qtbot.waitSignal(tab.open_in_evaluate) as evaluate:
        tab.evaluate_button.click()
    assert evaluate.args == predict.args
    opened: list[str] = []
    tab.open_folder = opened.append  # type: ignore[method-assign]
    tab.folder_button.click()
    assert opened == [str(archived.folder)]


def test_damaged_old_and_missing_folders_each_say_what_they_know(
        qtbot, tab: RunsTab, run_folder: Path, tmp_path: Path) -> None:
    extra = tmp_path / "more"
    broken = extra / "broken"
    shutil.copytree(run_folder, broken, ignore=shutil.ignore_patterns(ARCHIVE_FOLDER, "*.pt"))
    (broken / "summary.json").write_text("{ cut sh")
    (broken / "run.json").unlink()
    (broken / "config.json").write_text(json.dumps({"arch": "tiny_cnn", "n_epochs": "three"}))
    _load(qtbot, tab, run_folder)
    with qtbot.waitSignal(tab.runs_loaded, timeout=30_000):
        tab.add_folder(str(extra))
    with qtbot.waitSignal(tab.runs_loaded, timeout=30_000):
        tab.add_folder(str(tmp_path / "gone"))
    assert tab.folders() == [str(run_folder), str(extra), str(tmp_path / "gone")]
    assert tab.table.rowCount() == 3
    row = next(r for r in range(3) if tab.table.item(r, COLUMN["folder"]).text().endswith("broken"))
    assert _cell(tab, row, "ended") == "unknown" and _cell(tab, row, "test_map") == "—"
    assert "summary.json cannot be read" in tab.table.item(row, 0).toolTip()
    assert "gone does not exist" in tab.status_label.text()
    tab.select_runs([tab.records()[0].folder])
    tab.select_runs([r.folder for r in tab.records() if r.folder.name == "broken"])
    assert not tab.predict_button.isEnabled() and tab.folder_button.isEnabled()


def test_sorting_by_a_number_column_and_refresh_keeps_the_selection(
        qtbot, tab: RunsTab, run_folder: Path) -> None:
    _load(qtbot, tab, run_folder)
    tab.table.sortByColumn(COLUMN["test_map"], tab.table.horizontalHeader().sortIndicatorOrder().AscendingOrder)
    values = [float(_cell(tab, row, "test_map")) for row in range(2)]
    assert values == sorted(values)
    chosen = tab.records()[1].folder
    tab.select_runs([chosen])
    with qtbot.waitSignal(tab.runs_loaded, timeout=30_000):
        tab.refresh()
        tab.refresh()  # asked again while loading: loads once more, then reports
    assert [r.folder for r in tab.selected_records()] == [chosen]


def test_a_hidden_tab_reads_its_folders_when_shown(qtbot, run_folder: Path) -> None:
    tab = RunsTab()
    qtbot.addWidget(tab)
    with qtbot.waitSignal(tab._timer.timeout, timeout=5_000):  # the typing pause ended: refresh ran
        tab.set_output_folder(str(run_folder))
    assert tab.table.rowCount() == 0 and not tab.is_loading()  # hidden: nothing read yet
    with qtbot.waitSignal(tab.runs_loaded, timeout=30_000):
        tab.show()
    assert tab.table.rowCount() == 2
    newest = tab.records()[0]
    assert tab.record_for_model(str(newest.model_path)) is newest
    assert tab.record_for_model(str(run_folder / "nothing.pt")) is None
    tab.shutdown()


def test_the_settings_diff_shows_both_long_values_without_scrolling(qtbot) -> None:
    from mlcls_gui.core.runs.listing import ConfigDifference
    from mlcls_gui.gui.runs.config_diff_view import ConfigDiffView

    view = ConfigDiffView()
    qtbot.addWidget(view)
    view.resize(640, 300)
    view.show()
    first = "/home/someone/projects/" + "a" * 90 + "/images"
    second = "/media/usb-disk/" + "b" * 90 + "/images"
    view.show_pair("run 1", "run 2", [ConfigDifference("images_root", first, second),
                                      ConfigDifference("learning_rate", 0.01, 0.001)])
    qtbot.waitUntil(lambda: view.table.columnWidth(1) > 100)
    table = view.table
    assert table.horizontalScrollBar().maximum() == 0  # both values in view
    assert abs(table.columnWidth(1) - table.columnWidth(2)) <= 1
    assert table.columnWidth(0) >= table.fontMetrics().horizontalAdvance("Data folder")
    assert view.rows()[0] == ("Data folder", first, second)
    assert table.item(0, 2).toolTip() == second
    # The paths wrap onto more lines rather than being cut; the short values stay one line.
    line = table.fontMetrics().height()
    assert table.rowHeight(0) >= 3 * line > table.rowHeight(1)
    view.resize(1800, 300)
    qtbot.waitUntil(lambda: table.rowHeight(0) < 3 * line)  # wider: fewer lines
