"""Saliency is off, with the reason, for an .onnx model: in Predict's cards and in Evaluate's gallery."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from mlcls_gui.core.inference.export import export_model
from mlcls_gui.gui.evaluate.thumbnail_gallery import MistakesGallery
from mlcls_gui.gui.predict.predict_panel import PredictPanel
from mlcls_gui.gui.widgets.saliency_view import ONNX_SALIENCY_REASON, SALIENCY_TOOLTIP

from .tiny_model import train_tiny_cnn

TIMEOUT = 60_000


@pytest.fixture(scope="module")
def onnx_model(demo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    model = train_tiny_cnn(demo_root, tmp_path_factory.mktemp("onnx-saliency"))
    return Path(export_model(model, "onnx").path)


def test_predict_cards_of_an_onnx_model_offer_no_saliency(qtbot: QtBot, onnx_model: Path, demo_root: Path) -> None:
    panel = PredictPanel()
    qtbot.addWidget(panel)
    panel.resize(600, 700)
    panel.show()
    with qtbot.waitSignal(panel.model_loaded, timeout=TIMEOUT):
        panel.set_model_file(str(onnx_model))
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=TIMEOUT)
    with qtbot.waitSignal(panel.predictions_shown, timeout=TIMEOUT):
        panel.add_paths([str(next(demo_root.rglob("*.png")))])
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=TIMEOUT)
    card = panel.cards[0]
    assert not card.saliency_check.isEnabled() and card.saliency_check.toolTip() == ONNX_SALIENCY_REASON


def test_the_gallery_offers_saliency_for_a_pt_model_only(qtbot: QtBot) -> None:
    gallery = MistakesGallery()
    qtbot.addWidget(gallery)
    gallery.set_model_source("/models/final_model.onnx")
    assert not gallery.saliency_check.isEnabled() and gallery.saliency_check.toolTip() == ONNX_SALIENCY_REASON
    gallery.set_model_source("/models/final_model.pt")
    assert gallery.saliency_check.isEnabled() and gallery.saliency_check.toolTip().startswith(SALIENCY_TOOLTIP)
    assert "near black" in SALIENCY_TOOLTIP and "red" in SALIENCY_TOOLTIP  # Turbo, as blend_heatmap draws it
