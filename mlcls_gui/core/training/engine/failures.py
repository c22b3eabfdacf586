"""Faults of the environment that the user can fix, as messages that say how."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import torch

from mlcls_gui.core.config import TrainConfig
from mlcls_gui.core.errors import ConfigError, MlclsError, TrainingError, field_ref
from mlcls_gui.core.files.atomic_files import is_write_failure, write_failure_advice, written_name
from mlcls_gui.core.training.launch import TIMEOUT_VAR, collective_timeout_s


def as_user_error(exc: BaseException, cfg: TrainConfig, *, distributed: bool = False,
                  output_dir: Path | None = None) -> MlclsError | None:
    text = str(exc)
    folder = Path(output_dir or cfg.save_model_folder).expanduser()
    if isinstance(exc, torch.cuda.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and "out of memory" in text.lower()
    ):
        return TrainingError(
            f"Out of memory on {cfg.device} with batch size {cfg.batch_size} and image size "
            f"{cfg.image_size}. Lower {field_ref('batch_size')} (e.g. {max(1, cfg.batch_size // 2)}) or "
            f"{field_ref('image_size')}, or choose another {field_ref('device')}; the best checkpoint "
            "so far is kept."
        )
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return TrainingError(
            f"The disk is full ({getattr(exc, 'filename', '') or cfg.save_model_folder}). "
            "Free some space or choose another output folder; the files already written are kept."
        )
    if is_write_failure(exc) and _is_inside_lexically(exc.filename, folder):
        # The folder turned read-only, vanished or lost its disk mid-run.
        return TrainingError(
            f"Could not write {written_name(os.fsdecode(exc.filename))} in the output folder {folder} "
            f"({exc.strerror}): {write_failure_advice(exc)}. Training stopped; the files already "
            "written there are kept, and a run can resume from its last checkpoint."
        )
    if distributed and isinstance(exc, RuntimeError) and _lost_a_process(text):
        return TrainingError(
            "Another training process stopped answering (it died or its machine is gone), so "
            f"this one stops too ({text.splitlines()[0][:160]}). The launcher's output names the "
            f"process that failed; the best checkpoint so far is kept.{_timeout_hint(text)}"
        )
    return None


def _is_inside_lexically(filename: str | bytes | None, folder: Path) -> bool:
    """Whether a failed call's file is the folder or in it; lexical, since the folder may be gone."""
    if not filename:
        return False
    path = Path(os.fsdecode(filename))
    return any(path == root or root in path.parents for root in (folder, folder.resolve()))


def _timeout_hint(text: str) -> str:
    """A wait that timed out may be a slow step, not a lost process: say what to raise."""
    if "timed out" not in text.lower() and "timeout" not in text.lower():
        return ""
    try:
        seconds = collective_timeout_s()
    except ConfigError:  # refused at setup already; no hint from a bad value
        return ""
    return f" If one step can take longer than {seconds:g} s, raise {TIMEOUT_VAR}."


def _lost_a_process(text: str) -> bool:
    lowered = text.lower()
    return any(sign in lowered for sign in (
        "connection reset by peer", "connection closed by peer", "timed out", "broken pipe",
        "nccl communicator was aborted", "socket timeout",
    ))
