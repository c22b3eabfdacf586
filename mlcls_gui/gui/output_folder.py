"""Where a run's files go: never relative to the process's working directory.

The config's default output folder is a bare name (``mlcls_output``), which the
CLI resolves against the shell's directory, as a command-line user expects. A
window has no meaningful working directory (a desktop launcher may start it in
``/`` or the app bundle), so the window resolves a relative output folder
against the data folder's parent — the outputs sit next to the data — or, with
no data folder, the user's home.
"""

from __future__ import annotations

import logging
from pathlib import Path

logger = logging.getLogger(__name__)


def output_base(images_root: str) -> Path:
    """The folder a relative output folder is resolved against."""
    if images_root.strip():
        root = Path(images_root.strip()).expanduser()
        if root.is_absolute():
            return root.parent
    return Path.home()


def resolve_output_folder(folder: str, images_root: str) -> str:
    """``folder`` as an absolute path (``~`` expanded; relative → see ``output_base``)."""
    text = folder.strip()
    if not text:
        return text
    path = Path(text).expanduser()
    if not path.is_absolute():
        path = output_base(images_root) / path
    return str(path)


def is_relative(folder: str) -> bool:
    text = folder.strip()
    return bool(text) and not Path(text).expanduser().is_absolute()
