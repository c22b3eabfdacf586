"""Multi-process launches that go wrong: which process failed, a killed launcher,
too many processes, a bad collective timeout (issue 21, item 10).

Real processes where a kill is the case; the rest is the launcher's own logic."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from conftest import ONE_THREAD, tiny_config
from test_distributed import _command, _wait_for, _workers

from mlcls_gui.core import devices
from mlcls_gui.core.errors import ConfigError, DeviceError
from mlcls_gui.core.output_names import LOCK_NAME
from mlcls_gui.core.training import launch
from mlcls_gui.core.training.launch import process_alive

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl and /proc")


def _failure(exitcode: int, timestamp: int = 1000) -> SimpleNamespace:
    """What the elastic agent records of one process (ProcessFailure's fields used)."""
    return SimpleNamespace(exitcode=exitcode, timestamp=timestamp)


# ------------------------------------------------------- which process failed
@pytest.mark.parametrize("failures", [
    {1: _failure(-9), 0: _failure(-15)},  # the order the agent records them in
    {0: _failure(-15), 1: _failure(-9)},
])
def test_the_killed_process_is_named_not_one_the_launcher_stopped(failures):
    """kill -9 of process 1: the agent then sends SIGTERM to process 0, and both
    are recorded in the same second. The SIGKILL'd one failed first."""
    message = launch.failure_message(failures, 2)
    assert message.startswith("Training process 1 of 2 failed (signal 9): SIGKILL"), message
    assert "records do not tell" not in message


def test_a_crash_wins_over_an_exit_and_an_escalated_kill_comes_last():
    crash = {0: _failure(2), 1: _failure(-11)}
    assert "process 1 of 2 failed (signal 11): SIGSEGV, crashed" in launch.failure_message(crash, 2)
    # Process 1 exited with an error; 30 s later the agent SIGKILLed process 0, which ignored SIGTERM.
    escalated = {1: _failure(1, 1000), 0: _failure(-9, 1030)}
    assert launch.failure_message(escalated, 2).startswith("Training process 1 of 2 failed (exit code 1);")


def test_processes_the_records_cannot_order_are_named_together():
    message = launch.failure_message({0: _failure(-9), 1: _failure(-9), 2: _failure(-15)}, 3)
    assert message.startswith("Training processes 0 and 1 of 3 failed (signal 9) at the same moment")
    assert "do not tell which was first" in message and "SIGKILL" in message
    mixed = launch.failure_message({0: _failure(-11), 1: _failure(-9)}, 2)
    assert mixed.startswith("Training processes 0 (signal 11) and 1 (signal 9) of 2 failed at the same moment")


# ------------------------------------------------------------- refused at once
@pytest.mark.parametrize("value", ["abc", "0", "-5", "nan", "inf", "1e30", " "])
def test_a_bad_collective_timeout_is_refused_naming_variable_and_value(monkeypatch, value):
    monkeypatch.setenv(launch.TIMEOUT_VAR, value)
    if not value.strip():
        assert launch.collective_timeout_s() == 60  # blank is unset
        return
    with pytest.raises(ConfigError, match=f"MLCLS_COLLECTIVE_TIMEOUT_S={value!r} is not accepted: "
                                          "set it to a positive number of seconds"):
        launch.collective_timeout_s()


def test_a_good_collective_timeout_is_taken(monkeypatch):
    monkeypatch.setenv(launch.TIMEOUT_VAR, "2.5")
    assert launch.collective_timeout_s() == 2.5
    monkeypatch.delenv(launch.TIMEOUT_VAR)
    assert launch.collective_timeout_s() == 60


def test_under_the_users_own_torchrun_a_bad_timeout_is_refused_before_joining(monkeypatch, tiny_root, tmp_path):
    from mlcls_gui.core.training.engine.strategy import Distributed

    for name, value in (("RANK", "0"), ("WORLD_SIZE", "2"), (launch.TIMEOUT_VAR, "0")):
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match="MLCLS_COLLECTIVE_TIMEOUT_S='0'"):
        Distributed(tiny_config(tiny_root, tmp_path / "out")).setup()
    assert not torch.distributed.is_initialized()


