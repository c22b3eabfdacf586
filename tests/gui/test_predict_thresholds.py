"""Try the model's threshold choice: per-label by default, and a single threshold the user chose stays."""

from __future__ import annotations

import shutil
from pathlib import Path

from pytestqt.qtbot import QtBot

from mlcls_gui.core.inference.predict import Predictor, save_thresholds
from mlcls_gui.gui.predict.predict_panel import PredictPanel

TIMEOUT = 30_000


def load(qtbot: QtBot, panel: PredictPanel, model: Path) -> None:
    with qtbot.waitSignal(panel.model_loaded, timeout=TIMEOUT):
        panel.set_model_file(str(model))
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=TIMEOUT)


def test_a_single_threshold_the_user_chose_stays_for_the_next_model(
        qtbot: QtBot, trained_model: Path, tmp_path: Path) -> None:
    model = tmp_path / "tuned.pt"
    shutil.copy(trained_model, model)
    labels = Predictor.from_file(model).labels
    save_thresholds(model, [0.2 + 0.1 * i for i in range(len(labels))])  # distinct per-label thresholds
    panel = PredictPanel()
    qtbot.addWidget(panel)
    load(qtbot, panel, model)
    assert panel.per_label_check.isChecked() and not panel.threshold_spin.isEnabled()
    panel.per_label_check.setChecked(False)  # the user wants one threshold for all labels
    panel.threshold_spin.setValue(0.7)
    load(qtbot, panel, model)  # e.g. the next run's final model
    assert not panel.per_label_check.isChecked() and panel.threshold_spin.value() == 0.7
    assert set(panel.thresholds().values()) == {0.7}  # every label at the chosen one
    panel.per_label_check.setChecked(True)  # back to per-label: later models use theirs again
    load(qtbot, panel, model)
    assert panel.per_label_check.isChecked()
