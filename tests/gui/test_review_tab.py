"""Review tab: finder in the background, chips and keys, Apply moves, Undo restores."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from mlcls_gui.core.data.demo import write_demo_dataset
from mlcls_gui.core.review.options import ReviewOptions
from mlcls_gui.gui.review.review_tab import ALL_LABELS, CHUNK_SIZE, PAGE_SIZE, ReviewTab

FAST = ReviewOptions(train_arch="tiny_cnn", train_image_size=32, train_epochs=2)


def snapshot(root: Path) -> dict[str, bytes | None]:
    found: dict[str, bytes | None] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            found[os.path.relpath(os.path.join(dirpath, name), root)] = None
        for name in filenames:
            found[os.path.relpath(os.path.join(dirpath, name), root)] = Path(dirpath, name).read_bytes()
    return found


@pytest.fixture
def data(tmp_path: Path, demo_root: Path) -> Path:
    root = tmp_path / "data"
    shutil.copytree(demo_root, root)
    return root


@pytest.fixture
def tab(qtbot) -> ReviewTab:
    widget = ReviewTab()
    widget.options = FAST
    widget.confirm_apply = lambda count: True  # type: ignore[method-assign]
    widget.resize(1100, 700)
    qtbot.addWidget(widget)
    widget.show()
    yield widget
    widget.shutdown()


def reviewed(qtbot, tab: ReviewTab, root: Path) -> None:
    tab.set_data_root(str(root))
    with qtbot.waitSignal(tab.review_finished, timeout=120_000):
        qtbot.mouseClick(tab.find_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not tab.is_busy(), timeout=10_000)
    whole_page(qtbot, tab)


def whole_page(qtbot, tab: ReviewTab) -> None:
    """The rows of the first page, built a few per turn of the event loop."""
    wanted = min(len(tab.report().items), PAGE_SIZE)
    qtbot.waitUntil(lambda: len(tab.rows()) == wanted, timeout=10_000)


def test_review_lists_ranked_rows_with_chips_and_thumbnails(qtbot, tab: ReviewTab, data: Path, tmp_path: Path) -> None:
    reviewed(qtbot, tab, data)
    report = tab.report()
    assert report is not None and len(report.items) == 54
    rows = tab.rows()
    assert [row.path for row in rows] == [item.path for item in report.items]
    assert len(rows[0].chips) == 4 and tab.current_row() is rows[0]
    assert "never saw" in tab.status.text() and "feature extractor was trained on" in tab.status.text()
    qtbot.waitUntil(lambda: all(row.thumbnail.has_image() for row in tab.rows()), timeout=10_000)
    # The filter keeps images whose given or suggested labels hold the label.
    tab.filter_box.setCurrentText("cross")
    assert tab.rows() and all("cross" in r.item.given or "cross" in r.item.suggested for r in tab.rows())
    tab.flagged_only.setChecked(True)
    assert all(row.item.flagged for row in tab.rows())
    tab.flagged_only.setChecked(False)
    tab.filter_box.setCurrentText(ALL_LABELS)
    shot = tmp_path / "review_tab.png"
    assert tab.grab().save(str(shot)) and shot.stat().st_size > 10_000


def test_the_rows_are_built_a_few_at_a_time_and_moving_on_builds_the_next(qtbot, tab: ReviewTab, data: Path) -> None:
    tab.set_data_root(str(data))
    built_at_the_end: list[int] = []
    tab.review_finished.connect(lambda: built_at_the_end.append(len(tab.rows())))
    with qtbot.waitSignal(tab.review_finished, timeout=120_000):
        qtbot.mouseClick(tab.find_button, Qt.MouseButton.LeftButton)
    # The first rows at once (the window keeps reacting), the rest of the page after.
    assert built_at_the_end == [CHUNK_SIZE] and not tab.more_button.isVisible()
    whole_page(qtbot, tab)
    # The review's 54 images: the first page is all of them, more than one chunk.
    assert len(tab.rows()) == len(tab.report().items) > CHUNK_SIZE
    tab.flagged_only.setChecked(True)  # a new list: its first chunk again
    tab.flagged_only.setChecked(False)
    assert len(tab.rows()) == CHUNK_SIZE
    # Moving onto the last row built builds the next ones at once.
    for _ in range(CHUNK_SIZE):
        qtbot.keyClick(tab, Qt.Key.Key_Down)
    assert len(tab.rows()) > CHUNK_SIZE and tab.current_row() is tab.rows()[CHUNK_SIZE]


def test_keys_move_toggle_and_accept(qtbot, tab: ReviewTab, data: Path) -> None:
    reviewed(qtbot, tab, data)
    tab.setFocus()
    first = tab.current_row()
    qtbot.keyClick(tab, Qt.Key.Key_Down)
    second = tab.current_row()
    assert second is not first and second is tab.rows()[1]
    qtbot.keyClick(tab, Qt.Key.Key_Up)
    assert tab.current_row() is first
    label = first.chips[0].label
    had = label in first.item.given
    qtbot.keyClick(tab, Qt.Key.Key_1)
    assert (label in first.new_labels()) is not had
    qtbot.keyClick(tab, Qt.Key.Key_1)  # back again: no change pending
    assert tab.pending_changes() == {}
    qtbot.keyClick(tab, Qt.Key.Key_Return)  # accept the suggestion, go on
    assert set(first.new_labels()) == set(first.item.suggested)
    assert tab.current_row() is second
    changed = set(first.item.suggested) != set(first.item.given)
    assert (first.path in tab.pending_changes()) is changed


def test_clicking_a_chip_toggles_its_label(qtbot, tab: ReviewTab, data: Path) -> None:
    reviewed(qtbot, tab, data)
    row = tab.rows()[3]
    chip = next(c for c in row.chips if c.label not in row.item.given)
    # As a user sees it: thumbnails in place (one arriving between the press and the
    # release moves the rows, and the release misses the chip), the row in view.
    qtbot.waitUntil(lambda: all(r.thumbnail.has_image() for r in tab.rows()), timeout=10_000)
    tab.scroll.ensureWidgetVisible(row)
    QApplication.processEvents()
    qtbot.mouseClick(chip, Qt.MouseButton.LeftButton)
    assert chip.label in row.new_labels()
    assert tab.current_row() is row
    assert tab.pending_changes()[row.path] == row.new_labels()
    assert tab.apply_button.isEnabled() and "1 change" in tab.apply_button.text()


def test_apply_moves_and_undo_restores_the_tree(qtbot, tab: ReviewTab, data: Path) -> None:
    before = snapshot(data)
    reviewed(qtbot, tab, data)
    rows = tab.rows()[:2]
    targets = []
    for row in rows:  # give each a label set it does not have
        new = ("circle", "cross") if set(row.item.given) != {"circle", "cross"} else ("square",)
        row.set_labels(new)
        targets.append((row.path, new))
    assert len(tab.pending_changes()) == 2
    with qtbot.waitSignal(tab.data_changed, timeout=10_000) as changed:
        qtbot.mouseClick(tab.apply_button, Qt.MouseButton.LeftButton)
    assert changed.args == [str(data)]
    qtbot.waitUntil(lambda: not tab.is_busy(), timeout=10_000)
    for old_path, new in targets:
        assert not Path(old_path).exists()
        assert (data / "+".join(new) / Path(old_path).name).is_file()
    assert tab.pending_changes() == {}
    assert tab.undo_button.isEnabled()
    # The list follows the files: the moved rows now show their new labels as given.
    given = {Path(item.path).name: item.given for item in tab.report().items}
    assert given[Path(targets[0][0]).name] == targets[0][1]
    with qtbot.waitSignal(tab.data_changed, timeout=10_000):
        qtbot.mouseClick(tab.undo_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not tab.is_busy(), timeout=10_000)
    assert snapshot(data) == before
    assert not tab.undo_button.isEnabled()


def test_cancel_ends_the_review(qtbot, tab: ReviewTab, data: Path) -> None:
    tab.options = ReviewOptions(train_arch="tiny_cnn", train_image_size=32, train_epochs=50)
    tab.set_data_root(str(data))
    assert "a tiny_cnn is trained for the review" in tab.model_label.text()
    qtbot.mouseClick(tab.find_button, Qt.MouseButton.LeftButton)
    assert tab.cancel_button.isEnabled() and not tab.apply_button.isEnabled()
    # The job's progress reaches the bar (polled): the review model is training.
    qtbot.waitUntil(lambda: "Training a tiny_cnn for the review: epoch" in tab.progress.format(),
                    timeout=60_000)
    assert tab.progress.maximum() > 0
    qtbot.mouseClick(tab.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not tab.is_busy(), timeout=60_000)
    assert tab.status.text() == "Cancelled."
    assert tab.report() is None and tab.find_button.isEnabled()
    assert tab.progress.format() == "" and not tab.cancel_button.isEnabled()


def test_errors_show_one_line(qtbot, tab: ReviewTab, tmp_path: Path) -> None:
    root = write_demo_dataset(tmp_path / "few", images_per_folder=1, image_size=16)
    tab.set_data_root(str(root))
    qtbot.mouseClick(tab.find_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not tab.is_busy(), timeout=30_000)
    assert "needs at least 10" in tab.status.text()
    assert tab.last_error_box is not None
    tab.last_error_box.close()


def test_overlay_can_be_swapped_in(qtbot, tab: ReviewTab, data: Path) -> None:
    from PySide6.QtGui import QColor, QPixmap

    reviewed(qtbot, tab, data)
    thumb = tab.rows()[0].thumbnail
    qtbot.waitUntil(thumb.has_image, timeout=10_000)
    plain = thumb.pixmap().toImage()
    overlay = QPixmap(8, 8)
    overlay.fill(QColor("red"))
    thumb.set_overlay(overlay, opacity=0.8)
    assert thumb.pixmap().toImage() != plain
    thumb.set_overlay(None)
    assert thumb.pixmap().toImage() == plain


def test_the_saliency_toggle_overlays_the_review_models_maps(qtbot, tab: ReviewTab, data: Path,
                                                             trained_model: Path, tmp_path: Path) -> None:
    overlays = tab.overlays
    assert not overlays.check.isEnabled() and "model file" in overlays.check.toolTip()  # no model yet
    tab.set_model_path(str(trained_model))
    reviewed(qtbot, tab, data)
    assert overlays.check.isEnabled() and overlays.label() == tab.report().labels[0]
    qtbot.waitUntil(lambda: all(row.thumbnail.has_image() for row in tab.rows()), timeout=10_000)
    first = tab.rows()[0].thumbnail
    plain = first.pixmap().toImage()
    overlays.check.setChecked(True)
    qtbot.waitUntil(lambda: tab.rows()[0].path in overlays.shown_paths(), timeout=60_000)
    assert first.pixmap().toImage() != plain
    overlays.label_box.setCurrentIndex(1)  # another label: the maps are asked for again
    assert tab.rows()[0].path not in overlays.shown_paths()
    qtbot.waitUntil(lambda: tab.rows()[0].path in overlays.shown_paths(), timeout=60_000)
    shot = tmp_path / "review_saliency.png"
    assert tab.grab().save(str(shot))
    overlays.check.setChecked(False)
    assert overlays.shown_paths() == [] and first.pixmap().toImage() == plain
    tab.set_model_path(None)
    assert not overlays.check.isEnabled()


def test_a_click_on_a_rows_overlay_opens_it_large(qtbot, tab: ReviewTab, data: Path, trained_model: Path) -> None:
    """As on a Predict card: the row's map, clicked, in the one SaliencyViewer, for that image and label."""
    from mlcls_gui.gui.widgets.saliency_viewer import ENLARGE_TIP, VIEW_SIZE, SaliencyViewer

    overlays = tab.overlays
    viewer = overlays.viewer
    assert isinstance(viewer, SaliencyViewer)
    tab.set_model_path(str(trained_model))
    reviewed(qtbot, tab, data)
    qtbot.waitUntil(lambda: all(row.thumbnail.has_image() for row in tab.rows()), timeout=10_000)
    row = tab.rows()[1]
    qtbot.mouseClick(row.thumbnail, Qt.MouseButton.LeftButton)
    assert not viewer.isVisible() and row.thumbnail.toolTip() == ""  # no map shown: nothing to enlarge
    assert tab.current_row() is row  # the click still makes the row current

    overlays.check.setChecked(True)
    overlays.label_box.setCurrentIndex(1)
    label = overlays.label()
    qtbot.waitUntil(lambda: row.path in overlays.shown_paths(), timeout=60_000)
    assert row.thumbnail.toolTip() == ENLARGE_TIP and "Click to enlarge" in ENLARGE_TIP
    qtbot.mouseClick(row.thumbnail, Qt.MouseButton.LeftButton)
    assert viewer.isVisible() and viewer.shown() == (row.path, label)
    assert label in viewer.windowTitle() and Path(row.path).name in viewer.windowTitle()
    qtbot.waitUntil(lambda: not viewer.is_busy() and not viewer.image.pixmap().isNull(), timeout=60_000)
    large = viewer.image.pixmap()
    assert max(large.width(), large.height()) == VIEW_SIZE
    viewer.close()

    overlays.check.setChecked(False)
    qtbot.mouseClick(row.thumbnail, Qt.MouseButton.LeftButton)
    assert not viewer.isVisible() and row.thumbnail.toolTip() == ""


