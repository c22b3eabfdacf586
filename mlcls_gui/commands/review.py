"""``mlcls-gui review DATA_ROOT``: rank every labelled image by how likely a label is wrong.

Probabilities are out-of-sample: k-fold logistic-regression heads on the
features of ``--model`` (or of a small model trained for the review); with
``--cross-fit K``, instead the outputs of K small models, each scoring the
images it never trained on. cleanlab ranks the images (see
``core/review/label_review.py``, which has the measured precision of both).
"""

from __future__ import annotations

import argparse
import logging
import sys

from mlcls_gui.commands.outputs import OVERWRITE_HELP, check_output_file
from mlcls_gui.core.review.options import TIME_NOTE

logger = logging.getLogger(__name__)

DEFAULT_SHOWN = 20


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "review", help="rank labelled images by how likely a label is wrong or missing",
        description="Rank every labelled image by how likely one of its labels is wrong or "
        "missing. Each image's probabilities come from a logistic-regression head that never saw "
        "it (k-fold, on the features of --model); cleanlab ranks them. Without --model, a "
        "resnet18 is first trained for the review (64 px, 10 epochs, random start). "
        f"{TIME_NOTE}")
    parser.add_argument("data_root", help="the data folder (label folders) or labels CSV")
    parser.add_argument("--model", metavar="MODEL",
                        help="final model or checkpoint (.pt) whose features to use; its labels "
                        "need not match the data's")
    parser.add_argument("--json", dest="json_file", metavar="FILE",
                        help="write the ranked list (most suspicious first) as JSON")
    parser.add_argument("--csv", dest="csv_file", metavar="FILE", help="write the ranked list as CSV")
    parser.add_argument("--top", type=int, default=DEFAULT_SHOWN, metavar="N",
                        help=f"images to print (default {DEFAULT_SHOWN}; 0 prints none)")
    parser.add_argument("--folds", type=int, default=5, help="k of the k-fold heads (default 5)")
    parser.add_argument("--device", default="cpu", help="cpu (default), auto, cuda:N or mps")
    parser.add_argument("--arch", default="resnet18",
                        help="without --model: the architecture trained for the review (default resnet18)")
    parser.add_argument("--epochs", type=int, default=10,
                        help="without --model: epochs of that training (default 10)")
    parser.add_argument("--image-size", type=int, default=64,
                        help="without --model: its image size in pixels (default 64)")
    parser.add_argument("--pretrained", action="store_true",
                        help="without --model: start from pretrained weights (downloads them once)")
    parser.add_argument("--cross-fit", type=int, default=0, metavar="K",
                        help="without --model: train K models instead, each on the images of the "
                        "other K-1 parts, and score each image with the one that never saw it "
                        "(default 0: off; it ranked worse on the demo shapes at the same cost)")
    parser.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    parser.set_defaults(run_command=run)


def run(args: argparse.Namespace) -> int:
    from mlcls_gui.core.errors import ConfigError
    from mlcls_gui.core.review.label_review import review_labels
    from mlcls_gui.core.review.options import ReviewOptions

    # Before the review's minutes of work: never over the data set's labels.csv or a model.
    for path, option in ((args.json_file, "--json"), (args.csv_file, "--csv")):
        if path:
            check_output_file(path, option, overwrite=args.overwrite)
    if args.top < 0:
        raise ConfigError(f"--top must be 0 or more (got {args.top}).")
    if args.epochs < 1 or args.image_size < 8:
        raise ConfigError("--epochs must be at least 1 and --image-size at least 8.")
    options = ReviewOptions(folds=args.folds, device=args.device, train_arch=args.arch,
                            train_epochs=args.epochs, train_image_size=args.image_size,
                            train_pretrained=args.pretrained, cross_fit=args.cross_fit)
    if not args.model:
        what = (f"{args.cross_fit} {args.arch} models, each on {args.cross_fit - 1} of {args.cross_fit} "
                "parts of the images" if args.cross_fit else f"a {args.arch}")
        print(f"No --model given: training {what} ({args.image_size} px, {args.epochs} epochs, "
              f"{'pretrained' if args.pretrained else 'random'} start) on {args.data_root} for the "
              f"review first. {TIME_NOTE}", file=sys.stderr)
    last = [""]

    def progress(done: int, total: int, text: str = "") -> None:
        if text != last[0]:  # one line per stage, not per batch
            last[0] = text
            # On stderr, as the minutes of work go by (the console's log shows warnings only).
            print(f"{text}…", file=sys.stderr, flush=True)

    report = review_labels(args.data_root, model_path=args.model, options=options, on_progress=progress)
    if args.json_file:
        report.write_json(args.json_file)
    if args.csv_file:
        report.write_csv(args.csv_file)
    print(f"{len(report.items)} images of {report.root} ranked in {report.seconds:.1f} s; "
          f"cleanlab flags {report.flagged_count} as likely label issues.")
    print(report.method)
    for note in report.notes:
        print(f"Note: {note}")
    shown = report.items[:args.top]
    if shown:
        print(f"\n{'rank':>4}  {'score':>5}  flag  given → suggested  path")
        for rank, item in enumerate(shown, 1):
            print(f"{rank:>4}  {item.score:5.3f}  {'yes ' if item.flagged else '    '}  "
                  f"{'+'.join(item.given)} → {'+'.join(item.suggested)}  {item.path}")
    for name, path in (("JSON", args.json_file), ("CSV", args.csv_file)):
        if path:
            print(f"{name}: {path}")
    return 0
