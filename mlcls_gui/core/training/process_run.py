"""A multi-process training run as a child process the training thread supervises.

With ``processes`` > 1 the run is ``python -m mlcls_gui train CONFIG --events
FILE``, which starts its processes through torch.distributed.run. This module
(no Qt) follows the event file and turns the window's Stop and Save-checkpoint
requests into signals to the run's main process (SIGTERM, SIGUSR1), which every
process then acts on at the same batch.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from mlcls_gui.core.config import TrainConfig
from mlcls_gui.core.training.engine import RunControl
from mlcls_gui.core.training.event_stream import EventReader
from mlcls_gui.core.training.events import Event, FinishReason, RunFinished

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.1


@dataclass
class ProcessOutcome:
    reason: FinishReason
    summary: dict
    message: str = ""
    details: str = ""


def run_processes(
    config: TrainConfig, control: RunControl, on_event: Callable[[Event], None], *, resume_from: str = "",
) -> ProcessOutcome:
    """Run ``config`` as a child process until it ends; forward its events as they come."""
    work = Path(tempfile.mkdtemp(prefix="mlcls-run-"))
    try:
        config_path, events_path, output_path = work / "config.json", work / "events.jsonl", work / "output.txt"
        config.save_json(config_path)
        command = [sys.executable, "-m", "mlcls_gui", "train", str(config_path), "--quiet",
                   "--events", str(events_path)]
        if resume_from:
            command += ["--resume", resume_from]
        with open(output_path, "w", encoding="utf-8") as output:
            # Its own session: a signal meant for the window never reaches the run.
            child = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
            finished = _follow(child, EventReader(events_path), control, on_event)
        text = output_path.read_text(encoding="utf-8", errors="replace")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if finished is not None and finished.reason is not FinishReason.FAILED:
        return ProcessOutcome(finished.reason, dict(finished.summary))
    lines = [line for line in text.splitlines() if line.strip()]
    message = finished.message if finished is not None else _failure_line(lines, child.returncode)
    return ProcessOutcome(FinishReason.FAILED, dict(finished.summary) if finished else {}, message,
                          finished.details if finished and finished.details else "\n".join(lines[-60:]))


def _follow(child: subprocess.Popen, reader: EventReader, control: RunControl,
            on_event: Callable[[Event], None]) -> RunFinished | None:
    finished: RunFinished | None = None
    stop_sent = False
    while True:
        for event in reader.read_new():
            on_event(event)
            if isinstance(event, RunFinished):
                finished = event
        if child.poll() is not None:
            break
        target = reader.main_pid or child.pid
        if control.stop_requested and not stop_sent:
            _signal(target, signal.SIGTERM)
            stop_sent = True
        if control.take_checkpoint_request() and reader.main_pid:
            _signal(reader.main_pid, getattr(signal, "SIGUSR1", signal.SIGTERM))
        time.sleep(POLL_SECONDS)
    for event in reader.read_new():  # what it wrote just before it ended
        on_event(event)
        if isinstance(event, RunFinished):
            finished = event
    return finished


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except OSError as exc:
        logger.warning("Could not signal training process %d: %s", pid, exc)


def _failure_line(lines: list[str], returncode: int | None) -> str:
    for line in reversed(lines):
        if line.startswith("mlcls-gui: error:"):
            return line.removeprefix("mlcls-gui: error:").strip()
    return f"The training processes ended without a result (exit code {returncode}); see the details."
