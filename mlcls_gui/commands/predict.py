"""``mlcls-gui predict MODEL IMAGE_OR_FOLDER... [--json] [--csv FILE] [--copy-to DIR]``

Per-label probabilities for image files and folders (searched recursively),
as a table or JSON on stdout; ``--csv`` also writes them, ``--copy-to`` copies
each image into a folder named after its predicted labels. The work and its
refusals are ``core.ops.batch_predict``'s, shared with the window's batch
predict panel.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from mlcls_gui.commands.config_options import check_threshold_option
from mlcls_gui.commands.outputs import add_overwrite_option, check_output_file, check_output_folder

if TYPE_CHECKING:
    from mlcls_gui.core.inference.predict import Prediction

EXIT_FAILED = 1


def add_parser(commands: argparse._SubParsersAction) -> None:
    predict = commands.add_parser("predict", help="per-label probabilities for images")
    predict.add_argument("model", help="final model or checkpoint file")
    predict.add_argument("inputs", nargs="+", metavar="IMAGE_OR_FOLDER")
    predict.add_argument("--json", action="store_true", help="print JSON instead of a table")
    predict.add_argument("--csv", metavar="FILE", help="also write a CSV file")
    predict.add_argument("--threshold", type=float, help="decision threshold (default: the model's)")
    predict.add_argument("--device", default="cpu", help="cpu (default), auto, cuda:N or mps")
    predict.add_argument("--copy-to", metavar="DIR",
                         help="also copy each image into DIR/<predicted labels joined by '+'>/")
    add_overwrite_option(predict)
    predict.set_defaults(run_command=run)


def run(args: argparse.Namespace) -> int:
    from mlcls_gui.core.ops.batch_predict import predict_batch

    check_threshold_option(args.threshold)
    # The options' own words first; predict_batch then applies the rules it shares with the window.
    if args.csv:
        check_output_file(args.csv, "--csv", overwrite=args.overwrite)
    if args.copy_to:
        check_output_folder(args.copy_to, "--copy-to")
    result = predict_batch(
        args.model, args.inputs, csv_path=args.csv or "", copy_to=args.copy_to or "",
        threshold=args.threshold, device=args.device,
        on_skipped=lambda path, reason: print(f"mlcls-gui: skipped {path}: {reason}", file=sys.stderr),
    )
    if args.json:
        # The thresholds that decided "predicted", per label: the model's own (tuned
        # per label at the end of training), or --threshold for every label.
        print(json.dumps(
            {"model": args.model, "labels": result.labels,
             "thresholds": result.thresholds,
             "thresholds_from": "model" if args.threshold is None else "--threshold",
             "predictions": [prediction_dict(p) for p in result.predictions]},
            indent=2,
        ))
    else:
        for prediction in result.predictions:
            print(prediction_text(prediction))
    if args.csv:
        print(f"Wrote {args.csv}", file=sys.stderr)
    if args.copy_to:
        print(f"Copied {result.copied} image(s) into label folders under {args.copy_to}", file=sys.stderr)
    return EXIT_FAILED if result.all_unreadable else 0


def prediction_dict(prediction: "Prediction") -> dict:
    return {
        "path": prediction.path,
        "probabilities": prediction.probabilities,
        "predicted": list(prediction.predicted),
        "error": prediction.error or None,
    }


def prediction_text(prediction: "Prediction") -> str:
    if not prediction.ok:
        return f"{prediction.path}: cannot read ({prediction.error})"
    ranked = sorted(prediction.probabilities.items(), key=lambda kv: -kv[1])
    scores = "  ".join(f"{label} {p:.3f}" for label, p in ranked)
    labels = "+".join(prediction.predicted) or "(none)"
    return f"{prediction.path}: {labels}    [{scores}]"
