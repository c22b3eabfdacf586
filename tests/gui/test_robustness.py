"""Hostile model files, double starts and long runs, as a user of the window meets them."""

from __future__ import annotations

from pathlib import Path

import torch
from pytestqt.qtbot import QtBot

from mlcls_gui.core.training.events import BatchEnd
from mlcls_gui.gui.evaluate.evaluate_panel import EvaluatePanel
from mlcls_gui.gui.predict.predict_panel import PredictPanel
from mlcls_gui.gui.train.plots import TrainingPlots

from .conftest import tiny_config, wait_until_ready

RUN_TIMEOUT = 90_000


class _Payload:
    """Unpickling this calls open(marker, "w"): the file appears if the payload runs."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):  # noqa: ANN204 - pickle protocol
        return (open, (self.marker, "w"))


def _evil_model(path: Path, marker: Path) -> Path:
    payload = {"format": "mlcls-gui", "format_version": 1, "arch": "resnet18", "labels": ["a"],
               "image_size": 32, "mean": [0.5] * 3, "std": [0.5] * 3,
               "model_state": {"w": torch.ones(1)}, "x": _Payload(marker)}
    torch.save(payload, path)
    return path


def test_pickle_payload_never_runs_in_the_predict_or_evaluate_panel(
        qtbot: QtBot, tmp_path: Path, demo_root: Path) -> None:
    marker = tmp_path / "pwned"
    evil = _evil_model(tmp_path / "evil.pt", marker)
    panel = PredictPanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.set_model_file(str(evil))
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=30_000)
    assert not panel.has_model()
    assert "not plain weights" in "\n".join(panel.messages())
    evaluate = EvaluatePanel()
    qtbot.addWidget(evaluate)
    evaluate.set_model_path(str(evil))
    evaluate.set_data_root(str(demo_root))
    with qtbot.waitSignal(evaluate.evaluation_finished, timeout=30_000) as done:
        assert evaluate.start_evaluation()
    assert done.args == ["failed"] and "not plain weights" in evaluate.last_error()
    assert not marker.exists()


def test_resuming_from_a_pickle_payload_fails_cleanly(qtbot: QtBot, make_window, demo_root: Path,
                                                      tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = _evil_model(tmp_path / "evil.pt", marker)
    window = make_window()
    window.apply_config(tiny_config(demo_root, tmp_path / "out"))
    wait_until_ready(qtbot, window)
    with qtbot.waitSignal(window.run_ended, timeout=RUN_TIMEOUT) as ended:
        assert window.start_run(resume_from=str(evil))
    assert ended.args == ["failed"]
    assert "not plain weights" in window.last_error_box.text()
    window.last_error_box.close()
    assert not marker.exists()


def test_start_pressed_twice_starts_one_run(qtbot: QtBot, make_window, demo_root: Path, tmp_path: Path) -> None:
    window = make_window()
    window.apply_config(tiny_config(demo_root, tmp_path / "out", n_epochs=1))
    wait_until_ready(qtbot, window)
    with qtbot.waitSignal(window.run_ended, timeout=RUN_TIMEOUT) as ended:
        assert window.start_run()
        assert not window.start_run()  # the second press is refused
        window.run_panel.start_button.click()  # and the button is disabled anyway
        assert not window.run_panel.start_button.isEnabled()
    assert ended.args == ["completed"]


def test_plots_hold_ten_thousand_batch_points(qtbot: QtBot) -> None:
    plots = TrainingPlots()
    qtbot.addWidget(plots)
    plots.show()
    for step in range(1, 10_001):
        plots.add_batch(BatchEnd(epoch=1 + step // 1000, batch=step % 1000 + 1, batches=1000,
                                 loss=1.0 / step, images=16, images_per_second=100.0, global_step=step))
    plots.redraw()
    assert plots.epoch_points("batch_loss") == 10_000
