"""``mlcls-gui audit DATA_ROOT [--json FILE]``: the dataset summary, then label
co-occurrence, cardinality, imbalance and leaks between the splits."""

from __future__ import annotations

import argparse

from mlcls_gui.commands.outputs import add_overwrite_option, check_output_file, write_json_output
from mlcls_gui.commands.scan import add_split_options


def add_parser(commands: argparse._SubParsersAction) -> None:
    audit = commands.add_parser("audit", help="label co-occurrence, cardinality, imbalance, leaks")
    audit.add_argument("root", help="data folder, or a labels CSV (or a folder holding labels.csv)")
    audit.add_argument("--json", dest="json_file", metavar="FILE", help="also write the audit as JSON")
    add_split_options(audit)
    add_overwrite_option(audit)
    audit.set_defaults(run_command=run)


def run(args: argparse.Namespace) -> int:
    from mlcls_gui.core.data.audit import audit_dataset
    from mlcls_gui.core.data.dataset import scan_data_root

    if args.json_file:
        check_output_file(args.json_file, "--json", overwrite=args.overwrite)
    splits = scan_data_root(args.root, val_fraction=args.val_fraction,
                            test_fraction=args.test_fraction, seed=args.seed)
    print(splits.summary().to_text())
    audit = audit_dataset(splits)
    print(audit.to_text())
    if args.json_file:
        write_json_output(args.json_file, audit.to_dict(), "--json")
    return 0
