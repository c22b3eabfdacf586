"""Several training processes from the window: the device box and a supervised 2-process CPU run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from mlcls_gui.core.device_choices import device_choices_from
from mlcls_gui.core.devices import DeviceInfo

from .conftest import tiny_config, wait_until_ready

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def test_all_gpus_entry_sets_the_process_count(qtbot: QtBot, make_window) -> None:
    gpus = [DeviceInfo("cpu", "CPU"), DeviceInfo("cuda:0", "GPU A"), DeviceInfo("cuda:1", "GPU B")]
    choices = device_choices_from(gpus)
    assert choices[-1].id == "cuda" and choices[-1].processes == 2 and "All 2 GPUs" in choices[-1].text
    assert all(c.processes == 1 for c in device_choices_from(gpus[:2]))  # one GPU: no such entry
    window = make_window()
    form = window.config_form
    form.set_device_choices(choices)
    combo = form.editor("device")
    combo.setCurrentIndex(combo.count() - 1)
    assert form.editor("processes").text() == "2"
    combo.setCurrentIndex(combo.findData("cpu"))
    assert form.editor("processes").text() == "1"


@pytest.mark.slow
def test_a_two_process_run_from_the_window_fills_the_plots_and_shows_its_summary(
        qtbot: QtBot, make_window, demo_root: Path, tmp_path: Path) -> None:
    window = make_window()
    output = tmp_path / "out"
    # resnet18: the run must still be training when the test clicks Save checkpoint.
    window.apply_config(tiny_config(demo_root, output, processes=2, arch="resnet18"))
    wait_until_ready(qtbot, window)
    with qtbot.waitSignal(window.run_ended, timeout=240_000) as ended:
        assert window.start_run()
        qtbot.waitUntil(lambda: window.plots.epoch_points("batch_loss") >= 1, timeout=200_000)
        window.run_panel.checkpoint_button.click()  # Save checkpoint reaches the main process
    assert ended.args == ["completed"]
    for name in ("train_loss", "val_loss", "train_accuracy", "val_accuracy"):
        assert window.plots.epoch_points(name) == 2, name
    summary = window.run_panel.summary_label.text()
    assert "Best epoch" in summary and "<b>Test</b>" in summary
    written = json.loads((output / "summary.json").read_text())
    assert written["reason"] == "completed" and "2 processes" in written["device"]
    assert window.run_panel.output_dir() == str(output)
    assert (output / "manual_checkpoint.pt").is_file()
