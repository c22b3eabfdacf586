"""The output options of the commands: checked before any work, written atomically.

Every ``--json``, ``--csv``, ``--out`` … goes through ``check_output_file``
first: a folder, a missing parent or a file that belongs to a run or a data
set (``core.ops.output_guard``; replaced only with ``--overwrite``) is refused in
one line before minutes of work.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mlcls_gui.core.errors import ConfigError

OVERWRITE_HELP = ("let output options replace a file that belongs to a run or a data set (a model file, "
                  "an image, a labels CSV, a run's config.json …); without it such a file is never replaced")


def add_overwrite_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)


def check_output_file(path: str, option: str, *, overwrite: bool = False) -> None:
    """Refuse before any work when ``path`` cannot be written as a file, or would
    replace a file of a run or a data set without ``--overwrite``."""
    from mlcls_gui.core.ops.output_guard import check_output_target

    target = Path(path).expanduser()
    try:
        if target.is_dir():
            raise ConfigError(f"{option} {path}: that is a folder; give a file name.")
        if not target.parent.is_dir():
            raise ConfigError(f"{option} {path}: the folder {target.parent} does not exist.")
        check_output_target(target, option, overwrite=overwrite)
    except OSError as exc:
        raise ConfigError(f"{option} {path}: {exc.strerror or exc}.") from None


def write_json_output(path: str, data: Any, option: str, *, indent: int = 1) -> None:
    """Write an option's JSON file atomically: a failed write leaves no half file
    and the error is one line naming the option."""
    from mlcls_gui.core.files.atomic_files import write_json_atomic

    try:
        write_json_atomic(Path(path).expanduser(), data, indent=indent)
    except OSError as exc:
        raise ConfigError(f"{option} {path}: cannot write it ({exc.strerror or exc}).") from None


def check_output_folder(path: str, option: str) -> None:
    """A folder to create or fill: it may be missing, but not a file, and its parent must exist."""
    target = Path(path).expanduser()
    try:
        if target.exists() and not target.is_dir():
            raise ConfigError(f"{option} {path}: that is a file, not a folder.")
        if not target.exists() and not target.parent.is_dir():
            raise ConfigError(f"{option} {path}: the folder {target.parent} does not exist.")
    except OSError as exc:
        raise ConfigError(f"{option} {path}: {exc.strerror or exc}.") from None
