"""Start a training command as several processes through torchrun's engine.

``mlcls-gui train CONFIG --set processes=N`` re-runs itself as N processes
with ``torch.distributed.run`` (what the ``torchrun`` command runs), on this
machine, with a free rendezvous port. Each process then finds itself under a
launcher (``WORLD_SIZE`` > 1) and trains as one rank of a DDP run.

The launcher refuses what cannot work before it starts anything (more
processes than cores or GPUs, a bad collective timeout), the processes end
when their launcher ends, even by kill -9 (Linux), and the launcher's own
folder of a killed launcher is removed at the next launch.
"""

from __future__ import annotations

import ctypes
import logging
import math
import os
import re
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any, Sequence

from mlcls_gui.core.errors import ConfigError, TrainingError, field_ref

logger = logging.getLogger(__name__)

# The launcher's pid, for its processes: their parent must still be it.
LAUNCHER_PID_VAR = "MLCLS_LAUNCHER_PID"
# A collective that waits longer than this means another process is gone.
TIMEOUT_VAR = "MLCLS_COLLECTIVE_TIMEOUT_S"
DEFAULT_COLLECTIVE_TIMEOUT_S = 60.0
MAX_COLLECTIVE_TIMEOUT_S = 86_400.0
# mlcls-torchrun-<launcher pid>-<random>: the pid tells a leftover from a live run's.
LOG_DIR_PREFIX = "mlcls-torchrun-"
_LOG_DIR_NAME = re.compile(re.escape(LOG_DIR_PREFIX) + r"([1-9][0-9]*)-[a-z0-9_]+")
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

# What a signal that ended a process usually means, for the message.
_SIGNAL_MEANING = {
    "SIGKILL": "killed from outside or by the system (out of memory?)",
    "SIGSEGV": "crashed (segmentation fault)",
    "SIGBUS": "crashed (bus error)",
    "SIGABRT": "aborted",
    "SIGFPE": "crashed (arithmetic error)",
    "SIGILL": "crashed (illegal instruction)",
    "SIGTERM": "terminated",
    "SIGINT": "interrupted",
    "SIGHUP": "hung up",
}


