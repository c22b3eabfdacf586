"""``mlcls-gui evaluate MODEL DATA_ROOT [--json FILE] [--split all|train|val|test]``

Per-label and overall metrics of a model file on labelled data, printed as a
table; ``--json`` also writes the report with every image's probabilities.
The work is ``core.ops.evaluate``, shared with the window's Evaluate tab.
"""

from __future__ import annotations

import argparse
import sys

from mlcls_gui.commands.config_options import check_threshold_option
from mlcls_gui.commands.outputs import add_overwrite_option, check_output_file, write_json_output


def add_parser(commands: argparse._SubParsersAction) -> None:
    evaluate = commands.add_parser("evaluate", help="per-label and overall metrics on labelled data")
    evaluate.add_argument("model", help="final model or checkpoint file")
    evaluate.add_argument("data_root", help="folder in the training layout (labels from folder names) "
                          "or a labels CSV")
    evaluate.add_argument("--json", dest="json_file", metavar="FILE",
                          help="write the report with every image's probabilities to FILE")
    evaluate.add_argument("--split", choices=("all", "train", "val", "test"), default="all",
                          help="all images (default) or one split as training made it")
    evaluate.add_argument("--threshold", type=float,
                          help="one threshold for all labels instead of the model's per-label ones")
    evaluate.add_argument("--device", default="cpu")
    add_overwrite_option(evaluate)
    evaluate.set_defaults(run_command=run)


def run(args: argparse.Namespace) -> int:
    from mlcls_gui.core.ops.evaluate import evaluate_model_file

    check_threshold_option(args.threshold)
    if args.json_file:
        check_output_file(args.json_file, "--json", overwrite=args.overwrite)
    report = evaluate_model_file(args.model, args.data_root, split=args.split, device=args.device,
                                 threshold=args.threshold)
    print(report.to_text())
    if args.json_file:
        write_json_output(args.json_file, report.to_dict(), "--json")
        print(f"Wrote {args.json_file}", file=sys.stderr)
    return 0
