"""Run integrity with real processes: two runs into one folder, SIGTERM/SIGHUP, resume on a new split."""

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ONE_THREAD, tiny_config

from mlcls_gui.core.output_names import LOCK_NAME
from mlcls_gui.core.training.engine import Trainer

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def _train_process(root: Path, out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "mlcls_gui", "train", "--quiet", "--set", f"images_root={root}", "--set",
         f"save_model_folder={out}", "--set", "pretrained=false", "--set", "image_size=32",
         "--set", "n_epochs=500", "--set", "device=cpu", "--set", "num_workers=0", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ONE_THREAD,
    )


def _wait_for(path: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.1)


def _assert_outputs_complete(out: Path) -> None:
    for name in ("final_model.pt", "checkpoint.pt", "summary.json", "config.json", "train.log", "run.json"):
        assert (out / name).is_file(), name
    assert not list(out.glob("*.tmp")) and not (out / LOCK_NAME).exists()
    assert json.loads((out / "run.json").read_text())["status"] == "stopped"


@pytest.mark.slow
def test_runs_into_one_folder_started_together_or_later_only_one_trains(tiny_root, tmp_path):
    """Two started together: one is refused (the lock is taken atomically). A third
    started while the survivor trains is refused too. SIGHUP (a closing terminal;
    SIGTERM and Ctrl-C take the same path) then stops the survivor with every output."""
    out = tmp_path / "out"
    first, second = _train_process(tiny_root, out), _train_process(tiny_root, out)
    later = None
    try:
        # The refused one exits at once; the other keeps training.
        deadline = time.monotonic() + 120
        while first.poll() is None and second.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        refused, running = (first, second) if first.poll() is not None else (second, first)
        _, err = refused.communicate(timeout=30)
        assert refused.returncode == 2, err
        assert f"in use by a training run (process {running.pid}" in err and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1
        _wait_for(out / "metrics.csv")
        later = _train_process(tiny_root, out)
        _, err = later.communicate(timeout=120)
        assert later.returncode == 2 and f"process {running.pid}" in err
        assert running.poll() is None  # refusing the later run did not disturb this one
        running.send_signal(signal.SIGHUP)
        stdout, err = running.communicate(timeout=120)
        assert running.returncode == 0, err
    finally:
        for process in (first, second, later):
            if process is not None and process.poll() is None:
                process.kill()
    assert "Stopping after this batch and saving (SIGHUP)" in err
    assert "Final model:" in stdout
    _assert_outputs_complete(out)
    assert not (out / "previous_runs").exists()  # the refused runs moved nothing


def test_resume_on_a_changed_split_is_refused_unless_asked(tiny_root, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(tiny_root, data)
    out = tmp_path / "out"
    Trainer(tiny_config(data, out, n_epochs=1)).run()
    (data / "circle" / "circle_000.png").unlink()
    checkpoint = str(out / "last_checkpoint.pt")
    command = [sys.executable, "-m", "mlcls_gui", "train", "--quiet", "--resume", checkpoint, "--set", "n_epochs=2"]
    refused = subprocess.run(command, capture_output=True, text=True, timeout=300, env=ONE_THREAD)
    assert refused.returncode == 2 and "split differs" in refused.stderr
    assert "Traceback" not in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    allowed = subprocess.run([*command, "--allow-split-change"], capture_output=True, text=True, timeout=300,
                             env=ONE_THREAD)
    assert allowed.returncode == 0, allowed.stderr
    assert "NOT held out" in allowed.stdout
    assert json.loads((out / "summary.json").read_text())["test_held_out"] is False