def under_launcher() -> bool:
    """True inside a process that torchrun (or srun with torch's env vars) started."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def process_rank() -> int:
    return int(os.environ.get("RANK", "0"))


def collective_timeout_s() -> float:
    """``MLCLS_COLLECTIVE_TIMEOUT_S``, checked: how long a process waits for the others."""
    text = os.environ.get(TIMEOUT_VAR, "").strip()
    if not text:
        return DEFAULT_COLLECTIVE_TIMEOUT_S
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (0 < value <= MAX_COLLECTIVE_TIMEOUT_S):  # also refuses nan and inf
        raise ConfigError(
            f"{TIMEOUT_VAR}={text!r} is not accepted: set it to a positive number of seconds, at most "
            f"{MAX_COLLECTIVE_TIMEOUT_S:g} (e.g. 120), or unset it for {DEFAULT_COLLECTIVE_TIMEOUT_S:g}."
        )
    return value


def check_process_count(processes: int, device: str | None) -> None:
    """Refuse more processes than ``device`` can take here (one per core, or per GPU):
    64 processes on 2 cores run the machine out of memory."""
    if processes <= 1:
        return
    from mlcls_gui.core.devices import process_limit  # torch: only once a launch is asked for

    limit, what = process_limit(device)
    if processes > limit:
        raise ConfigError(
            f"{field_ref('processes', processes)} is more than {what}: set {field_ref('processes', limit)} "
            "or fewer."
        )


def launch_processes(processes: int, argv: Sequence[str], device: str | None = None) -> None:
    """Run ``python -m mlcls_gui *argv`` as ``processes`` ranks on this machine;
    raise TrainingError naming the process that failed.

    ``device`` (the run's setting) bounds the count by the cores or the GPUs;
    without it, by the larger of the two."""
    check_process_count(processes, device)
    collective_timeout_s()  # every process reads it; refuse a bad one before any starts
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    from mlcls_gui.core.devices import cpu_cores

    remove_stale_log_dirs()
    # The launcher's own files (error records) go to a folder removed afterwards;
    # by default it leaves a torchelastic_* folder in /tmp for every run.
    log_dir = tempfile.mkdtemp(prefix=f"{LOG_DIR_PREFIX}{os.getpid()}-")
    launcher_args = get_args_parser().parse_args([
        "--standalone", f"--nproc-per-node={processes}", "--max-restarts=0", f"--log-dir={log_dir}",
        "-m", "mlcls_gui", *argv,
    ])
    logger.info("Starting %d training processes (torch.distributed.run)", processes)
    # torchrun would set 1 thread per process, with a warning on every run; share the
    # cores instead (a user's own OMP_NUM_THREADS is kept).
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, cpu_cores() // processes)))
    os.environ[LAUNCHER_PID_VAR] = str(os.getpid())
    try:
        run(launcher_args)
    except SignalException as exc:
        # The launcher passed the signal on; each process stopped at a batch and
        # the main one wrote the outputs (it says so above), as after Ctrl-C.
        logger.info("Training processes stopped by signal %s", exc.sigval)
    except ChildFailedError as exc:
        raise TrainingError(failure_message(exc.failures, processes)) from None
    finally:
        os.environ.pop(LAUNCHER_PID_VAR, None)
        shutil.rmtree(log_dir, ignore_errors=True)


def failure_message(failures: dict[int, Any], processes: int) -> str:
    """One line naming the process that failed first, how, and what is kept."""
    first = _first_causes(failures)
    rank, failure = first[0]
    if len(first) == 1:
        who = f"Training process {rank} of {processes} failed ({_how(failure.exitcode)}){_meaning(failure.exitcode)}"
    else:
        codes = {f.exitcode for _, f in first}
        named = [f"{r}" if len(codes) == 1 else f"{r} ({_how(f.exitcode)})" for r, f in first]
        how = f" ({_how(failure.exitcode)})" if len(codes) == 1 else ""
        who = (f"Training processes {', '.join(named[:-1])} and {named[-1]} of {processes} failed{how} at "
               "the same moment (the launcher's records do not tell which was first)")
        who += _meaning(failure.exitcode) if len(codes) == 1 else ""
    return f"{who}; the others were stopped. Their messages are above; the best checkpoint so far is kept."


def exit_description(exitcode: int | None) -> str:
    """"exit code 1", or "signal 9: SIGKILL, killed from outside or by the system (out of memory?)"."""
    return "no exit status" if exitcode is None else _how(exitcode) + _meaning(exitcode)


def _how(exitcode: int) -> str:
    return f"exit code {exitcode}" if exitcode >= 0 else f"signal {-exitcode}"


def _meaning(exitcode: int) -> str:
    """": SIGKILL, killed from outside…" for a signal; nothing for an exit code."""
    try:
        name = signal.Signals(-exitcode).name if exitcode < 0 else ""
    except ValueError:
        return ""
    return f": {name}, {_SIGNAL_MEANING.get(name, 'a signal')}" if name else ""


def _first_causes(failures: dict[int, Any]) -> list[tuple[int, Any]]:
    """The process(es) that failed first, as (rank, failure).

    The agent records, in this order, the processes it found ended, then those
    it had to stop (SIGTERM, SIGKILL after a 30 s grace) — each with the second
    it saw them end. So: the earliest second; within it, a signal other than
    SIGTERM (kill -9, a crash) before an exit code (the others lose their
    connection to a dead process and fail too) before SIGTERM (the agent's own).
    All equal on these come back together, in the records' order: nothing
    recorded tells them apart."""
    def when_and_how(failure: Any) -> tuple[int, int]:
        code = failure.exitcode
        return failure.timestamp, 2 if code == -signal.SIGTERM else 0 if code < 0 else 1

    earliest = min(when_and_how(failure) for failure in failures.values())
    return [(rank, failure) for rank, failure in failures.items() if when_and_how(failure) == earliest]


# ----------------------------------------------------------- launcher's death
def exit_with_launcher() -> None:
    """In a process this app's launcher started: end when the launcher ends.

    The kernel sends SIGTERM (a stop at the next batch, with outputs) when the
    launcher dies, even by kill -9; a launcher already gone before that was set
    is seen by the parent no longer being it, and the process stops here.
    Linux only; elsewhere, and under the user's own torchrun, nothing changes."""
    expected = os.environ.get(LAUNCHER_PID_VAR, "")
    if not expected.isdigit() or not sys.platform.startswith("linux"):
        return
    set_parent_death_signal(signal.SIGTERM)
    if os.getppid() != int(expected):
        raise TrainingError(
            f"The launcher (process {expected}) that started this training process is gone; "
            "this process stops before training."
        )


def set_parent_death_signal(signum: int) -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    except (OSError, AttributeError) as exc:
        logger.warning("This process may outlive its launcher (prctl failed: %s)", exc)


# ------------------------------------------------- leftovers of a killed launcher
def remove_stale_log_dirs(folder: str | Path | None = None) -> list[Path]:
    """Remove the launcher folders (``mlcls-torchrun-<pid>-*``, this user's) whose
    launcher is no longer alive: a launcher killed by -9 never removed its own."""
    removed = []
    try:
        entries = list(os.scandir(folder or tempfile.gettempdir()))
    except OSError:
        return removed
    for entry in entries:
        match = _LOG_DIR_NAME.fullmatch(entry.name)
        if not match or not _is_own_folder(entry) or process_alive(int(match.group(1))):
            continue
        shutil.rmtree(entry.path, ignore_errors=True)
        logger.info("Removed the folder of a launcher that is gone: %s", entry.path)
        removed.append(Path(entry.path))
    return removed


def _is_own_folder(entry: os.DirEntry) -> bool:
    """A real folder (not a symlink) of this user."""
    try:
        if not entry.is_dir(follow_symlinks=False):
            return False
        return not hasattr(os, "getuid") or entry.stat(follow_symlinks=False).st_uid == os.getuid()
    except OSError:
        return False


def process_alive(pid: int) -> bool:
    """True for a process that exists (a zombie, dead but not yet reaped, is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, another user's
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"
