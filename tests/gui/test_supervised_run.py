"""Every window run is a training process of its own: a crash is a message, and no
training process outlives the window."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from mlcls_gui.core.training.launch import process_alive

from .conftest import tiny_config, wait_until_ready

RUN_TIMEOUT = 120_000


def _start_long_run(qtbot: QtBot, window, demo_root: Path, output: Path) -> int:
    window.apply_config(tiny_config(demo_root, output, n_epochs=300, early_stop_epoch_limit=300))
    wait_until_ready(qtbot, window)
    assert window.start_run()
    qtbot.waitUntil(lambda: window.plots._series["batch_loss"].size >= 1, timeout=RUN_TIMEOUT)
    pid = window.training_pid()
    assert pid > 0 and pid != os.getpid() and process_alive(pid)
    return pid


def test_a_killed_training_process_is_a_message_and_the_window_trains_again(
        qtbot: QtBot, make_window, demo_root: Path, tmp_path: Path) -> None:
    window = make_window()
    output = tmp_path / "out"
    window.show_predict()
    pid = _start_long_run(qtbot, window, demo_root, output)
    qtbot.waitUntil(lambda: (output / "checkpoint.pt").is_file(), timeout=RUN_TIMEOUT)
    tab_before = window.main_tabs.currentIndex()
    with qtbot.waitSignal(window.run_ended, timeout=RUN_TIMEOUT) as ended:
        os.kill(pid, signal.SIGKILL)  # what the out-of-memory killer does
    assert ended.args == ["failed"]
    box = window.last_error_box
    assert isinstance(box, QMessageBox) and box.isVisible()
    text = box.text()
    assert "SIGKILL" in text and "out of memory" in text, text
    assert "checkpoint.pt" in text and str(output) in text  # what was saved, and where
    assert window.run_panel.state_label.text().startswith("Run failed")
    assert window.main_tabs.currentIndex() == tab_before  # the other tabs are as they were
    box.close()
    # The next run starts at once, in the same window.
    window.config_form.editor("n_epochs").setText("1")
    window.config_form.editor("early_stop_epoch_limit").setText("1")
    qtbot.waitUntil(window.is_ready, timeout=10_000)
    with qtbot.waitSignal(window.run_ended, timeout=RUN_TIMEOUT) as again:
        assert window.start_run()
    assert again.args == ["completed"]


def test_closing_the_window_mid_run_leaves_no_training_process(
        qtbot: QtBot, make_window, demo_root: Path, tmp_path: Path) -> None:
    window = make_window()
    pid = _start_long_run(qtbot, window, demo_root, tmp_path / "out")
    with qtbot.waitSignal(window.run_ended, timeout=RUN_TIMEOUT) as ended:
        window.close()  # "stop and close" (the fixture answers so)
    assert ended.args == ["stopped"]
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=10_000)
    assert not process_alive(pid)


def test_a_run_that_does_not_stop_in_time_is_ended_when_the_window_closes(
        qtbot: QtBot, make_window, demo_root: Path, tmp_path: Path, monkeypatch) -> None:
    from mlcls_gui.gui import main_window

    monkeypatch.setattr(main_window, "CLOSE_GRACE_MS", 300)
    window = make_window()
    pid = _start_long_run(qtbot, window, demo_root, tmp_path / "out")
    os.kill(pid, signal.SIGSTOP)  # frozen: it cannot take the stop request
    try:
        started = time.monotonic()
        with qtbot.waitSignal(window.run_ended, timeout=RUN_TIMEOUT) as ended:
            window.close()
        assert ended.args == ["failed"]
        assert time.monotonic() - started < 30
        qtbot.waitUntil(lambda: not window.isVisible(), timeout=10_000)
        assert not process_alive(pid)
    finally:
        if process_alive(pid):
            os.kill(pid, signal.SIGKILL)
