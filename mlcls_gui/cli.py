"""Command line: no sub-command opens the window; sub-commands run headless.

This module is only the parser's top, logging and dispatch: each sub-command
is a module of ``mlcls_gui/commands/`` (its options and its ``run``), and the
work is the core's (``core/ops`` for the use cases the window shares).

    mlcls-gui [--demo]                           the window
    mlcls-gui --install-desktop-entry            add it to the desktop's menu (Linux)
    mlcls-gui train [CONFIG.json] [--preset NAME] [--set F=V ...] [--resume CKPT]
    mlcls-gui lr-find [CONFIG.json] [--set F=V ...]      suggest a learning rate
    mlcls-gui predict MODEL IMAGE_OR_FOLDER... [--json] [--csv FILE] [--copy-to DIR]
    mlcls-gui evaluate MODEL DATA_ROOT [--json FILE] [--split all|train|val|test]
    mlcls-gui demo-data DIR
    mlcls-gui scan DATA_ROOT
    mlcls-gui audit DATA_ROOT [--json FILE]
    mlcls-gui health DATA_ROOT [--model M] [--json FILE]
    mlcls-gui export MODEL --format onnx|torchscript [--out FILE] [--check IMAGE...]
    mlcls-gui explain MODEL IMAGE [--label LABEL] --out heatmap.png [--raw heatmap.npy]
    mlcls-gui review DATA_ROOT [--model MODEL] [--json FILE] [--csv FILE]
    mlcls-gui runs FOLDER... [--json]
    mlcls-gui labels import DATA_ROOT FILE [--format createml|labelstudio|vertex|csv] [--dry-run]
    mlcls-gui labels export DATA_ROOT FILE --format F [--overwrite] [--uri-prefix P]
    mlcls-gui labels undo DATA_ROOT                  reverse the last apply (import, review, Label tab)

User errors exit with status 2 and one clear line on stderr, no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from typing import Sequence

from mlcls_gui import __version__
from mlcls_gui.core.errors import MlclsError

logger = logging.getLogger("mlcls_gui.cli")

EXIT_USER_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlcls-gui",
        description="Train multi-label image classifiers from folders of images. "
        "Without a sub-command, opens the window.",
    )
    parser.add_argument("--version", action="version", version=f"mlcls-gui {__version__}")
    parser.add_argument("--demo", action="store_true",
                        help="open the window with the built-in demo data selected")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("--install-desktop-entry", action="store_true",
                        help="add mlcls-gui to the desktop's application menu (Linux: writes "
                        "mlcls-gui.desktop and its icon under ~/.local/share) and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _command_modules():
        module.add_parser(commands)
    return parser


# Every sub-command is a module of mlcls_gui/commands/ (add_parser + run), in the order --help lists them.
_COMMAND_MODULES = ("train", "predict", "evaluate", "demo_data", "scan", "audit", "health", "export",
                    "lr_find", "review", "explain", "runs", "labels")


def _command_modules() -> list:
    return [importlib.import_module(f"mlcls_gui.commands.{name}") for name in _COMMAND_MODULES]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    _configure_logging(args.verbose)
    if args.install_desktop_entry:
        from mlcls_gui.desktop_entry import install_desktop_entry

        try:
            written = install_desktop_entry()
        except MlclsError as exc:
            print(f"mlcls-gui: error: {exc}", file=sys.stderr)
            return EXIT_USER_ERROR
        for path in written:
            print(f"Wrote {path}")
        return 0
    if args.command is None:
        from mlcls_gui.platform_check import xcb_problem

        problem = _no_display_problem() or xcb_problem()
        if problem:
            print(f"mlcls-gui: error: {problem}", file=sys.stderr)
            return EXIT_USER_ERROR
        from mlcls_gui.gui.app import run_app  # Qt only when the window is wanted

        return run_app(demo=args.demo)
    try:
        return args.run_command(args)  # each commands/ module sets run_command
    except MlclsError as exc:
        print(f"mlcls-gui: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except OSError as exc:
        # A path the user gave that the system refuses (too long, missing, not a folder…).
        where = f" {exc.filename}" if exc.filename else ""
        print(f"mlcls-gui: error:{where}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("mlcls-gui: interrupted", file=sys.stderr)
        return 130


def _no_display_problem() -> str:
    """Qt aborts the process without a screen on Linux; say so in one line instead."""
    if not sys.platform.startswith("linux"):
        return ""
    if any(os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")):
        return ""
    return ("no display to open the window on (DISPLAY is not set). Run it on a desktop, or use "
            "the headless commands: mlcls-gui train / predict / evaluate (see mlcls-gui --help).")


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("mlcls_gui").setLevel(logging.DEBUG if verbose else logging.INFO)
    # The package logs INFO to the run's log file; the console shows warnings.
    for handler in logging.getLogger().handlers:
        handler.setLevel(logging.DEBUG if verbose else logging.WARNING)
