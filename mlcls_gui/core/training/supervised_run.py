"""Every run the window starts, as a training process of its own that a thread supervises.

The run is ``python -m mlcls_gui train CONFIG --events FILE`` (with
``processes`` > 1 it starts its processes through torch.distributed.run).
This module (no Qt) starts it, follows its event file, passes on the window's
requests as signals (Stop: SIGTERM, each time it is asked; Save checkpoint:
SIGUSR1; skip the final test: SIGUSR2; end now: SIGKILL to the whole process
group), and turns an end
without a result (a crash, an out-of-memory kill, a Python error) into one
message that names the signal, what was saved and the last lines the process
wrote. The process dies with the window: the kernel stops it when its
supervisor's process ends, even by kill -9 (Linux, ``die_with_supervisor``).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from mlcls_gui.core.config import TrainConfig
from mlcls_gui.core.errors import TrainingError
from mlcls_gui.core.output_names import LAST_CHECKPOINT_NAME
from mlcls_gui.core.training.event_stream import EventReader, LogLine
from mlcls_gui.core.training.events import Event, FinishReason, RunFinished, RunStarted
from mlcls_gui.core.training.launch import exit_description, set_parent_death_signal
from mlcls_gui.core.training.run_control import RunControl

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.05
# The supervisor's pid, for the training process: its parent must still be it.
SUPERVISOR_PID_VAR = "MLCLS_SUPERVISOR_PID"
LAST_LINES = 60  # of the process's own output, in a failure's details
_OWN_OUTPUT = "output.txt"


@dataclass
class ProcessOutcome:
    reason: FinishReason
    summary: dict
    message: str = ""
    details: str = ""
    returncode: int | None = None
    saved: list[str] = field(default_factory=list)  # model files in the output folder when it ended


def run_supervised(
    config: TrainConfig, control: RunControl, on_event: Callable[[Event], None], *, resume_from: str = "",
    torch_threads: int | None = None, on_log: Callable[[LogLine], None] | None = None,
    on_process: Callable[[int], None] | None = None,
) -> ProcessOutcome:
    """Run ``config`` as a training process until it ends; pass its events (and log
    lines) on as they come. ``on_process`` gets the process's pid once it runs."""
    work = Path(tempfile.mkdtemp(prefix="mlcls-run-"))
    try:
        config_path, events_path, output_path = work / "config.json", work / "events.jsonl", work / _OWN_OUTPUT
        config.save_json(config_path)
        command = [sys.executable, "-X", "faulthandler", "-m", "mlcls_gui", "train", str(config_path),
                   "--quiet", "--events", str(events_path)]
        if resume_from:
            command += ["--resume", resume_from]
        env = dict(os.environ, **{SUPERVISOR_PID_VAR: str(os.getpid())})
        if torch_threads and config.processes <= 1:
            env["OMP_NUM_THREADS"] = str(torch_threads)  # the training process's torch threads
        follower = _Follower(EventReader(events_path), control, on_event, on_log, launcher=config.processes > 1)
        with open(output_path, "w", encoding="utf-8") as output:
            # Its own session and process group: a signal meant for the window (Ctrl-C in
            # its terminal) never reaches the run, and "end now" reaches all its processes.
            child = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True, env=env)
            if on_process is not None:
                on_process(child.pid)
            try:
                follower.follow(child)
            finally:
                if child.poll() is None:  # the supervisor itself failed: the run must not go on alone
                    _kill_group(child)
        text = output_path.read_text(encoding="utf-8", errors="replace")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return _outcome(follower, child.returncode, text, config)


