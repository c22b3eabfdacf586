"""Start a training command as several processes through torchrun's engine.

``mlcls-gui train CONFIG --set processes=N`` re-runs itself as N processes
with ``torch.distributed.run`` (what the ``torchrun`` command runs), on this
machine, with a free rendezvous port. Each process then finds itself under a
launcher (``WORLD_SIZE`` > 1) and trains as one rank of a DDP run.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from typing import Any, Sequence

from .errors import TrainingError

logger = logging.getLogger(__name__)


def under_launcher() -> bool:
    """True inside a process that torchrun (or srun with torch's env vars) started."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def process_rank() -> int:
    return int(os.environ.get("RANK", "0"))


def launch_processes(processes: int, argv: Sequence[str]) -> None:
    """Run ``python -m mlcls_gui *argv`` as ``processes`` ranks on this machine;
    raise TrainingError naming the process that failed."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    # The launcher's own files (error records) go to a folder removed afterwards;
    # by default it leaves a torchelastic_* folder in /tmp for every run.
    log_dir = tempfile.mkdtemp(prefix="mlcls-torchrun-")
    launcher_args = get_args_parser().parse_args([
        "--standalone", f"--nproc-per-node={processes}", "--max-restarts=0", f"--log-dir={log_dir}",
        "-m", "mlcls_gui", *argv,
    ])
    logger.info("Starting %d training processes (torch.distributed.run)", processes)
    # torchrun would set 1 thread per process, with a warning on every run; share the
    # cores instead (a user's own OMP_NUM_THREADS is kept).
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // processes)))
    try:
        run(launcher_args)
    except SignalException as exc:
        # The launcher passed the signal on; each process stopped at a batch and
        # the main one wrote the outputs (it says so above), as after Ctrl-C.
        logger.info("Training processes stopped by signal %s", exc.sigval)
    except ChildFailedError as exc:
        rank, failure = _first_cause(exc.failures)
        how = f"signal {-failure.exitcode}" if failure.exitcode < 0 else f"exit code {failure.exitcode}"
        raise TrainingError(
            f"Training process {rank} of {processes} failed ({how}); the others were stopped. "
            "Its messages are above; the best checkpoint so far is kept."
        ) from None
    finally:
        shutil.rmtree(log_dir, ignore_errors=True)


def _first_cause(failures: dict) -> tuple[int, Any]:
    """The process that failed first: one killed by a signal (the others then lose
    their connection to it and fail too), else the earliest to fail."""
    return min(failures.items(), key=lambda item: (item[1].exitcode >= 0, item[1].timestamp, item[0]))
