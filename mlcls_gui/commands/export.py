"""``mlcls-gui export MODEL --format onnx|torchscript [--out FILE] [--check IMAGE...]``

Writes the model as ONNX or TorchScript with a ``.json`` sidecar, runs the
export and compares its probabilities with PyTorch's (``core.inference.export``);
the file names are ``core.ops.export``'s, shared with the window's Export dialog.
"""

from __future__ import annotations

import argparse

from mlcls_gui.commands.outputs import add_overwrite_option, check_output_file


def add_parser(commands: argparse._SubParsersAction) -> None:
    export = commands.add_parser("export", help="write the model as ONNX or TorchScript, parity-checked")
    export.add_argument("model", help="final model or checkpoint file (.pt)")
    export.add_argument("--format", choices=("onnx", "torchscript"), default="onnx")
    export.add_argument("--out", metavar="FILE",
                        help="output file (default: beside MODEL, .onnx or .torchscript.pt)")
    export.add_argument("--check", nargs="+", default=[], metavar="IMAGE",
                        help="images to compare the export with PyTorch on (default: a random batch)")
    add_overwrite_option(export)
    export.set_defaults(run_command=run)


def run(args: argparse.Namespace) -> int:
    from mlcls_gui.core.inference.export import export_model
    from mlcls_gui.core.ops.export import export_target, written_files

    target, sidecar = written_files(export_target(args.model, args.format, args.out))
    check_output_file(str(target), "--out", overwrite=args.overwrite)
    check_output_file(str(sidecar), "--out (its .json sidecar)", overwrite=args.overwrite)
    result = export_model(args.model, args.format, args.out, args.check)
    print(f"Wrote {result.path}")
    print(f"Wrote {result.sidecar}")
    print(f"Parity: max abs difference {result.max_abs_difference:.2e} on {result.checked_on} "
          f"(PyTorch vs {result.format})")
    return 0