@pytest.fixture
def one_gpu_two_cores(monkeypatch):
    monkeypatch.setattr(devices, "cpu_cores", lambda: 2)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)


def test_processes_are_bounded_by_cores_on_the_cpu_and_by_gpus_on_cuda(one_gpu_two_cores):
    launch.check_process_count(2, "cpu")
    launch.check_process_count(1, "cuda")
    launch.check_process_count(2, None)  # device not known: the larger bound
    with pytest.raises(ConfigError, match=r"`processes=3` is more than the 2 CPU cores of this machine: "
                                          r"set `processes=2` or fewer\."):
        launch.check_process_count(3, "cpu")
    for device in ("cuda", "cuda:0", "auto"):
        with pytest.raises(ConfigError, match=r"`processes=2` is more than the 1 GPU of this machine"):
            launch.check_process_count(2, device)
    with pytest.raises(DeviceError, match="cannot be used by several processes"):
        launch.check_process_count(2, "mps")


def test_a_cgroup_quota_bounds_the_cores(tmp_path):
    quota = tmp_path / "cpu.max"
    for text, cores in (("150000 100000\n", 2), ("max 100000\n", 0), ("junk", 0)):
        quota.write_text(text)
        assert devices._cgroup_cpu_quota(quota) == cores
    assert devices._cgroup_cpu_quota(tmp_path / "absent") == 0


def test_the_cli_refuses_more_processes_than_cores_before_starting_anything(tiny_root, tmp_path):
    out = tmp_path / "out"
    before = set(Path(tempfile.gettempdir()).glob(f"{launch.LOG_DIR_PREFIX}*"))
    too_many = devices.cpu_cores() + (torch.cuda.device_count() if torch.cuda.is_available() else 0) + 1
    for env, setting in (({}, f"processes={too_many}"), ({launch.TIMEOUT_VAR: "abc"}, "processes=2")):
        done = subprocess.run(_command(tiny_root, out, setting, f"batch_size={8 * too_many}"),
                              capture_output=True, text=True, timeout=60, env={**ONE_THREAD, **env})
        assert done.returncode == 2, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr, done.stderr
        assert (f"`processes={too_many}` is more than" if not env else "MLCLS_COLLECTIVE_TIMEOUT_S='abc'") \
            in done.stderr
    assert not out.exists()  # nothing started, nothing written
    assert set(Path(tempfile.gettempdir()).glob(f"{launch.LOG_DIR_PREFIX}*")) <= before


# ------------------------------------------------------ the launcher's folders
def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_only_this_apps_folders_of_dead_launchers_are_removed(tmp_path):
    dead = _dead_pid()
    stale = tmp_path / f"mlcls-torchrun-{dead}-ab_c12x"
    live = tmp_path / f"mlcls-torchrun-{os.getpid()}-ab_c12x"
    old_style, other = tmp_path / "mlcls-torchrun-abcd1234", tmp_path / f"torchelastic-{dead}-abc"
    for folder in (stale, live, old_style, other):
        (folder / "attempt_0").mkdir(parents=True)
        (folder / "attempt_0" / "error.json").write_text("{}")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("mine")
    link = tmp_path / f"mlcls-torchrun-{dead}-symlink"
    link.symlink_to(outside)
    plain_file = tmp_path / f"mlcls-torchrun-{dead}-afile"
    plain_file.write_text("x")

    assert launch.remove_stale_log_dirs(tmp_path) == [stale]
    assert not stale.exists()
    assert all(p.exists() for p in (live, old_style, other, link, plain_file, outside / "keep.txt"))


