"""Label tab: suggestions fill the chips; Enter and 0 accept; Apply moves only the
accepted images out of unlabelled/; Undo puts them back; a new model refreshes the queue."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from mlcls_gui.gui.review.labelling_tab import LabellingTab

from .test_review_tab import snapshot


@pytest.fixture
def data(tmp_path: Path, demo_root: Path) -> Path:
    root = tmp_path / "data"
    shutil.copytree(demo_root, root)
    waiting = root / "unlabelled"
    waiting.mkdir()
    for folder in ("circle", "square", "triangle", "circle+square"):
        shutil.move(sorted((root / folder).glob("*.png"))[-1], waiting / f"{folder}_new.png")
    (waiting / "notes.pdf").write_bytes(b"%PDF-1.4 not an image")
    return root


@pytest.fixture
def tab(qtbot) -> LabellingTab:
    widget = LabellingTab()
    widget.confirm_apply = lambda count: True  # type: ignore[method-assign]
    widget.resize(1000, 680)
    qtbot.addWidget(widget)
    widget.show()
    yield widget
    widget.shutdown()


def loaded(qtbot, tab: LabellingTab, root: Path, model: str = "") -> None:
    tab.set_data_root(str(root))
    if model:
        tab.set_model_path(model)
    qtbot.mouseClick(tab.load_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tab.queue() is not None and not tab.is_busy(), timeout=120_000)
    qtbot.waitUntil(lambda: len(tab.rows()) == len(tab.queue().items), timeout=10_000)


def test_suggestions_fill_the_chips_and_keys_accept(qtbot, tab: LabellingTab, data: Path):
    loaded(qtbot, tab, data)
    queue = tab.queue()
    assert len(queue.items) == 4 and "linear probe" in queue.source
    assert "could not be read" in tab.status.text() and "notes.pdf" in tab.status.text()  # named, left there
    first = tab.rows()[0]
    assert set(first.new_labels()) == set(queue.items[0].suggested)  # pre-filled with the suggestion
    # Each chip shows the confidence; the suggested ones carry the star.
    for chip, p in zip(first.chips, queue.items[0].confidences):
        assert f"{p:.2f}" in chip.text() and ("★" in chip.text()) == (chip.label in queue.items[0].suggested)
    tab.setFocus()
    qtbot.keyClick(tab, Qt.Key.Key_1)  # toggle the first label, then accept
    toggled = first.new_labels()
    qtbot.keyClick(tab, Qt.Key.Key_Return)
    assert tab.accepted() == {first.path: toggled} and first.accepted
    assert tab.current_row() is tab.rows()[1]
    qtbot.keyClick(tab, Qt.Key.Key_0)  # none of these labels
    assert tab.accepted()[tab.rows()[1].path] == ()
    assert tab.apply_button.text() == "Apply 2 label(s)"


def test_apply_moves_only_accepted_images_and_undo_puts_them_back(qtbot, tab: LabellingTab, data: Path):
    before = snapshot(data)
    loaded(qtbot, tab, data)
    tab.setFocus()
    rows = tab.rows()
    rows[0].set_labels(["circle"])
    qtbot.keyClick(tab, Qt.Key.Key_Return)
    qtbot.keyClick(tab, Qt.Key.Key_0)
    accepted = tab.accepted()
    with qtbot.waitSignal(tab.data_changed, timeout=30_000):
        qtbot.mouseClick(tab.apply_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not tab.is_busy(), timeout=10_000)
    first, second = list(accepted)
    assert (data / "circle" / Path(first).name).is_file() and (data / "_no_label" / Path(second).name).is_file()
    assert sorted(p.name for p in (data / "unlabelled").iterdir()) == sorted(
        {"circle_new.png", "square_new.png", "triangle_new.png", "circle+square_new.png", "notes.pdf"}
        - {Path(first).name, Path(second).name})
    assert len(tab.queue().items) == 2 and tab.accepted() == {}
    with qtbot.waitSignal(tab.data_changed, timeout=30_000):
        qtbot.mouseClick(tab.undo_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not tab.is_busy(), timeout=10_000)
    assert snapshot(data) == before


def test_a_new_model_refreshes_the_queue_and_train_asks_for_a_warm_start(qtbot, tab: LabellingTab, data: Path,
                                                                         trained_model: Path):
    loaded(qtbot, tab, data)
    assert "linear probe" in tab.queue().source
    tab.set_model_path(str(trained_model))  # e.g. a run on the new labels finished
    qtbot.waitUntil(lambda: tab.queue() is not None and tab.queue().source.startswith("the model")
                    and not tab.is_busy(), timeout=60_000)
    with qtbot.waitSignal(tab.train_requested, timeout=5_000) as signal:
        qtbot.mouseClick(tab.train_button, Qt.MouseButton.LeftButton)
    assert signal.args == [str(trained_model)]


def test_a_folder_without_unlabelled_images_says_where_to_put_them(qtbot, tab: LabellingTab, demo_root: Path):
    tab.set_data_root(str(demo_root))
    qtbot.mouseClick(tab.load_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not tab.is_busy(), timeout=60_000)
    assert "no unlabelled images" in tab.status.text() and "unlabelled" in tab.status.text()
    tab.last_error_box.close()


def test_the_window_shows_the_tab_whole_at_1024_wide_and_links_it(qtbot, make_window, data: Path):
    window = make_window(warm_up_now=False)
    window.show()
    window.resize(1024, 700)
    tab = window.labelling_tab
    assert window.main_tabs.indexOf(tab) == window.main_tabs.indexOf(window.review_tab) + 1
    window.data_panel.set_root(str(data))
    qtbot.waitUntil(lambda: "<b>4</b> unlabelled image(s) in unlabelled/" in window.data_panel.status_label.text(),
                    timeout=30_000)
    assert tab.load_button.isEnabled()  # the data panel gave the tab its folder
    window.main_tabs.setCurrentWidget(tab)
    tab.load_queue()
    qtbot.waitUntil(lambda: tab.queue() is not None and not tab.is_busy(), timeout=120_000)
    qtbot.waitUntil(lambda: len(tab.rows()) == len(tab.queue().items), timeout=10_000)
    QApplication.processEvents()
    assert window.central_scroll.horizontalScrollBar().maximum() == 0
    assert tab.scroll.horizontalScrollBar().maximum() == 0
    for button in (tab.apply_button, tab.undo_button, tab.train_button, tab.accept_button, tab.none_button):
        corner = button.mapTo(window, button.rect().bottomRight())
        assert corner.x() <= window.width() and corner.y() <= window.height(), button.text()
