"""The Predict panel opens an exported .onnx file (issue 10) and predicts with it
what the .pt model predicts."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QDir
from PySide6.QtWidgets import QFileDialog
from pytestqt.qtbot import QtBot

from mlcls_gui.core.inference.export import export_model
from mlcls_gui.core.inference.predict import Predictor
from mlcls_gui.gui.predict.predict_panel import PredictPanel

from .tiny_model import train_tiny_cnn

TIMEOUT = 60_000


@pytest.fixture(scope="module")
def exported(demo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    model = train_tiny_cnn(demo_root, tmp_path_factory.mktemp("onnx-model"))
    return model, export_model(model, "onnx").path


def filter_patterns(name_filter: str) -> list[str]:
    """The patterns of the first (default) entry of a file dialog filter."""
    first = name_filter.split(";;")[0]
    return first[first.index("(") + 1:first.index(")")].split()


def test_the_open_model_dialog_offers_onnx_files_and_the_panel_predicts_with_one(
        qtbot: QtBot, exported: tuple[Path, Path], demo_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model, onnx_file = exported
    asked: list[str] = []

    def choose(_parent: object, _title: str, _start: str, name_filter: str) -> tuple[str, str]:
        asked.append(name_filter)
        return str(onnx_file), name_filter.split(";;")[0]

    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(choose))
    panel = PredictPanel()
    qtbot.addWidget(panel)
    panel.resize(600, 700)
    panel.show()
    with qtbot.waitSignal(panel.model_loaded, timeout=TIMEOUT) as loaded:
        panel.open_model_button.click()
    assert loaded.args == [str(onnx_file)]
    # The default filter shows .onnx files beside .pt ones.
    patterns = filter_patterns(asked[0])
    assert QDir.match(patterns, onnx_file.name) and QDir.match(patterns, model.name)
    assert "final_model.onnx" in panel.model_label.text()

    image = sorted((demo_root / "circle+square").iterdir())[0]
    with qtbot.waitSignal(panel.predictions_shown, timeout=TIMEOUT):
        panel.add_paths([str(image)])
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=TIMEOUT)
    assert len(panel.cards) == 1 and not panel.messages()
    card = panel.cards[0]
    shown = {card.table.item(r, 0).text(): float(card.table.item(r, 1).text())
             for r in range(card.table.rowCount())}
    reference = Predictor.from_file(model).predict_paths([image])[0]
    assert set(shown) == set(reference.probabilities)
    for label, probability in reference.probabilities.items():
        assert shown[label] == pytest.approx(probability, abs=1e-3)  # the table shows 3 decimals
