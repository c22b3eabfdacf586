"""One message for every way reading a model file can fail.

``core.model_file.checkpoint.load_model_file`` turns the usual failures into a
CheckpointError, but ``torch.load`` on some garbage (e.g. a short text file)
raises other errors (IndexError: pop from empty list). Code that reads a
model file the user chose wraps the read in ``model_file_errors`` so those,
too, become a CheckpointError that names the file.

A TorchScript export (``export --format torchscript``) is a valid file that
``torch.load`` refuses in words that read like damage; ``refuse_torchscript_export``
names it for what it is. Nothing here imports torch: the window imports this module
at start-up."""

from __future__ import annotations

import contextlib
import logging
import os
import traceback
import zipfile
from typing import Iterator

from mlcls_gui.core.errors import CheckpointError, MlclsError

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def model_file_errors(model_path: str) -> Iterator[None]:
    """Re-raise an unforeseen error from inside ``load_model_file`` as a
    CheckpointError that says which file is not a model; anything else passes."""
    try:
        yield
    except MlclsError:
        raise
    except Exception as exc:
        frames = {frame.name for frame in traceback.extract_tb(exc.__traceback__)}
        if "load_model_file" not in frames:
            raise
        raise CheckpointError(
            f"{model_path} is not a readable mlcls-gui model file ({type(exc).__name__}: "
            f"{str(exc)[:120]}). Choose final_model.pt or a checkpoint written by mlcls-gui."
        ) from exc


def is_torchscript_archive(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a ``torch.jit.save`` archive: a zip whose one top
    folder holds ``constants.pkl`` or ``code/`` (``torch.save`` files have neither)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (OSError, ValueError, zipfile.BadZipFile):  # not a zip, or not readable: not ours to judge
        return False
    inner = {name.split("/", 1)[1] for name in names if "/" in name}
    return "constants.pkl" in inner or any(name.startswith("code/") for name in inner)


def refuse_torchscript_export(path: str | os.PathLike[str]) -> None:
    """Raise CheckpointError when ``path`` is a TorchScript export, which only
    ``torch.jit.load`` can read (it runs code, so mlcls-gui never loads it)."""
    if is_torchscript_archive(path):
        raise CheckpointError(
            f"{path} is a TorchScript export, which cannot be read here (it is meant for use "
            "outside mlcls-gui); give the .pt model file it was exported from, or its .onnx export."
        )