class _Follower:
    """Reads the events as they come and passes on the window's requests."""

    def __init__(self, reader: EventReader, control: RunControl, on_event: Callable[[Event], None],
                 on_log: Callable[[LogLine], None] | None, *, launcher: bool) -> None:
        self.reader = reader
        self.launcher = launcher
        self.control = control
        self.on_event = on_event
        self.on_log = on_log
        self.finished: RunFinished | None = None
        self.output_dir = ""
        self.ended_on_request = False
        self._stops_sent = 0
        self._skip_test_sent = False

    def follow(self, child: subprocess.Popen) -> None:
        while child.poll() is None:
            self._read()
            if self.control.end_requested:
                self.ended_on_request = True
                _kill_group(child)
                break
            # The main process takes signals once it has named itself (its handlers are in
            # place); before that a stop waits. A launcher (several processes) takes them at once.
            target = self.reader.main_pid or (child.pid if self.launcher else None)
            if self.reader.main_pid and self.control.skip_test_requested and not self._skip_test_sent:
                self._skip_test_sent = True  # before the stop, so the run's end already knows it
                _signal(self.reader.main_pid, getattr(signal, "SIGUSR2", signal.SIGTERM))
            stops = self.control.stop_requests
            if target is not None and stops > self._stops_sent:  # each one: a second during the test skips it
                self._stops_sent = stops
                _signal(target, signal.SIGTERM)
            if self.control.take_checkpoint_request() and self.reader.main_pid:
                _signal(self.reader.main_pid, getattr(signal, "SIGUSR1", signal.SIGTERM))
            time.sleep(POLL_SECONDS)
        child.wait()
        self._read()  # what it wrote just before it ended

    def _read(self) -> None:
        for item in self.reader.read_new():
            if isinstance(item, LogLine):
                if self.on_log is not None:
                    self.on_log(item)
                continue
            if isinstance(item, RunStarted):
                self.output_dir = item.output_dir
            elif isinstance(item, RunFinished):
                self.finished = item
            self.on_event(item)


def _outcome(follower: _Follower, returncode: int | None, text: str, config: TrainConfig) -> ProcessOutcome:
    finished = follower.finished
    if finished is not None and finished.reason is not FinishReason.FAILED:
        return ProcessOutcome(finished.reason, dict(finished.summary), returncode=returncode)
    lines = [line for line in text.splitlines() if line.strip()]
    saved = saved_model_files(follower.output_dir or (finished.output_dir if finished else ""), config)
    if finished is not None:  # the run reported its own failure (a Python error it caught)
        return ProcessOutcome(FinishReason.FAILED, dict(finished.summary), finished.message,
                              finished.details or "\n".join(lines[-LAST_LINES:]), returncode, saved)
    message = _ended_without_result(returncode, lines, saved, follower.output_dir, follower.ended_on_request)
    return ProcessOutcome(FinishReason.FAILED, {}, message, "\n".join(lines[-LAST_LINES:]), returncode, saved)


def _ended_without_result(returncode: int | None, lines: list[str], saved: list[str], output_dir: str,
                          on_request: bool) -> str:
    """One message: how the process ended, and what it left."""
    error = next((line.removeprefix("mlcls-gui: error:").strip() for line in reversed(lines)
                  if line.startswith("mlcls-gui: error:")), "")
    if error:
        return error  # a setting or a file the command refused, in its own words
    if on_request:
        how = "The training process was ended because the window closed before it stopped"
    else:
        how = f"The training process ended without a result ({exit_description(returncode)})"
    if saved:
        kept = f"Saved before it ended, in {output_dir}: {', '.join(saved)}"
    elif output_dir:
        kept = f"Nothing was saved yet in {output_dir}"
    else:
        kept = "It ended before it started training; nothing was saved"
    return f"{how}. {kept}. The window is fine: you can start the next run. Its last lines are in the details."


def saved_model_files(output_dir: str, config: TrainConfig) -> list[str]:
    """The model files a run left in ``output_dir`` (final model, checkpoints)."""
    if not output_dir:
        return []
    names = (config.final_model_name, config.checkpoint_name, LAST_CHECKPOINT_NAME)
    return [name for name in dict.fromkeys(names) if (Path(output_dir) / name).is_file()]


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except OSError as exc:
        logger.warning("Could not signal training process %d: %s", pid, exc)


def _kill_group(child: subprocess.Popen) -> None:
    """SIGKILL the process and everything it started (its own process group)."""
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except (OSError, AttributeError):
        child.kill()
    child.wait()


def die_with_supervisor() -> None:
    """In a training process the window started: end when the window's process ends.

    The kernel sends SIGTERM (a stop at the next batch, writing the outputs) when
    the supervisor dies, even by kill -9; a supervisor already gone is seen by the
    parent no longer being it, and the process stops before training. Linux only."""
    expected = os.environ.pop(SUPERVISOR_PID_VAR, "")  # not for the processes it starts
    if not expected.isdigit() or not sys.platform.startswith("linux"):
        return
    set_parent_death_signal(signal.SIGTERM)
    if os.getppid() != int(expected):
        raise TrainingError(f"The window (process {expected}) that started this training process is gone; "
                            "this process stops before training.")
