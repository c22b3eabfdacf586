"""``mlcls-gui scan DATA_ROOT``: print the dataset summary of a data root (label
folders or a labels CSV); exit status 2 when it has problems."""

from __future__ import annotations

import argparse

EXIT_USER_ERROR = 2


def add_split_options(parser: argparse.ArgumentParser) -> None:
    """The split that ``scan`` and ``audit`` show: the fractions and seed training would use."""
    parser.add_argument("--val-fraction", type=float, default=0.15)
    parser.add_argument("--test-fraction", type=float, default=0.15)
    parser.add_argument("--seed", type=int, default=42)


def add_parser(commands: argparse._SubParsersAction) -> None:
    scan = commands.add_parser("scan", help="print the dataset summary of a data root")
    scan.add_argument("root", help="data folder, or a labels CSV (or a folder holding labels.csv)")
    add_split_options(scan)
    scan.set_defaults(run_command=run)


def run(args: argparse.Namespace) -> int:
    from mlcls_gui.core.data.dataset import scan_data_root

    splits = scan_data_root(args.root, val_fraction=args.val_fraction,
                            test_fraction=args.test_fraction, seed=args.seed)
    summary = splits.summary()
    print(summary.to_text())
    return EXIT_USER_ERROR if summary.problems else 0
