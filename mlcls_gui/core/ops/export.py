"""The export's file names for the CLI's ``export`` and the window's Export dialog.

``core.inference.export_names`` owns the formats, their suffixes, the default
file beside the model and the sidecar's name (torch-free: the dialog names
files without loading the exporter); this module hands them out, so the dialog
keeps no table of its own. Both clients check the same two files before an
export: the export and its ``.json`` sidecar.
"""

from __future__ import annotations

import os
from pathlib import Path

from mlcls_gui.core.inference import export_names


def export_formats() -> tuple[str, ...]:
    """The formats ``export_model`` writes, in the order the clients offer them."""
    return tuple(export_names.FORMATS)


def export_target(model_file: str | os.PathLike[str], format: str,
                  out: str | os.PathLike[str] | None = None) -> Path:
    """Where the export of ``model_file`` goes: ``out``, or the default beside the model."""
    if out:
        return Path(out).expanduser()
    return export_names.default_output(model_file, format)


def default_output(model_file: str, format: str) -> str:
    """The dialog's suggestion: final_model.pt → final_model.onnx (or .torchscript.pt)
    beside it, as ``export_model`` would name it; "" while no model file is chosen."""
    if not model_file.strip():
        return ""
    return str(export_target(model_file.strip(), format))


def written_files(target: str | os.PathLike[str]) -> tuple[Path, Path]:
    """The export and its ``.json`` sidecar: either may replace a file of a run, so both are checked."""
    path = Path(target).expanduser()
    return path, export_names.sidecar_path(path)
