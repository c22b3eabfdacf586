"""The export formats and the names their files get: torch-free, so the window's
Export dialog and the CLI name files without loading the exporter."""

from __future__ import annotations

import os
from pathlib import Path

FORMATS: tuple[str, ...] = ("onnx", "torchscript")
SUFFIXES = {"onnx": ".onnx", "torchscript": ".torchscript.pt"}


def default_output(model_file: str | os.PathLike[str], format: str) -> Path:
    """final_model.pt → final_model.onnx / final_model.torchscript.pt, beside it."""
    source = Path(model_file).expanduser()
    return source.with_name(source.stem + SUFFIXES[format])


def sidecar_path(target: str | os.PathLike[str]) -> Path:
    """``<export>.json``: the metadata beside the export, for tools that cannot read the file's own."""
    path = Path(target).expanduser()
    return path.with_name(path.name + ".json")
