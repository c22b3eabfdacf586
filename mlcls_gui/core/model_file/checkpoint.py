"""Checkpoint and model files on disk: atomic writes, safe loads, a format version.

Only tensors and plain Python values go inside, so every load uses
``weights_only=True`` and a file from a stranger cannot run code. This module
knows the file around the contents (its format and version); what the contents
hold, and the rule each field obeys, is ``contents.ModelFile``, and
``contents.read_model_file`` is the one way to read a file. Files get the
umask's mode, like the run's other outputs.
"""

from __future__ import annotations

import errno
import os
import pickle
import stat
from pathlib import Path
from typing import Any, NoReturn

import torch

from mlcls_gui.core.errors import CheckpointError
from mlcls_gui.core.files.atomic_files import write_atomic, write_failure_advice
from mlcls_gui.core.model_file.read_errors import refuse_torchscript_export

FILE_FORMAT = "mlcls-gui"
FORMAT_VERSION = 1
# Linux limits, for the message only: the OS decides what is too long.
NAME_MAX = 255
PATH_MAX = 4096
# Longer paths are shown shortened in the middle, to keep a message readable.
_SHOWN_PATH = 500


def save_atomic(payload: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write ``payload`` (a ModelFile's ``to_payload()``) to a temporary file
    beside ``path``, fsync, then rename over it.

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


def load_stored(source: Path) -> dict[str, Any]:
    """The stored contents of a checkpoint or final model, without the format
    fields; CheckpointError when the file cannot be read, runs code, or is not
    an mlcls-gui file of a version this app reads. Its fields are not checked
    here: ``contents.read_model_file`` does that."""
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
    _check_format(payload, source)
    return {key: value for key, value in payload.items() if key not in ("format", "format_version")}


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


def _check_format(payload: Any, source: Path) -> None:
    if not isinstance(payload, dict) or payload.get("format") != FILE_FORMAT:
        _refuse(f"{_show(source)} is not an mlcls-gui model or checkpoint file.")
    version = payload.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        _refuse(f"{_show(source)} has no valid format_version ({version!r:.40}); it is damaged.")
    if version > FORMAT_VERSION:
        _refuse(
            f"{_show(source)} was written by a newer mlcls-gui (format {version}); update the app."
        )


def refusal(source: Path, problem: str) -> CheckpointError:
    """The error for a file whose contents break a rule: "<file> <problem>", one line."""
    return _one_line(f"{_show(source)} {problem}")


def unreadable(source: Path, exc: Exception) -> CheckpointError:
    """The error for a failure no rule foresaw while reading ``source``."""
    return _one_line(
        f"{_show(source)} is not a readable mlcls-gui model file ({type(exc).__name__}: {str(exc)[:120]}). "
        "Choose final_model.pt or a checkpoint written by mlcls-gui."
    )


def _permission_denied(source: Path) -> str:
    return (
        f"Cannot read {_show(source)}: permission denied. Ask its owner to make it readable "
        "(e.g. chmod a+r) or copy it to a folder of yours."
    )


def _show(source: Path) -> str:
    """The path for a message: long ones shortened in the middle."""
    text = str(source)
    return text if len(text) <= _SHOWN_PATH else f"{text[:100]}…{text[-100:]}"


def _one_line(message: str) -> CheckpointError:
    # One line whatever the file name or field value holds.
    return CheckpointError(" ".join(message.splitlines()))


def _refuse(message: str) -> NoReturn:
    # ``from None`` keeps the low-level exception out of the traceback, as the message replaces it.
    raise _one_line(message) from None
