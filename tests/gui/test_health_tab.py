"""Health tab: the check in the background, leakage first, the groups' flags, the map's
colours and box selection sent to Review, exclusion with Undo, errors, Cancel."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QApplication, QScrollArea

from mlcls_gui.core.data.demo import write_demo_dataset
from mlcls_gui.core.health.check import HealthOptions, check_health
from mlcls_gui.core.health.report import DuplicateGroup, HealthImage, HealthReport, Outlier
from mlcls_gui.core.review.label_review import ReviewItem, ReviewReport
from mlcls_gui.gui.health.chunked_list import CHUNK_SIZE, PAGE_SIZE
from mlcls_gui.gui.health.health_tab import HealthTab
from mlcls_gui.gui.health.health_text import default_report_path
from mlcls_gui.gui.review import review_tab as review_module
from mlcls_gui.gui.review.review_tab import ReviewTab

FAST = HealthOptions(image_size=96)
LEAKED = "test/circle+square/leaked.png"


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """As tests/core/test_health.py's: a training image copied into test (a leak), one into
    another label folder (labels differ) and a blank frame."""
    root = tmp_path_factory.mktemp("health-gui") / "data"
    write_demo_dataset(root / "train", images_per_folder=6, seed=1)
    write_demo_dataset(root / "test", images_per_folder=2, seed=2)
    source = sorted((root / "train" / "circle+square").glob("*.png"))[0]
    shutil.copy2(source, root / "test" / "circle+square" / "leaked.png")
    other = sorted((root / "train" / "cross").glob("*.png"))[0]
    shutil.copy2(other, root / "train" / "triangle" / "relabelled.png")
    Image.new("RGB", (64, 64), (250, 250, 250)).save(root / "train" / "square" / "blank.png")
    return root


@pytest.fixture(scope="module")
def report(planted: Path) -> HealthReport:
    return check_health(planted, FAST)


@pytest.fixture
def tab(qtbot) -> HealthTab:
    widget = HealthTab()
    widget.options = FAST
    widget.confirm_apply = lambda count: True  # type: ignore[method-assign]
    widget.resize(1000, 620)
    qtbot.addWidget(widget)
    widget.show()
    yield widget
    widget.shutdown()


def checked(qtbot, tab: HealthTab, root: Path) -> HealthReport:
    tab.set_data_root(str(root))
    with qtbot.waitSignal(tab.check_finished, timeout=120_000):
        qtbot.mouseClick(tab.check_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not tab.is_busy(), timeout=10_000)
    report = tab.report()
    assert report is not None
    return report


def test_the_check_says_leakage_first_flags_the_groups_and_opens_an_image(
        qtbot, tab: HealthTab, planted: Path) -> None:
    assert not tab.check_button.isEnabled() and "data folder" in tab.check_button.toolTip()
    report = checked(qtbot, tab, planted)
    summary = tab.summary.text()
    assert summary.index("test image(s) have a near copy in train") < summary.index("images checked")
    view = tab.groups_view
    qtbot.waitUntil(lambda: len(view.rows()) == len(report.groups), timeout=10_000)
    chips = [{label.text() for label in row.findChildren(type(tab.status)) if label.property("chip")}
             for row in view.rows()]
    assert {"crosses the split"} in chips and {"labels differ"} in chips
    view.crossing_only.setChecked(True)
    qtbot.waitUntil(lambda: len(view.rows()) == len(report.leaking_groups()), timeout=5_000)
    assert all(row.group.crosses_splits for row in view.rows())
    tile = next(t for t in view.tiles() if t.path.endswith(LEAKED))
    qtbot.waitUntil(tile.has_image, timeout=10_000)
    with qtbot.waitSignal(tab.open_image_requested) as blocker:
        qtbot.mouseDClick(tile, Qt.MouseButton.LeftButton)
    assert blocker.args == [str(planted / LEAKED)]
    assert tab.save_button.isEnabled() and tab.use_button.isEnabled()


def test_the_map_recolours_and_its_box_selection_goes_to_review(
        qtbot, tab: HealthTab, report: HealthReport, monkeypatch: pytest.MonkeyPatch) -> None:
    tab.set_data_root(report.root)
    tab.show_report(report)
    view = tab.map_view
    tab.inner_tabs.setCurrentWidget(view)
    assert view.point_count() == len(report.images)
    assert list(view.categories()) == [("train", "val", "test").index(i.split) for i in report.images]
    view.colour_by("cross")
    assert list(view.categories()) == [int("cross" in i.labels) for i in report.images]
    # Hovering finds the nearest point in screen pixels.
    QApplication.processEvents()
    scene = view.view_box.mapViewToScene(_point(report, 0))
    assert view.nearest_point(scene) == 0
    view.hover(0)
    assert report.images[0].path in view.preview_text.text()
    # A box around the first three points.
    xy = np.asarray(report.map_xy)
    chosen = [0, 1, 2]
    low, high = xy[chosen].min(axis=0), xy[chosen].max(axis=0)
    margin = 0.01 * (high - low) + 1e-6  # the drag's pixels map back to data with rounding
    low, high = low - margin, high + margin
    inside = np.flatnonzero(np.all((xy >= low) & (xy <= high), axis=1))
    view.select_button.setChecked(True)
    assert view.view_box.selecting
    # A drag in Select mode (the event pyqtgraph sends) selects instead of panning.
    view_range = view.view_box.viewRange()
    view.view_box.mouseDragEvent(FakeDrag(view.view_box.mapFromView(_xy(low)), view.view_box.mapFromView(_xy(high))))
    assert view.view_box.viewRange() == view_range
    expected = [report.absolute_path(int(i)) for i in inside]
    assert view.review_button.text() == f"Send {len(expected)} to Review"
    with qtbot.waitSignal(tab.review_requested) as blocker:
        qtbot.mouseClick(view.review_button, Qt.MouseButton.LeftButton)
    assert blocker.args[0] == expected

    # The Review tab: before a review it says to find label issues first, then shows only them.
    review = ReviewTab()
    qtbot.addWidget(review)
    review.show()
    review.set_data_root(report.root)
    review.show_only(blocker.args[0])
    assert "press Find label issues first" in review.only_label.text() and review.show_all_button.isVisible()
    items = [ReviewItem(report.absolute_path(i), image.labels, image.labels, 0.1, {}, image.split, False)
             for i, image in enumerate(report.images)]
    fake = ReviewReport(report.root, ["circle", "cross", "square", "triangle"], items, "test", "", 0.0)
    monkeypatch.setattr(review_module, "run_review", lambda *args: fake)
    with qtbot.waitSignal(review.review_finished, timeout=10_000):
        review.start_review()
    qtbot.waitUntil(lambda: not review.is_busy(), timeout=5_000)
    qtbot.waitUntil(lambda: len(review.rows()) == len(expected), timeout=5_000)
    assert sorted(row.path for row in review.rows()) == sorted(expected)
    assert f"Showing {len(expected)} of the {len(expected)} images from the map" in review.only_label.text()
    qtbot.mouseClick(review.show_all_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(review.rows()) == len(items), timeout=10_000)
    assert not review.only_label.isVisible()
    review.shutdown()


def _point(report: HealthReport, index: int) -> QPointF:
    x, y = report.map_xy[index]
    return QPointF(x, y)


def _xy(point: np.ndarray) -> QPointF:
    return QPointF(float(point[0]), float(point[1]))


class FakeDrag:
    """The end of a left-button drag, as pyqtgraph's MouseDragEvent answers (ViewBox coordinates)."""

    def __init__(self, start: QPointF, end: QPointF) -> None:
        self.start, self.end = start, end

    def button(self) -> Qt.MouseButton:
        return Qt.MouseButton.LeftButton

    def isFinish(self) -> bool:  # noqa: N802 - pyqtgraph API
        return True

    def buttonDownPos(self, _button=None) -> QPointF:  # noqa: N802 - pyqtgraph API
        return self.start

    def pos(self) -> QPointF:
        return self.end

    def accept(self) -> None:
        pass