def test_apply_and_undo_keep_the_current_image_current_and_in_view(qtbot, tab: ReviewTab, data: Path) -> None:
    reviewed(qtbot, tab, data)
    for _ in range(40):  # well down the list, out of the first screen of rows
        tab._move(1)
    current = tab.current_row()
    assert current is not None and tab._current == 40 and tab.scroll.verticalScrollBar().value() > 0
    name, index = Path(current.path).name, tab._current
    new = ("circle", "cross") if set(current.item.given) != {"circle", "cross"} else ("square",)
    current.set_labels(new)
    view = tab.scroll.viewport()

    def in_view() -> bool:
        row = tab.current_row()
        top = row.mapTo(view, row.rect().topLeft()).y()
        return row is not None and 0 <= top and top + row.height() <= view.height()

    with qtbot.waitSignal(tab.data_changed, timeout=10_000):
        qtbot.mouseClick(tab.apply_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not tab.is_busy(), timeout=10_000)
    qtbot.waitUntil(in_view, timeout=5_000)
    assert Path(tab.current_row().path).name == name and tab._current == index  # followed to its new folder
    with qtbot.waitSignal(tab.data_changed, timeout=10_000):
        qtbot.mouseClick(tab.undo_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not tab.is_busy(), timeout=10_000)
    qtbot.waitUntil(in_view, timeout=5_000)
    assert Path(tab.current_row().path).name == name
