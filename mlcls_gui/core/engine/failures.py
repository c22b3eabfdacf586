"""Faults of the environment that the user can fix, as messages that say how."""

from __future__ import annotations

import torch

from ..config import TrainConfig
from ..errors import ConfigError, MlclsError, TrainingError
from ..launch import TIMEOUT_VAR, collective_timeout_s


def as_user_error(exc: BaseException, cfg: TrainConfig, *, distributed: bool = False) -> MlclsError | None:
    text = str(exc)
    if isinstance(exc, torch.cuda.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and "out of memory" in text.lower()
    ):
        return TrainingError(
            f"Out of memory on {cfg.device} with batch size {cfg.batch_size} and image size "
            f"{cfg.image_size}. Lower batch_size (e.g. {max(1, cfg.batch_size // 2)}) or "
            "image_size, or choose another device; the best checkpoint so far is kept."
        )
    if isinstance(exc, OSError) and exc.errno == 28:
        return TrainingError(
            f"The disk is full ({getattr(exc, 'filename', '') or cfg.save_model_folder}). "
            "Free some space or choose another output folder; the files already written are kept."
        )
    if distributed and isinstance(exc, RuntimeError) and _lost_a_process(text):
        return TrainingError(
            "Another training process stopped answering (it died or its machine is gone), so "
            f"this one stops too ({text.splitlines()[0][:160]}). The launcher's output names the "
            f"process that failed; the best checkpoint so far is kept.{_timeout_hint(text)}"
        )
    return None


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