def test_a_thousand_groups_and_twenty_thousand_points_never_block(qtbot, tab: HealthTab) -> None:
    count = 20_000
    images = [HealthImage(f"train/a/{i}.png", ("train", "val", "test")[i % 3], (("a", "b")[i % 2],))
              for i in range(count)]
    groups = [DuplicateGroup((2 * i, 2 * i + 1), 0.9, ("train", "val"), True, False) for i in range(1000)]
    outliers = [Outlier(i, i / count, i < 50) for i in range(count)]
    xy = [tuple(p) for p in np.random.default_rng(0).normal(size=(count, 2))]
    big = HealthReport("/nowhere", "test", {}, images, groups, outliers, "pca", xy)
    started = time.perf_counter()
    tab.show_report(big)
    assert time.perf_counter() - started < 2.0
    assert len(tab.groups_view.rows()) <= CHUNK_SIZE  # the rest over the next turns of the event loop
    qtbot.waitUntil(lambda: len(tab.groups_view.rows()) == PAGE_SIZE, timeout=10_000)
    assert tab.groups_view.list.more_button.isVisible()
    view = tab.map_view
    tab.inner_tabs.setCurrentWidget(view)
    QApplication.processEvents()
    assert view.point_count() == count
    where = view.view_box.mapViewToScene(QPointF(*xy[7]))
    started = time.perf_counter()
    for _ in range(50):
        nearest = view.nearest_point(where)
    assert (time.perf_counter() - started) / 50 < 0.01 and np.allclose(xy[nearest], xy[7], atol=0.05)


