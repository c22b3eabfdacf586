"""``mlcls-gui health DATA_ROOT [--model M] [--json F]``: near-duplicates and leakage
between the splits, outliers, and a 2-D map of the images (``core/health``)."""

from __future__ import annotations

import argparse
import sys

from mlcls_gui.commands.outputs import add_overwrite_option, check_output_file
from mlcls_gui.commands.scan import add_split_options

DEFAULT_SHOWN = 10


def add_parser(commands: argparse._SubParsersAction) -> None:
    from mlcls_gui.core.health.data_map import MAP_METHODS
    from mlcls_gui.core.health.features import DEFAULT_EXTRACTOR, DEFAULT_IMAGE_SIZE
    from mlcls_gui.core.health.findings import NEAR_DUPLICATE_THRESHOLD

    parser = commands.add_parser(
        "health", help="near-duplicates and leakage between splits, outliers, a map of the data",
        description="Compare every image's features (a model's, or a pretrained extractor's) with cleanlab's "
        "Datalab: groups of near copies (flagged when they cross the train/val/test split, or carry "
        "different labels), outliers, and 2-D map coordinates. --json writes a report that the "
        "training setting split_groups reads to keep each group in one split.")
    parser.add_argument("root", help="data folder, or a labels CSV (or a folder holding labels.csv)")
    parser.add_argument("--model", metavar="MODEL",
                        help="a .pt model file: its features, and the split it was trained on")
    parser.add_argument("--json", dest="json_file", metavar="FILE",
                        help="write the report: groups, outliers, map coordinates")
    parser.add_argument("--arch", default=DEFAULT_EXTRACTOR,
                        help=f"without --model: the pretrained extractor (default {DEFAULT_EXTRACTOR}, "
                        "whose ImageNet weights install with the package)")
    parser.add_argument("--image-size", type=int, default=DEFAULT_IMAGE_SIZE,
                        help=f"without --model: the extractor's input size (default {DEFAULT_IMAGE_SIZE})")
    parser.add_argument("--weights-file", default="", help="without --model: the extractor's weights file")
    parser.add_argument("--threshold", type=float, default=NEAR_DUPLICATE_THRESHOLD,
                        help="near copies are closer than this share of the median nearest-neighbour "
                        f"distance (default {NEAR_DUPLICATE_THRESHOLD})")
    parser.add_argument("--map", dest="map_method", choices=MAP_METHODS, default="pca",
                        help="2-D map: pca (default, fast), tsne (slower) or none")
    parser.add_argument("--top", type=int, default=DEFAULT_SHOWN, metavar="N",
                        help=f"groups and outliers to print (default {DEFAULT_SHOWN})")
    parser.add_argument("--device", default="cpu", help="cpu (default), auto, cuda:N or mps")
    add_split_options(parser)
    add_overwrite_option(parser)
    parser.set_defaults(run_command=run)


def run(args: argparse.Namespace) -> int:
    from mlcls_gui.core.errors import ConfigError
    from mlcls_gui.core.health.check import HealthOptions, check_health

    if args.json_file:
        check_output_file(args.json_file, "--json", overwrite=args.overwrite)
    if args.top < 0 or args.image_size < 16 or not 0 < args.threshold < 1:
        raise ConfigError("--top must be 0 or more, --image-size at least 16, --threshold between 0 and 1.")
    options = HealthOptions(model=args.model or "", arch=args.arch, image_size=args.image_size,
                            weights_file=args.weights_file, threshold=args.threshold, map_method=args.map_method,
                            val_fraction=args.val_fraction, test_fraction=args.test_fraction, seed=args.seed,
                            device=args.device)
    last = [""]

    def progress(done: int, total: int, text: str = "") -> None:
        if text != last[0]:  # one line per stage
            last[0] = text
            print(f"{text}…", file=sys.stderr, flush=True)

    report = check_health(args.root, options, on_progress=progress)
    if args.json_file:
        report.write_json(args.json_file)
    for line in report.summary_lines():
        print(line)
    for number, group in enumerate(report.groups[:args.top], 1):
        flags = [flag for flag, on in (("LEAK", group.crosses_splits), ("LABELS DIFFER", group.labels_differ)) if on]
        print(f"\nGroup {number} (sureness {group.sureness:.2f}){': ' + ', '.join(flags) if flags else ''}")
        for index in group.images:
            image = report.images[index]
            print(f"  {image.split:<5}  {'+'.join(image.labels):<20}  {image.path}")
    flagged = [outlier for outlier in report.outliers if outlier.flagged][:args.top]
    if flagged:
        print("\nMost unusual images (outlier score, lower is more unusual):")
        for outlier in flagged:
            image = report.images[outlier.image]
            print(f"  {outlier.score:.3f}  {image.split:<5}  {image.path}")
    if args.json_file:
        print(f"\nJSON: {args.json_file}")
    return 0
