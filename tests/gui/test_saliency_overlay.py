"""Saliency overlays in the window: the toggle on Predict cards and on the
Evaluate panel's mistake thumbnails, computed off the GUI thread."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from mlcls_gui.core.errors import ModelError
from mlcls_gui.gui.evaluate.evaluate_panel import EvaluatePanel
from mlcls_gui.gui.evaluate.thumbnail_gallery import PATH_ROLE, THUMBNAIL_SIZE, thumbnail_image
from mlcls_gui.gui.predict.predict_panel import PredictPanel

from .tiny_model import train_tiny_cnn

TIMEOUT = 30_000


@pytest.fixture(scope="module")
def tiny_model(demo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny_cnn(demo_root, tmp_path_factory.mktemp("saliency-model"))


@pytest.fixture
def wide_image(demo_root: Path, tmp_path: Path) -> Path:
    """A demo image stretched to 2:1, so that its thumbnail is 96×48."""
    path = tmp_path / "wide.png"
    Image.open(sorted((demo_root / "circle+square").iterdir())[0]).convert("RGB").resize((64, 32)).save(path)
    return path


def rgb(image: QImage | QPixmap) -> QImage:
    picture = image.toImage() if isinstance(image, QPixmap) else image
    return picture.convertToFormat(QImage.Format.Format_RGB888)


def pixels(image: QImage | QPixmap) -> np.ndarray:
    picture = rgb(image)
    data = np.frombuffer(picture.constBits(), dtype=np.uint8, count=picture.sizeInBytes())
    return data.reshape(picture.height(), picture.bytesPerLine())[:, :picture.width() * 3].reshape(
        picture.height(), picture.width(), 3)


def predict_panel(qtbot: QtBot, model: Path, image: Path) -> PredictPanel:
    panel = PredictPanel()
    qtbot.addWidget(panel)
    panel.resize(640, 500)
    panel.show()
    with qtbot.waitSignal(panel.model_loaded, timeout=TIMEOUT):
        panel.set_model_file(str(model))
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=TIMEOUT)
    with qtbot.waitSignal(panel.predictions_shown, timeout=TIMEOUT):
        panel.add_paths([str(image)])
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=TIMEOUT)
    assert len(panel.cards) == 1
    return panel


def test_the_card_toggle_lays_each_labels_map_over_the_thumbnail(
        qtbot: QtBot, tiny_model: Path, wide_image: Path, tmp_path: Path) -> None:
    panel = predict_panel(qtbot, tiny_model, wide_image)
    card = panel.cards[0]
    plain = rgb(card.thumbnail.pixmap())
    assert (plain.width(), plain.height()) == (96, 48)
    assert card.saliency_label() == card.labels_in_order()[0]  # the most confident label first
    assert card.overlay_label() == ""

    first, second = card.labels_in_order()[:2]
    with qtbot.waitSignal(panel.saliency_shown, timeout=TIMEOUT) as blocker:
        card.set_saliency(True, first)
        assert card.saliency_status.text() == "Computing…"  # the GUI thread did not compute it
    assert blocker.args == [str(wide_image), first]
    assert card.overlay_label() == first
    overlay = rgb(card.thumbnail.pixmap())
    # The overlay keeps the image's own aspect ratio, and it is not the plain thumbnail.
    assert (overlay.width(), overlay.height()) == (96, 48)
    assert np.abs(pixels(overlay).astype(int) - pixels(plain).astype(int)).mean() > 10

    # Another label: its own map; the first one is kept for later.
    with qtbot.waitSignal(panel.saliency_shown, timeout=TIMEOUT) as blocker:
        card.saliency_combo.setCurrentText(second)
    assert blocker.args == [str(wide_image), second] and card.overlay_label() == second
    with qtbot.assertNotEmitted(panel.saliency_shown, wait=200):
        card.saliency_combo.setCurrentText(first)
    assert rgb(card.thumbnail.pixmap()) == overlay

    # Off: the plain thumbnail again.
    card.set_saliency(False)
    assert card.overlay_label() == "" and rgb(card.thumbnail.pixmap()) == plain
    qtbot.waitUntil(lambda: not panel.is_computing_saliency(), timeout=TIMEOUT)

    # A screenshot of the card with its overlay, to look at.
    card.set_saliency(True, first)
    shot = panel.grab()
    assert not shot.isNull() and shot.save(str(tmp_path / "predict-saliency.png"))


def test_a_map_that_cannot_be_made_says_why_on_the_card(
        qtbot: QtBot, tiny_model: Path, wide_image: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_gradients(*args: object) -> QImage:
        raise ModelError("Saliency maps need the PyTorch model file (.pt); model.onnx runs without gradients.")

    monkeypatch.setattr("mlcls_gui.gui.widgets.saliency_view.overlay_image", no_gradients)
    panel = predict_panel(qtbot, tiny_model, wide_image)
    card = panel.cards[0]
    plain = rgb(card.thumbnail.pixmap())
    card.set_saliency(True)
    qtbot.waitUntil(lambda: not card.saliency_check.isChecked(), timeout=TIMEOUT)
    assert card.saliency_status.isVisible()
    assert card.saliency_status.text().startswith("No saliency map: Saliency maps need the PyTorch model file")
    assert rgb(card.thumbnail.pixmap()) == plain
    qtbot.waitUntil(lambda: not panel.is_computing_saliency(), timeout=TIMEOUT)


def test_the_evaluate_thumbnails_show_the_selected_labels_maps(
        qtbot: QtBot, tiny_model: Path, demo_root: Path, tmp_path: Path) -> None:
    panel = EvaluatePanel()
    qtbot.addWidget(panel)
    panel.resize(1200, 800)
    panel.show()
    gallery = panel.gallery
    assert not gallery.saliency_check.isEnabled()  # no model evaluated yet
    panel.set_model_path(str(tiny_model))
    panel.set_data_root(str(demo_root))
    with qtbot.waitSignal(panel.evaluation_finished, timeout=TIMEOUT):
        assert panel.start_evaluation()
    qtbot.waitUntil(lambda: panel.fp_list.count() + panel.fn_list.count() > 0, timeout=TIMEOUT)
    assert gallery.saliency_check.isEnabled()
    # Two labels with mistakes, so that a change of label can be seen.
    labels = [label for label in panel.labels() if _mistakes(qtbot, panel, label)]
    assert len(labels) >= 2, "the tiny model should make mistakes on two labels"
    first, second = labels[:2]
    with qtbot.waitSignal(panel.examples_shown, timeout=TIMEOUT):
        panel.select_label(first)
    listed = panel.false_positive_paths() + panel.false_negative_paths()

    with qtbot.waitSignal(gallery.overlays_shown, timeout=TIMEOUT):
        gallery.saliency_check.setChecked(True)
    assert sorted(gallery.overlay_paths()) == sorted(listed)
    listing = panel.fp_list if panel.fp_list.count() else panel.fn_list
    item = listing.item(0)
    shown = rgb(item.icon().pixmap(THUMBNAIL_SIZE, THUMBNAIL_SIZE))
    plain = rgb(thumbnail_image(item.data(PATH_ROLE)))
    assert (shown.width(), shown.height()) == (plain.width(), plain.height())
    assert np.abs(pixels(shown).astype(int) - pixels(plain).astype(int)).mean() > 10

    # Another label: its own maps, for its own mistakes.
    with qtbot.waitSignal(gallery.overlays_shown, timeout=TIMEOUT):
        panel.select_label(second)
    assert sorted(gallery.overlay_paths()) == sorted(panel.false_positive_paths() + panel.false_negative_paths())
    panel.grab().save(str(tmp_path / "evaluate-saliency.png"))

    # Off: the plain thumbnails again.
    gallery.saliency_check.setChecked(False)
    assert gallery.overlay_paths() == []
    item = (panel.fp_list if panel.fp_list.count() else panel.fn_list).item(0)
    assert rgb(item.icon().pixmap(THUMBNAIL_SIZE, THUMBNAIL_SIZE)) == rgb(thumbnail_image(item.data(PATH_ROLE)))
    qtbot.waitUntil(lambda: not gallery.saliency.is_busy(), timeout=TIMEOUT)
    panel.shutdown()


def test_a_model_without_gradients_turns_the_evaluate_toggle_off_with_a_reason(
        qtbot: QtBot, tiny_model: Path, demo_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_gradients(*args: object) -> QImage:
        raise ModelError("Saliency maps need the PyTorch model file (.pt).")

    monkeypatch.setattr("mlcls_gui.gui.widgets.saliency_view.overlay_image", no_gradients)
    panel = EvaluatePanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.set_model_path(str(tiny_model))
    panel.set_data_root(str(demo_root))
    with qtbot.waitSignal(panel.evaluation_finished, timeout=TIMEOUT):
        assert panel.start_evaluation()
    label = next(label for label in panel.labels() if _mistakes(qtbot, panel, label))
    with qtbot.waitSignal(panel.examples_shown, timeout=TIMEOUT):
        panel.select_label(label)
    panel.gallery.saliency_check.setChecked(True)
    qtbot.waitUntil(lambda: not panel.gallery.saliency_check.isChecked(), timeout=TIMEOUT)
    assert "No saliency maps: Saliency maps need the PyTorch model file" in panel.gallery.saliency_note.text()
    assert panel.gallery.overlay_paths() == []
    qtbot.waitUntil(lambda: not panel.gallery.saliency.is_busy(), timeout=TIMEOUT)
    panel.shutdown()


def _mistakes(qtbot: QtBot, panel: EvaluatePanel, label: str) -> bool:
    """Whether ``label`` has false positives or negatives (selecting it to see)."""
    if panel.selected_label() != label:
        with qtbot.waitSignal(panel.examples_shown, timeout=TIMEOUT):
            panel.select_label(label)
    return bool(panel.false_positive_paths() or panel.false_negative_paths())


def test_the_overlay_is_the_cores_explanation_at_the_thumbnail_size(tiny_model: Path, wide_image: Path) -> None:
    """The window's overlay and ``mlcls-gui explain`` share core.ops.explain: the same
    map and blend, only at the thumbnail's size (96×48 for a 2:1 image in 96 px)."""
    from mlcls_gui.core.inference.predict import Predictor
    from mlcls_gui.core.ops.explain import explain, overlay
    from mlcls_gui.gui.widgets.saliency_view import overlay_image

    predictor = Predictor.from_file(tiny_model)
    label = predictor.labels[0]
    shown = overlay_image(predictor, str(wide_image), label, 96)
    expected = overlay(explain(predictor, Image.open(wide_image).convert("RGB"), label, size=(96, 48)))
    assert (shown.width(), shown.height()) == (96, 48)
    assert np.array_equal(pixels(shown), np.asarray(expected))


