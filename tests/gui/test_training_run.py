"""Whole runs through the window: Start → finished, Stop, resume, failure, closing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from mlcls_gui.gui.main_window import MainWindow

from .conftest import tiny_config, wait_until_ready

RUN_TIMEOUT = 90_000


def test_run_from_start_to_finished(qtbot: QtBot, make_window, demo_root: Path, tmp_path: Path) -> None:
    window = make_window()
    output = tmp_path / "out"
    window.apply_config(tiny_config(demo_root, output))
    wait_until_ready(qtbot, window)
    epochs: list[int] = []
    with qtbot.waitSignal(window.run_ended, timeout=RUN_TIMEOUT) as ended:
        window.run_panel.start_button.click()
        assert window.is_running()
        assert not window.config_form.editor("batch_size").isEnabled()  # form locked
        assert not window.run_panel.start_button.isEnabled()
        qtbot.waitUntil(lambda: window.plots.epoch_points("val_loss") >= 1, timeout=RUN_TIMEOUT)
        epochs.append(window.plots.epoch_points("val_loss"))
    assert ended.args == ["completed"]
    for name in ("train_loss", "val_loss", "train_accuracy", "val_accuracy"):
        assert window.plots.epoch_points(name) == 2, name
    assert window.plots.epoch_points("batch_loss") == 2 * 5  # 36 train images / batch 8
    assert window.plots.best_lines[0].isVisible()
    assert window.run_panel.state_label.text().startswith("Run finished")
    summary = window.run_panel.summary_label.text()
    assert "Best epoch" in summary and "<b>Test</b>, 9 images" in summary and str(output) in summary
    # Both exact-matches, at 0.5 and at the tuned thresholds the model uses (issue 15, item 4).
    written = json.loads((output / "summary.json").read_text())
    assert f"{written['test_exact_match']:.3f}" in summary
    assert f"{written['test_at_thresholds']['exact_match']:.3f}" in summary
    assert "at 0.5" in summary and "at the" in summary and "thresholds" in summary
    assert ("(used)" in summary) == any(t != 0.5 for t in written["thresholds"].values())
    # Every file once (issue 15, item 6).
    files = summary.split("</code>:")[1]
    assert files.count("final_model.pt") == 1 and "manual_checkpoint.pt" not in files
    assert window.run_panel.output_dir() == str(output)
    assert window.run_panel.open_folder_button.isEnabled()
    assert "Training completed" in window.run_panel.log_view.toPlainText()
    assert window.run_panel.run_bar.value() == 1000
    assert window.config_form.editor("batch_size").isEnabled()  # unlocked again
    assert window.run_panel.start_button.isEnabled()  # start again without restarting
    qtbot.waitUntil(window.predict_panel.has_model, timeout=30_000)
    assert window.predict_panel.model_path() == str(output / "final_model.pt")
    qtbot.waitUntil(lambda: not window.predict_panel.is_busy(), timeout=30_000)


def test_stop_mid_run_keeps_a_checkpoint_and_resume_continues(
        qtbot: QtBot, make_window, demo_root: Path, tmp_path: Path) -> None:
    window = make_window()
    output = tmp_path / "out"
    window.apply_config(tiny_config(demo_root, output, n_epochs=40, early_stop_epoch_limit=40))
    wait_until_ready(qtbot, window)
    states: list[str] = []
    with qtbot.waitSignal(window.run_ended, timeout=RUN_TIMEOUT) as ended:
        assert window.start_run()
        qtbot.waitUntil(lambda: window.plots.epoch_points("val_loss") >= 1, timeout=RUN_TIMEOUT)
        window.run_panel.stop_button.click()
        states.append(window.run_panel.state_label.text())
        assert not window.run_panel.stop_button.isEnabled()
    assert ended.args == ["stopped"]
    assert states[0].startswith("Stopping")
    assert window.run_panel.state_label.text() == "Run stopped."
    assert "ETA" not in window.run_panel.run_bar.format()  # no time left to wait for
    assert (output / "checkpoint.pt").is_file()
    assert (output / "last_checkpoint.pt").is_file()
    assert (output / "final_model.pt").is_file()
    stopped_at = json.loads((output / "summary.json").read_text())["epochs_completed"]
    assert 1 <= stopped_at < 40

    # Resume the stopped run from its last checkpoint, to a shorter total.
    form = window.config_form
    form.editor("n_epochs").setText(str(stopped_at + 1))
    form.editor("early_stop_epoch_limit").setText(str(stopped_at + 1))
    qtbot.waitUntil(window.is_ready, timeout=10_000)
    with qtbot.waitSignal(window.run_ended, timeout=RUN_TIMEOUT) as resumed:
        assert window.start_run(resume_from=str(output / "last_checkpoint.pt"))
    assert resumed.args == ["completed"]
    # The plot shows the earlier epochs (from the checkpoint) and the new one.
    assert window.plots.epoch_points("val_loss") == stopped_at + 1
    assert window.plots.epoch_points("train_accuracy") == stopped_at + 1
    summary = json.loads((output / "summary.json").read_text())
    assert summary["epochs_completed"] == stopped_at + 1


def test_save_checkpoint_now(qtbot: QtBot, make_window, demo_root: Path, tmp_path: Path) -> None:
    window = make_window()
    output = tmp_path / "out"
    # Long enough that the request reaches the training process while it trains.
    window.apply_config(tiny_config(demo_root, output, n_epochs=300, early_stop_epoch_limit=300))
    wait_until_ready(qtbot, window)
    with qtbot.waitSignal(window.run_ended, timeout=RUN_TIMEOUT) as ended:
        assert window.start_run()
        qtbot.waitUntil(lambda: window.plots._series["batch_loss"].size >= 1, timeout=RUN_TIMEOUT)
        window.run_panel.checkpoint_button.click()
        qtbot.waitUntil((output / "manual_checkpoint.pt").is_file, timeout=RUN_TIMEOUT)
        window.request_stop()
    assert ended.args == ["stopped"]


def test_a_failing_run_shows_a_dialog_and_the_app_stays_usable(
        qtbot: QtBot, make_window, demo_root: Path, tmp_path: Path) -> None:
    window = make_window()
    # A device this machine does not have: the engine raises DeviceError.
    window.apply_config(tiny_config(demo_root, tmp_path / "out", device="cuda:7"))
    wait_until_ready(qtbot, window)
    with qtbot.waitSignal(window.run_ended, timeout=RUN_TIMEOUT) as ended:
        assert window.start_run()
    assert ended.args == ["failed"]
    box = window.last_error_box
    assert isinstance(box, QMessageBox) and box.isVisible()
    assert "cuda:7" in box.text() and "\n" not in box.text().strip()
    assert "Traceback" in box.detailedText()
    assert window.run_panel.state_label.text().startswith("Run failed")
    box.close()
    # Fix the device and train again in the same window.
    combo = window.config_form.editor("device")
    combo.setCurrentIndex(combo.findData("cpu"))
    qtbot.waitUntil(window.is_ready, timeout=10_000)
    with qtbot.waitSignal(window.run_ended, timeout=RUN_TIMEOUT) as again:
        assert window.start_run()
    assert again.args == ["completed"]


def test_closing_during_a_run_asks_stops_and_waits(
        qtbot: QtBot, make_window, demo_root: Path, tmp_path: Path) -> None:
    window = make_window()
    output = tmp_path / "out"
    window.apply_config(tiny_config(demo_root, output, n_epochs=40, early_stop_epoch_limit=40))
    wait_until_ready(qtbot, window)
    asked: list[bool] = []
    window.confirm_close_during_run = lambda: (asked.append(False), False)[1]  # "No"
    assert window.start_run()
    qtbot.waitUntil(lambda: window.plots._series["batch_loss"].size >= 1, timeout=RUN_TIMEOUT)
    assert not window.close()  # declined: keeps training
    assert asked and window.isVisible() and window.is_running()

    window.confirm_close_during_run = lambda: (asked.append(True), True)[1]  # "Yes"
    with qtbot.waitSignal(window.run_ended, timeout=RUN_TIMEOUT) as ended:
        assert not window.close()  # not yet: it stops first
        assert window.isVisible()
        assert window.run_panel.state_label.text().startswith("Stopping")
    assert ended.args == ["stopped"]
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=10_000)
    assert (output / "checkpoint.pt").is_file()
    assert not window.is_running()


def test_settings_are_remembered(qtbot: QtBot, make_window, demo_root: Path, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    window = make_window("remember.ini", warm_up_now=False)
    config = tiny_config(demo_root, tmp_path / "out", batch_size=4)
    window.apply_config(config)
    qtbot.waitUntil(lambda: not window.data_panel.is_scanning(), timeout=30_000)
    window.close()
    saved = window.saveGeometry()
    restored: list[object] = []
    # The offscreen screen (800×800) is smaller than the window, so Qt fits a
    # restored geometry to it: check the bytes handed to restoreGeometry instead.
    monkeypatch.setattr(MainWindow, "restoreGeometry", lambda self, data: restored.append(bytes(data)) or True)
    again = make_window("remember.ini", warm_up_now=False)
    assert again.config_form.config() == config
    assert again.data_panel.root() == str(demo_root)
    assert again.data_panel.recent_roots()[0] == str(demo_root)
    assert restored == [bytes(saved)]
    qtbot.waitUntil(lambda: not again.data_panel.is_scanning(), timeout=30_000)