def test_apply_excludes_the_checked_outlier_and_undo_restores_it(
        qtbot, tab: HealthTab, planted: Path, tmp_path: Path) -> None:
    root = tmp_path / "data"
    shutil.copytree(planted, root)
    report = checked(qtbot, tab, root)
    view = tab.outliers_view
    qtbot.waitUntil(lambda: len(view.rows()) == min(len(report.outliers), 100), timeout=10_000)
    first = view.rows()[0]
    assert not tab.outliers_view.apply_button.isEnabled()
    first.exclude_box.setChecked(True)
    assert view.apply_button.text() == "Apply: exclude 1 image" and view.apply_button.isEnabled()
    original = Path(first.path)
    relative = original.relative_to(root)
    with qtbot.waitSignal(tab.data_changed) as blocker:
        qtbot.mouseClick(view.apply_button, Qt.MouseButton.LeftButton)
    assert blocker.args == [str(root)]
    qtbot.waitUntil(lambda: not tab.is_busy(), timeout=10_000)
    assert not original.exists() and (root / "excluded" / relative).is_file()
    assert tab.is_stale() and tab.stale_label.isVisible()
    assert all(row.path != first.path for row in view.rows())
    assert view.undo_button.isEnabled() and "exclud" in view.undo_button.text().lower()
    with qtbot.waitSignal(tab.data_changed):
        qtbot.mouseClick(view.undo_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not tab.is_busy(), timeout=10_000)
    assert original.is_file() and not (root / "excluded" / relative).exists()
    qtbot.waitUntil(lambda: any(row.path == first.path for row in view.rows()), timeout=5_000)
    # Save, then use for the split: beside the data folder, never inside it.
    target = default_report_path(report.root)
    assert Path(target).parent == root.parent
    tab.ask_report_path = lambda: target  # type: ignore[method-assign]
    with qtbot.waitSignal(tab.split_groups_chosen) as chosen:
        tab.use_for_split()
    assert chosen.args == [target] and Path(target).is_file()