def test_a_click_on_an_overlay_opens_it_large_with_its_colour_bar(
        qtbot: QtBot, tiny_model: Path, wide_image: Path) -> None:
    from PySide6.QtCore import QPoint, Qt

    from mlcls_gui.gui.widgets.saliency_viewer import BAR_SIZE, VIEW_SIZE, colour_bar

    panel = predict_panel(qtbot, tiny_model, wide_image)
    card = panel.cards[0]
    qtbot.mouseClick(card.thumbnail, Qt.MouseButton.LeftButton)
    assert not panel.saliency_viewer.isVisible()  # the plain thumbnail: nothing to enlarge
    label = card.labels_in_order()[0]
    with qtbot.waitSignal(panel.saliency_shown, timeout=TIMEOUT):
        card.set_saliency(True, label)
    qtbot.mouseClick(card.thumbnail, Qt.MouseButton.LeftButton)
    viewer = panel.saliency_viewer
    assert viewer.isVisible() and label in viewer.windowTitle()
    qtbot.waitUntil(lambda: not viewer.is_busy() and not viewer.image.pixmap().isNull(), timeout=TIMEOUT)
    large = viewer.image.pixmap()
    assert (large.width(), large.height()) == (VIEW_SIZE, VIEW_SIZE // 2)  # the image's 2:1, enlarged
    # The dialog, opened around "Computing…", grows to show the whole map, not its middle.
    qtbot.waitUntil(lambda: viewer.image.width() >= VIEW_SIZE and viewer.image.height() >= VIEW_SIZE // 2,
                    timeout=5_000)
    bar = colour_bar()
    assert (bar.width(), bar.height()) == BAR_SIZE
    top, low = bar.pixelColor(QPoint(0, 0)), bar.pixelColor(QPoint(0, int(0.85 * bar.height())))
    bottom = bar.pixelColor(QPoint(0, bar.height() - 1))
    assert top.red() > top.blue() + 100  # red for the strongest
    assert low.blue() > low.red() and bottom.red() + bottom.green() + bottom.blue() < 120  # blue, then near black
    viewer.close()


@pytest.fixture(scope="module")
def onnx_model(tiny_model: Path) -> Path:
    from mlcls_gui.core.inference.export import export_model

    return Path(export_model(tiny_model, "onnx").path)


def test_an_onnx_model_offers_no_saliency_and_says_why(qtbot: QtBot, onnx_model: Path, wide_image: Path) -> None:
    from mlcls_gui.gui.evaluate.thumbnail_gallery import MistakesGallery
    from mlcls_gui.gui.widgets.saliency_view import ONNX_SALIENCY_REASON, SALIENCY_TOOLTIP

    card = predict_panel(qtbot, onnx_model, wide_image).cards[0]
    assert not card.saliency_check.isEnabled() and card.saliency_check.toolTip() == ONNX_SALIENCY_REASON
    gallery = MistakesGallery()
    qtbot.addWidget(gallery)
    gallery.set_model_source(str(onnx_model))
    assert not gallery.saliency_check.isEnabled() and gallery.saliency_check.toolTip() == ONNX_SALIENCY_REASON
    gallery.set_model_source("/models/final_model.pt")
    assert gallery.saliency_check.isEnabled() and gallery.saliency_check.toolTip().startswith(SALIENCY_TOOLTIP)
    assert "near black" in SALIENCY_TOOLTIP and "red" in SALIENCY_TOOLTIP  # Turbo, as blend_heatmap draws it


def test_a_click_on_an_evaluate_overlay_opens_it_large(
        qtbot: QtBot, tiny_model: Path, demo_root: Path, tmp_path: Path) -> None:
    """As on a Predict card: the mistake thumbnail's map, clicked, in the one SaliencyViewer."""
    from PySide6.QtCore import Qt

    from mlcls_gui.gui.widgets.saliency_viewer import ENLARGE_TIP, VIEW_SIZE, SaliencyViewer

    panel = EvaluatePanel()
    qtbot.addWidget(panel)
    panel.resize(1200, 800)
    panel.show()
    panel.set_model_path(str(tiny_model))
    panel.set_data_root(str(demo_root))
    with qtbot.waitSignal(panel.evaluation_finished, timeout=TIMEOUT):
        assert panel.start_evaluation()
    label = next(label for label in panel.labels() if _mistakes(qtbot, panel, label))
    gallery = panel.gallery
    viewer = gallery.saliency_viewer
    assert isinstance(viewer, SaliencyViewer)
    listing = panel.fp_list if panel.fp_list.count() else panel.fn_list
    item = listing.item(0)
    path = item.data(PATH_ROLE)

    def click() -> None:
        listing.scrollToItem(item)
        qtbot.mouseClick(listing.viewport(), Qt.MouseButton.LeftButton,
                         pos=listing.visualItemRect(item).center())

    # The plain thumbnail: nothing to enlarge, and its tooltip does not offer it.
    click()
    qtbot.wait(QApplication.doubleClickInterval() + 100)
    assert not viewer.isVisible() and ENLARGE_TIP not in item.toolTip()

    with qtbot.waitSignal(gallery.overlays_shown, timeout=TIMEOUT):
        gallery.saliency_check.setChecked(True)
    assert path in gallery.overlay_paths()
    assert "Click to enlarge" in item.toolTip() and "Double-click" in item.toolTip()

    # A double-click opens the image in Predict, not the large view.
    with qtbot.waitSignal(panel.open_image_requested, timeout=TIMEOUT) as opened:
        click()
        qtbot.mouseDClick(listing.viewport(), Qt.MouseButton.LeftButton, pos=listing.visualItemRect(item).center())
    assert opened.args == [path]
    qtbot.wait(QApplication.doubleClickInterval() + 100)
    assert not viewer.isVisible()

    # A click: that image's map of that label, large.
    click()
    qtbot.waitUntil(viewer.isVisible, timeout=TIMEOUT)
    assert viewer.shown() == (path, label) and label in viewer.windowTitle()
    assert Path(path).name in viewer.windowTitle()
    qtbot.waitUntil(lambda: not viewer.is_busy() and not viewer.image.pixmap().isNull(), timeout=TIMEOUT)
    large = viewer.image.pixmap()
    assert max(large.width(), large.height()) == VIEW_SIZE
    qtbot.waitUntil(lambda: viewer.image.width() >= large.width() and viewer.image.height() >= large.height(),
                    timeout=5_000)  # the whole map in view
    viewer.grab().save(str(tmp_path / "evaluate-viewer.png"))
    viewer.close()

    # Saliency off: a click enlarges nothing.
    gallery.saliency_check.setChecked(False)
    click()
    qtbot.wait(QApplication.doubleClickInterval() + 100)
    assert not viewer.isVisible() and ENLARGE_TIP not in item.toolTip()
    qtbot.waitUntil(lambda: not gallery.saliency.is_busy(), timeout=TIMEOUT)
    panel.shutdown()
