"""The supervised training process: stop during its start-up, stop without the test, and no process
left when its supervisor dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import ONE_THREAD, tiny_config

from mlcls_gui.core.training.events import FinishReason, RunFinished
from mlcls_gui.core.training.launch import process_alive
from mlcls_gui.core.training.run_control import RunControl
from mlcls_gui.core.training.supervised_run import run_supervised

_SUPERVISOR = r"""
import sys
from mlcls_gui.core.config import TrainConfig
from mlcls_gui.core.training.run_control import RunControl
from mlcls_gui.core.training.supervised_run import run_supervised

def started(pid):
    print(pid, flush=True)

run_supervised(TrainConfig.load_json(sys.argv[1]), RunControl(), lambda event: None, torch_threads=1,
               on_process=started)
"""


def test_a_stop_asked_while_the_process_starts_is_a_stop(tiny_root: Path, tmp_path: Path) -> None:
    control = RunControl()
    control.request_stop()  # before the process has even loaded torch
    events: list[object] = []
    outcome = run_supervised(tiny_config(tiny_root, tmp_path / "out", n_epochs=300, early_stop_epoch_limit=300),
                             control, events.append, torch_threads=1)
    assert outcome.reason is FinishReason.STOPPED, outcome.message
    finished = [event for event in events if isinstance(event, RunFinished)]
    assert finished and finished[0].summary.get("epochs_completed", 0) < 300


def test_stop_and_skip_the_test_skips_the_test_however_fast_the_run_ends(tiny_root: Path, tmp_path: Path) -> None:
    # Stop and close without the test: the request reaches the process before its run
    # ends, so even a test evaluation that starts and ends within a poll is not run.
    control = RunControl()
    control.request_skip_test()
    control.request_stop()
    out = tmp_path / "out"
    events: list[object] = []
    config = tiny_config(tiny_root, out, n_epochs=300, early_stop_epoch_limit=300)
    outcome = run_supervised(config, control, events.append, torch_threads=1)
    assert outcome.reason is FinishReason.STOPPED, outcome.message
    finished = [event for event in events if isinstance(event, RunFinished)]
    assert finished and finished[0].summary.get("test_exact_match", "missing") is None
    assert "Test evaluation skipped, as asked for with the stop." in (out / config.log_name).read_text()


def test_the_training_process_ends_when_its_supervisor_is_killed(tiny_root: Path, tmp_path: Path) -> None:
    config_path = tmp_path / "config.json"
    tiny_config(tiny_root, tmp_path / "out", n_epochs=300, early_stop_epoch_limit=300).save_json(config_path)
    supervisor = subprocess.Popen([sys.executable, "-c", _SUPERVISOR, str(config_path)], stdout=subprocess.PIPE,
                                  text=True, env=ONE_THREAD)
    child = 0
    try:
        child = int(supervisor.stdout.readline())
        assert process_alive(child)
        time.sleep(3)  # well into its start-up (or training)
        supervisor.send_signal(signal.SIGKILL)  # the window's process, killed
        supervisor.wait(timeout=30)
        deadline = time.monotonic() + 60
        while process_alive(child) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not process_alive(child)
    finally:
        supervisor.kill()
        if child and process_alive(child):
            os.kill(child, signal.SIGKILL)