def test_a_launch_clears_stale_folders_and_names_its_own_with_its_pid(tmp_path, monkeypatch):
    """The wiring, without starting processes: torch's run() is replaced."""
    import torch.distributed.run as torch_run

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(devices, "cpu_cores", lambda: 2)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the launcher sets it where unset
    stale = tmp_path / f"mlcls-torchrun-{_dead_pid()}-zz9"
    stale.mkdir()
    seen = {}

    def fake_run(args) -> None:
        seen.update(log_dir=Path(args.log_dir), exists=Path(args.log_dir).is_dir(),
                    launcher=os.environ.get(launch.LAUNCHER_PID_VAR))

    monkeypatch.setattr(torch_run, "run", fake_run)
    launch.launch_processes(2, ["train"], device="cpu")
    assert not stale.exists()
    assert seen["exists"] and seen["log_dir"].name.startswith(f"mlcls-torchrun-{os.getpid()}-")
    assert seen["launcher"] == str(os.getpid()) and launch.LAUNCHER_PID_VAR not in os.environ
    assert not seen["log_dir"].exists()  # removed after the run


# --------------------------------------------------------- a launcher that dies
_CHILD = """
import sys, time
from mlcls_gui.core.training.launch import exit_with_launcher
exit_with_launcher()
print("armed", flush=True)
time.sleep(120)
"""
# A stand-in launcher: starts one process the way the real one does, then waits.
_LAUNCHER = """
import os, subprocess, sys, time
os.environ["MLCLS_LAUNCHER_PID"] = sys.argv[1] if len(sys.argv) > 1 else str(os.getpid())
child = subprocess.Popen([sys.executable, "-c", CHILD])
print(child.pid, flush=True)
child.wait()
print(child.returncode, flush=True)
"""


def _stand_in_launcher(*args: str) -> subprocess.Popen:
    code = _LAUNCHER.replace("CHILD", repr(_CHILD))
    return subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ONE_THREAD)


@linux_only
def test_a_process_whose_launcher_is_already_gone_stops_before_training():
    """The race prctl alone leaves open: the launcher died before the child armed
    it. The child's parent is then not the launcher whose pid it was given."""
    launcher = _stand_in_launcher("1")  # pid 1 is never the parent here
    out, err = launcher.communicate(timeout=60)
    assert out.split()[-1] == "1", (out, err)  # the child exited 1 ...
    assert "TrainingError: The launcher (process 1) that started this training process is gone" in err
    assert "armed" not in out  # ... before it went on


@pytest.mark.slow
@linux_only
def test_kill_9_of_the_launcher_stops_its_processes_with_their_outputs(tiny_root, tmp_path):
    """A real 2-process run: the kernel sends each process SIGTERM when the
    launcher dies; they stop at a batch and write the outputs, as after Ctrl-C.
    The launcher's folder stays (nothing ran to remove it) until the next launch."""
    out = tmp_path / "out"
    launcher = subprocess.Popen(_command(tiny_root, out, "n_epochs=500", "processes=2"),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True, env=ONE_THREAD)
    workers: dict[int, int] = {}
    try:
        _wait_for(out / "metrics.csv", launcher)
        workers = _workers(launcher.pid)
        assert sorted(workers) == [0, 1]
        own = list(Path(tempfile.gettempdir()).glob(f"{launch.LOG_DIR_PREFIX}{launcher.pid}-*"))
        assert len(own) == 1 and own[0].is_dir()
        os.kill(launcher.pid, signal.SIGKILL)
        launcher.wait(timeout=30)
        deadline = time.monotonic() + 60
        while any(process_alive(pid) for pid in workers.values()):
            assert time.monotonic() < deadline, "the processes outlived their launcher"
            time.sleep(0.2)
    finally:
        for pid in workers.values():
            if process_alive(pid):
                os.kill(pid, signal.SIGKILL)
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
    assert json.loads((out / "summary.json").read_text())["reason"] == "stopped"
    assert (out / "final_model.pt").is_file() and not (out / LOCK_NAME).exists()
    assert own[0].exists()
    assert own[0] in launch.remove_stale_log_dirs()  # what the next launch does first
    assert not own[0].exists()
