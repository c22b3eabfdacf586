"""The export's file names for the CLI's ``export`` and the window's Export dialog.

``core.inference.export`` owns the formats, their suffixes and the default file
beside the model; this module hands them out, so the dialog keeps no table of
its own. Importing this module loads no torch (the window imports it at
start-up); the first call that needs the core's names imports
``core.inference.export``, and with it torch. In the window that is when the
dialog is given a model file, normally after the start-up warm-up loaded torch
(then some 30 ms; before it, the call waits for the warm-up's import). Both
clients check the same two files before an export: the export and its
``.json`` sidecar.
"""

from __future__ import annotations

import os
from pathlib import Path


def export_formats() -> tuple[str, ...]:
    """The formats ``export_model`` writes, in the order the clients offer them."""
    from mlcls_gui.core.inference.export import FORMATS

    return tuple(FORMATS)


def export_target(model_file: str | os.PathLike[str], format: str,
                  out: str | os.PathLike[str] | None = None) -> Path:
    """Where the export of ``model_file`` goes: ``out``, or the core's default beside the model."""
    if out:
        return Path(out).expanduser()
    from mlcls_gui.core.inference.export import default_output

    return default_output(model_file, format)


def default_output(model_file: str, format: str) -> str:
    """The dialog's suggestion: final_model.pt → final_model.onnx (or .torchscript.pt)
    beside it, as ``export_model`` would name it; "" while no model file is chosen."""
    if not model_file.strip():
        return ""
    return str(export_target(model_file.strip(), format))


def written_files(target: str | os.PathLike[str]) -> tuple[Path, Path]:
    """The export and its ``.json`` sidecar (``<file>.json``, as ``export_model``
    writes it): either may replace a file of a run, so both are checked."""
    path = Path(target).expanduser()
    return path, path.with_name(path.name + ".json")
