"""Checkpoint and model files: atomic writes, safe loads, a format version.

Only tensors and plain Python values go inside, so every load uses
``weights_only=True`` and a file from a stranger cannot run code.
"""

from __future__ import annotations

import logging
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import torch

from .errors import CheckpointError

logger = logging.getLogger(__name__)

FILE_FORMAT = "mlcls-gui"
FORMAT_VERSION = 1
REQUIRED_KEYS = ("arch", "labels", "image_size", "mean", "std", "model_state")


def save_atomic(payload: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write to a temporary file beside ``path``, fsync, then rename over it.

    A crash or a full disk leaves the previous file intact."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save({"format": FILE_FORMAT, "format_version": FORMAT_VERSION, **payload}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException as exc:
        try:
            os.unlink(tmp_name)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise CheckpointError(
                f"Could not write {target} ({exc.strerror or exc}). Free disk space or choose "
                "another output folder; the previous file is unchanged."
            ) from None
        raise


def load_model_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a checkpoint or final model safely; raise CheckpointError if unusable."""
    source = Path(path).expanduser()
    if not source.exists():
        raise CheckpointError(f"Model file {source} does not exist.")
    if not source.is_file():
        raise CheckpointError(f"{source} is not a file: choose a .pt model or checkpoint file.")
    try:
        payload = torch.load(source, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(
            f"{source} contains code or objects that are not plain weights, so it was not "
            "loaded (this protects you from files that run code). Use a model file written "
            "by mlcls-gui."
        ) from None
    except Exception as exc:  # noqa: BLE001 - torch.load fails in many ways on damaged files
        raise CheckpointError(
            f"{source} is not a readable model file (truncated or damaged: {str(exc)[:120]})."
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FILE_FORMAT:
        raise CheckpointError(f"{source} is not an mlcls-gui model or checkpoint file.")
    version = payload.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{source} was written by a newer mlcls-gui (format {version}); update the app."
        )
    missing = [key for key in REQUIRED_KEYS if key not in payload]
    if missing:
        raise CheckpointError(f"{source} lacks {', '.join(missing)}; it is incomplete.")
    return payload