def test_too_few_images_an_onnx_model_and_cancel(qtbot, tab: HealthTab, planted: Path, tmp_path: Path) -> None:
    lonely = tmp_path / "lonely"
    (lonely / "cat").mkdir(parents=True)
    Image.new("RGB", (32, 32), (10, 20, 30)).save(lonely / "cat" / "one.png")
    tab.set_data_root(str(lonely))
    tab.start_check()
    qtbot.waitUntil(lambda: not tab.is_busy(), timeout=30_000)
    assert "1 image(s)" in tab.status.text() and tab.last_error_box is not None
    tab.last_error_box.close()
    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(b"not a model")
    tab.set_data_root(str(planted))
    tab.choose_model(str(onnx))
    tab.set_model_path("")  # Predict's model no longer replaces the user's choice
    assert tab.model_path() == str(onnx)
    tab.start_check()
    qtbot.waitUntil(lambda: not tab.is_busy(), timeout=60_000)
    assert "not a readable ONNX model" in tab.status.text() and tab.report() is None
    tab.last_error_box.close()
    tab.choose_model("")
    tab.start_check()
    assert tab.cancel_button.isEnabled()
    qtbot.mouseClick(tab.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not tab.is_busy(), timeout=60_000)
    assert tab.status.text() == "Cancelled." and tab.report() is None


def test_every_control_fits_1024_wide(qtbot, make_window, report: HealthReport) -> None:
    window = make_window(warm_up_now=False)
    window.show()
    window.resize(1024, 700)
    qtbot.waitUntil(lambda: window.main_tabs.indexOf(window.predict_box) == 1, timeout=5_000)
    health = window.health_tab
    # Review, Label, Health: the data tabs side by side.
    assert window.main_tabs.indexOf(health) == window.main_tabs.indexOf(window.review_tab) + 2
    window.main_tabs.setCurrentWidget(health)
    health.show_report(report)
    scroll: QScrollArea = window.central_scroll
    for page in range(health.inner_tabs.count()):
        health.inner_tabs.setCurrentIndex(page)
        qtbot.waitUntil(lambda: all(v.list.is_complete() for v in (health.groups_view, health.outliers_view)),
                        timeout=10_000)
        QApplication.processEvents()
        assert scroll.horizontalScrollBar().maximum() == 0, health.inner_tabs.tabText(page)
        for view in (health.groups_view.list, health.outliers_view.list):
            assert view.scroll.horizontalScrollBar().maximum() == 0


def test_the_window_links_the_tab_to_the_data_panel_predict_review_and_the_form(
        qtbot, make_window, planted: Path, report: HealthReport, tmp_path: Path) -> None:
    window = make_window(warm_up_now=False)
    health = window.health_tab
    with qtbot.waitSignal(window.data_panel.summary_changed, timeout=30_000):
        window.data_panel.set_root(str(planted))
    assert health.data_root() == str(planted) and health.check_button.isEnabled()
    health.show_report(report)
    # A thumbnail or a map point opens in Try the model.
    image = report.absolute_path(0)
    health.open_image_requested.emit(image)
    assert image in window.predict_panel._waiting_for_model
    # The map's selection goes to Review, which shows only those images.
    health.map_view.set_selection([0, 1])
    qtbot.mouseClick(health.map_view.review_button, Qt.MouseButton.LeftButton)
    assert window.main_tabs.currentWidget() is window.review_tab
    assert "2 images from the map" in window.review_tab.only_label.text()
    # Use for the split: saved, and the Settings form's split_groups names it.
    target = str(tmp_path / "data_health.json")
    health.ask_report_path = lambda: target  # type: ignore[method-assign]
    qtbot.mouseClick(health.use_button, Qt.MouseButton.LeftButton)
    assert Path(target).is_file() and window.config_form.config().split_groups == target
    assert "split_groups" in window.statusBar().currentMessage()
    # An exclusion (or its undo) rescans the data panel.
    with qtbot.waitSignal(window.data_panel.summary_changed, timeout=30_000):
        health.data_changed.emit(str(planted))
    # A relabel in Review makes the report stale.
    assert not health.is_stale()
    with qtbot.waitSignal(window.data_panel.summary_changed, timeout=30_000):
        window.review_tab.data_changed.emit(str(planted))
    assert health.is_stale() and not health.stale_label.isHidden()
    # Closing the window while a check runs stops it (no thread is left: the fixture checks).
    health.start_check()
    assert health.is_busy()
    window.close()
    assert health._jobs.runner.wait(0)
