"""Checkpoint and model files: atomic writes, safe loads, a format version.

Only tensors and plain Python values go inside, so every load uses
``weights_only=True`` and a file from a stranger cannot run code; every field
is then checked (``model_file_rules``) so an edited file cannot do harm later.
Files get the umask's mode, like the run's other outputs.
"""

from __future__ import annotations

import errno
import logging
import os
import pickle
import stat
from pathlib import Path
from typing import Any, NoReturn

import torch

from mlcls_gui.core.errors import CheckpointError
from mlcls_gui.core.files.atomic_files import write_atomic, write_failure_advice
from mlcls_gui.core.model_file.read_errors import refuse_torchscript_export
from mlcls_gui.core.model_file.rules import FieldProblem, check_model_payload

logger = logging.getLogger(__name__)

FILE_FORMAT = "mlcls-gui"
FORMAT_VERSION = 1
REQUIRED_KEYS = ("arch", "labels", "image_size", "mean", "std", "model_state")
# Linux limits, for the message only: the OS decides what is too long.
NAME_MAX = 255
PATH_MAX = 4096
# Longer paths are shown shortened in the middle, to keep a message readable.
_SHOWN_PATH = 500


def save_atomic(payload: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write to a temporary file beside ``path``, fsync, then rename over it.

    A crash or a full disk leaves the previous file intact. The file gets the
    umask's mode like every other output (mkstemp's 0600 would keep other
    users from loading the model)."""
    target = Path(path)
    content = {"format": FILE_FORMAT, "format_version": FORMAT_VERSION, **payload}
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        write_atomic(target, lambda handle: torch.save(content, handle), binary=True)
    except OSError as exc:
        raise CheckpointError(
            f"Could not write {target} ({exc.strerror or exc}): {write_failure_advice(exc)}. "
            "The previous file is unchanged."
        ) from None


def load_model_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a checkpoint or final model safely; raise CheckpointError if unusable.

    Besides running no code (``weights_only``), every field must obey the
    rules in ``model_file_rules`` — the same as a config's — so an edited
    file is refused here, in one line, for every caller."""
    source = Path(path).expanduser()
    _check_readable_file(source)
    refuse_torchscript_export(source)  # else torch.load calls it "truncated or damaged"
    try:
        payload = torch.load(source, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        _refuse(
            f"{_show(source)} contains code or objects that are not plain weights, so it was not "
            "loaded (this protects you from files that run code). Use a model file written "
            "by mlcls-gui."
        )
    except PermissionError:
        _refuse(_permission_denied(source))
    except Exception as exc:  # noqa: BLE001 - torch.load fails in many ways on damaged files
        _refuse(
            f"{_show(source)} is not a readable model file (truncated or damaged: {str(exc)[:120]})."
        )
    _check_payload(payload, source)
    return payload


def _check_readable_file(source: Path) -> None:
    """One stat instead of exists()/is_file(): those raise on a name too long
    (ENAMETOOLONG) or a folder we may not enter, with a traceback."""
    try:
        mode = source.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        _refuse(f"Model file {_show(source)} does not exist.")
    except PermissionError:
        _refuse(_permission_denied(source))
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            _refuse(
                f"Cannot read model file {_show(source)} (path too long: at most {NAME_MAX} "
                f"characters per name and {PATH_MAX} in all); move or rename the file."
            )
        _refuse(f"Cannot read model file {_show(source)} ({exc.strerror or exc}).")
    except ValueError:  # e.g. an embedded NUL character
        _refuse(f"{_show(source)} is not a valid file path.")
    if not stat.S_ISREG(mode):
        _refuse(f"{_show(source)} is not a file: choose a .pt model or checkpoint file.")


def _check_payload(payload: Any, source: Path) -> None:
    if not isinstance(payload, dict) or payload.get("format") != FILE_FORMAT:
        _refuse(f"{_show(source)} is not an mlcls-gui model or checkpoint file.")
    version = payload.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        _refuse(f"{_show(source)} has no valid format_version ({version!r:.40}); it is damaged.")
    if version > FORMAT_VERSION:
        _refuse(
            f"{_show(source)} was written by a newer mlcls-gui (format {version}); update the app."
        )
    missing = [key for key in REQUIRED_KEYS if key not in payload]
    if missing:
        _refuse(f"{_show(source)} lacks {', '.join(missing)}; it is incomplete.")
    try:
        check_model_payload(payload)
    except FieldProblem as exc:
        _refuse(f"{_show(source)} is not a usable model file: {exc}")


def _permission_denied(source: Path) -> str:
    return (
        f"Cannot read {_show(source)}: permission denied. Ask its owner to make it readable "
        "(e.g. chmod a+r) or copy it to a folder of yours."
    )


def _show(source: Path) -> str:
    """The path for a message: long ones shortened in the middle."""
    text = str(source)
    return text if len(text) <= _SHOWN_PATH else f"{text[:100]}…{text[-100:]}"


def _refuse(message: str) -> NoReturn:
    # One line whatever the file name or field value holds; ``from None`` keeps
    # the low-level exception out of the traceback, as the message replaces it.
    raise CheckpointError(" ".join(message.splitlines())) from None
