"""The data folder: scanned off the GUI thread, summarised, problems block Start."""

from __future__ import annotations

import shutil
from pathlib import Path

from PySide6.QtWidgets import QTreeWidgetItem
from pytestqt.qtbot import QtBot

from mlcls_gui.gui.data.data_panel import SPLIT_COLOURS, DataPanel

from .conftest import drop_urls, tiny_config


def scan(qtbot: QtBot, panel: DataPanel, root: Path) -> None:
    with qtbot.waitSignal(panel.summary_changed, timeout=30_000, check_params_cb=lambda *a: not panel.is_scanning()):
        panel.set_root(str(root))
    qtbot.waitUntil(lambda: not panel.is_scanning(), timeout=30_000)


def top_item(panel: DataPanel, prefix: str) -> QTreeWidgetItem:
    for index in range(panel.details.topLevelItemCount()):
        item = panel.details.topLevelItem(index)
        if item.text(0).startswith(prefix):
            return item
    raise AssertionError(f"no {prefix!r} item")


def test_scan_shows_splits_labels_chart_and_skipped_files(qtbot: QtBot, demo_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "data"
    shutil.copytree(demo_root, root)
    (root / "circle" / "notes.txt").write_text("not an image")
    (root / "square" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nthis is not really a png")
    panel = DataPanel()
    qtbot.addWidget(panel)
    scan(qtbot, panel, root)
    summary = panel.summary()
    assert summary is not None and summary.total_images == 54
    assert "train <b>36</b>" in panel.status_label.text()
    assert len(panel._bars) == 3  # train / val / test bars
    heights = list(panel._bars[0].opts["height"])
    assert heights == [summary.label_counts["train"][label] for label in summary.labels]
    labels = top_item(panel, "Labels")
    assert [labels.child(i).text(0) for i in range(labels.childCount())] == list(summary.labels)
    skipped = top_item(panel, "Skipped files (2)")
    reasons = {skipped.child(i).text(0): skipped.child(i).text(1) for i in range(skipped.childCount())}
    assert "not an image file (.txt)" in reasons[str(Path("circle") / "notes.txt")]
    assert str(Path("square") / "broken.png") in reasons
    assert top_item(panel, "Label sets (9)").childCount() == 9
    assert panel.blocking_reason() == ""
    assert panel.recent_roots()[0] == str(root)


def test_problems_are_shown_and_block_start(qtbot: QtBot, make_window, tmp_path: Path) -> None:
    root = tmp_path / "one-label"
    (root / "cat").mkdir(parents=True)
    from PIL import Image

    for index in range(6):
        Image.new("RGB", (16, 16), (index * 30, 0, 0)).save(root / "cat" / f"{index}.png")
    window = make_window()
    window.apply_config(tiny_config(root, tmp_path / "out"))
    panel = window.data_panel
    # The scan's result reaches the run panel's hint after the scan ends: wait for that state.
    qtbot.waitUntil(lambda: window._torch_ready and not panel.is_scanning()
                    and "same labels" in window.run_panel.start_hint.text(), timeout=60_000)
    assert panel.problems_label.isVisible()
    assert "same labels" in panel.problems_label.text()
    assert not window.run_panel.start_button.isEnabled()
    assert "same labels" in window.run_panel.start_hint.text()
    assert not window.start_run()


def test_missing_folder_is_a_problem_not_a_crash(qtbot: QtBot, tmp_path: Path) -> None:
    panel = DataPanel()
    qtbot.addWidget(panel)
    panel.show()
    scan(qtbot, panel, tmp_path / "nowhere")
    assert "does not exist" in panel.blocking_reason()
    assert panel.problems_label.isVisible()


def test_every_badly_named_label_folder_is_listed_on_its_own_line(
        qtbot: QtBot, demo_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "data"
    shutil.copytree(demo_root, root)
    (root / "circle").rename(root / "circle++square")
    (root / "cross").rename(root / "cross+.old")
    panel = DataPanel()
    qtbot.addWidget(panel)
    panel.show()
    scan(qtbot, panel, root)
    text = panel.problems_label.text()
    assert text.count("• ") == 2 and "circle++square" in text and "cross+.old" in text


def test_dropping_a_folder_on_the_field_selects_it(qtbot: QtBot, demo_root: Path) -> None:
    panel = DataPanel()
    qtbot.addWidget(panel)
    panel.show()
    with qtbot.waitSignal(panel.root_chosen) as blocker:
        assert drop_urls(panel.path_edit, [demo_root])
    assert blocker.args == [str(demo_root)]
    qtbot.waitUntil(lambda: not panel.is_scanning() and panel.summary() is not None, timeout=30_000)
    assert panel.path_edit.text() == str(demo_root)


def test_dropping_a_file_on_the_field_says_it_is_not_a_folder(qtbot: QtBot, demo_root: Path) -> None:
    panel = DataPanel()
    qtbot.addWidget(panel)
    panel.show()
    image = next((demo_root / "circle").iterdir())
    assert drop_urls(panel.path_edit, [image])
    assert "is not a folder" in panel.status_label.text()
    assert panel.root() == ""


def test_recent_folders_are_only_folders_that_scanned_well(qtbot: QtBot, demo_root: Path, tmp_path: Path) -> None:
    """Issue 15: Recent listed folders that were missing or empty."""
    panel = DataPanel()
    qtbot.addWidget(panel)
    panel.show()
    scan(qtbot, panel, tmp_path / "nowhere")
    empty = tmp_path / "empty"
    empty.mkdir()
    scan(qtbot, panel, empty)
    assert panel.recent_roots() == []
    assert not panel.recent_button.isEnabled()
    scan(qtbot, panel, demo_root)
    assert panel.recent_roots() == [str(demo_root)]
    assert [a.text() for a in panel.recent_menu.actions()] == [str(demo_root)]
    # A folder remembered from an earlier session that is gone now is not offered.
    panel.set_recent_roots([str(tmp_path / "gone"), str(demo_root)])
    assert panel.recent_roots() == [str(demo_root)]


def test_the_chart_names_its_colours_and_forgets_labels_after_a_failed_scan(
        qtbot: QtBot, demo_root: Path, tmp_path: Path) -> None:
    panel = DataPanel()
    qtbot.addWidget(panel)
    panel.show()
    scan(qtbot, panel, demo_root)
    title = panel.chart.getPlotItem().titleLabel.text
    for split, bar in zip(("train", "val", "test"), panel._bars):
        colour = SPLIT_COLOURS[split]
        assert f"<span style='color:{colour}'>■</span> {split}" in title  # the title is the legend
        assert bar.opts["brush"] == colour
    axis = panel.chart.getPlotItem().getAxis("bottom")
    assert [name for _, name in axis._tickLevels[0]] == ["circle", "cross", "square", "triangle"]
    scan(qtbot, panel, tmp_path / "nowhere")
    assert axis._tickLevels == [[]] and panel._bars == []


def test_applying_a_config_rescans_its_folder_after_a_failed_scan(qtbot, make_window, tmp_path) -> None:
    """A folder that did not exist at start-up (the demo, written later) is scanned again."""
    from mlcls_gui.core.data.demo import write_demo_dataset

    from .conftest import tiny_config

    window = make_window()
    root = tmp_path / "later"
    window.data_panel.set_root(str(root))
    qtbot.waitUntil(lambda: not window.data_panel.is_scanning(), timeout=30_000)
    assert "does not exist" in window.data_panel.blocking_reason()
    write_demo_dataset(root, images_per_folder=4, image_size=16)
    window.apply_config(tiny_config(root, tmp_path / "out"))
    qtbot.waitUntil(lambda: window.data_panel.blocking_reason() == "", timeout=30_000)
