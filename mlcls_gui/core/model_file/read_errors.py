"""What reading a model file the user chose may meet before torch.load.

A TorchScript export (``export --format torchscript``) is a valid file that
``torch.load`` refuses in words that read like damage; ``refuse_torchscript_export``
names it for what it is. Every other failure of a read becomes a CheckpointError
that names the file in ``contents.read_model_file`` itself. Nothing here imports
torch: the window imports this module at start-up."""

from __future__ import annotations

import os
import zipfile

from mlcls_gui.core.errors import CheckpointError


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
