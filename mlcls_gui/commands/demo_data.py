"""``mlcls-gui demo-data DIR [--config FILE]``: write the built-in demo dataset
(and a config that trains on it into DIR-output)."""

from __future__ import annotations

import argparse

from mlcls_gui.commands.outputs import add_overwrite_option, check_output_file, check_output_folder


def add_parser(commands: argparse._SubParsersAction) -> None:
    demo = commands.add_parser("demo-data", help="write the built-in demo dataset")
    demo.add_argument("folder")
    demo.add_argument("--images-per-folder", type=int, default=50)
    demo.add_argument("--image-size", type=int, default=64)
    demo.add_argument("--config", metavar="FILE",
                      help="also write the demo config (training into FOLDER-output) to FILE")
    add_overwrite_option(demo)
    demo.set_defaults(run_command=run)


def run(args: argparse.Namespace) -> int:
    from mlcls_gui.core.config import demo_config
    from mlcls_gui.core.data.demo import write_demo_dataset

    check_output_folder(args.folder, "demo-data")
    if args.config:
        check_output_file(args.config, "--config", overwrite=args.overwrite)
    root = write_demo_dataset(args.folder, images_per_folder=args.images_per_folder,
                              image_size=args.image_size)
    print(f"Wrote the demo dataset to {root}")
    if args.config:
        output = root.with_name(root.name + "-output")
        demo_config(root.resolve(), output.resolve()).save_json(args.config)
        print(f"Wrote the demo config to {args.config} (train with: mlcls-gui train {args.config})")
    return 0
