"""core.ops.export: the export's file names for the CLI and the Export dialog come
from core.inference.export, and the ops modules the window imports load no torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import tiny_config

from mlcls_gui.cli import build_parser
from mlcls_gui.core.inference import export
from mlcls_gui.core.ops.export import default_output, export_formats, export_target, written_files


def test_the_names_are_the_cores() -> None:
    assert export_formats() == export.FORMATS
    for format in export.FORMATS:
        assert default_output("/m/final_model.pt", format) == str(export.default_output("/m/final_model.pt", format))
        assert export_target("/m/final_model.pt", format) == export.default_output("/m/final_model.pt", format)
        assert export_target("/m/final_model.pt", format, "~/x.onnx") == Path("~/x.onnx").expanduser()
    assert default_output("  ", "onnx") == ""


def test_the_cli_offers_the_cores_formats() -> None:
    parser = build_parser()
    commands = next(action for action in parser._actions if action.dest == "command")
    choices = next(action.choices for action in commands.choices["export"]._actions if action.dest == "format")
    assert tuple(choices) == export.FORMATS


def test_the_sidecar_checked_is_the_one_written(tiny_root: Path, tmp_path: Path) -> None:
    from mlcls_gui.core.training.engine import Trainer

    model = Trainer(tiny_config(tiny_root, tmp_path / "run", n_epochs=1)).run().final_model_path
    result = export.export_model(model, "torchscript")
    assert written_files(export_target(model, "torchscript")) == (result.path, result.sidecar)
    assert result.sidecar.is_file()


@pytest.mark.parametrize("module", ["ops.export", "ops.batch_predict", "ops.explain", "progress", "ops.evaluate"])
def test_the_ops_modules_of_the_window_import_no_torch(module: str) -> None:
    code = f"import sys, mlcls_gui.core.{module}; sys.exit(1 if 'torch' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code], timeout=120).returncode == 0


def test_naming_an_export_loads_no_torch() -> None:
    """The Export dialog names its files on the GUI thread, before or after the
    start-up warm-up: that must never wait for torch's import."""
    import subprocess
    import sys

    code = ("import sys; from mlcls_gui.core.ops.export import default_output, written_files; "
            "default_output('/m/final_model.pt', 'onnx'); written_files('/m/final_model.onnx'); "
            "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "False"
