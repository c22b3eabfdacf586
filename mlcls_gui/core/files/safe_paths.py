"""Paths that come from files (a journal, a CSV, a label folder, a model file's
metadata) must stay inside the folder they belong to, after symlinks.

A lexical check (``..`` components) is not enough: ``cat/`` may be a symlink
to ``/home/user/.config``, so every check here resolves the path first.
Outputs are opened without following a symlink in their last component.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path, PurePosixPath


def real(path: str | os.PathLike[str]) -> Path:
    """The path with every symlink resolved (missing tails kept as written)."""
    return Path(os.path.realpath(path))


def is_inside(path: str | os.PathLike[str], folder: str | os.PathLike[str], *, allow_equal: bool = False) -> bool:
    """Whether ``path``, symlinks resolved, lies in ``folder`` (also resolved)."""
    target, base = real(path), real(folder)
    if target == base:
        return allow_equal
    return base in target.parents


def relative_problem(relative: object) -> str:
    """Why ``relative`` (a path read from a file) is not a plain relative path
    below its folder, or ''. Absolute paths, '..', '.' parts and empty parts are refused."""
    if not isinstance(relative, str) or not relative:
        return f"{relative!r:.80} is not a relative path"
    if "\0" in relative or "\\" in relative:
        return f"{relative!r:.80} holds a character a path here may not hold"
    posix = PurePosixPath(relative)
    if posix.is_absolute() or os.path.isabs(relative) or os.path.splitdrive(relative)[0]:
        return f"{relative!r:.80} is an absolute path"
    if any(part in ("..", ".", "") for part in relative.split("/")):
        return f"{relative!r:.80} is not a plain path below the folder"
    return ""


def inside_problem(relative: object, folder: Path) -> str:
    """Why ``folder / relative`` is not a path inside ``folder`` (symlinks followed), or ''."""
    problem = relative_problem(relative)
    if problem:
        return problem
    if not is_inside(folder / str(relative), folder):
        return f"{relative!r:.80} leads outside {folder} through a symbolic link"
    return ""


def open_no_follow(path: str | os.PathLike[str], flags: int, mode: int = 0o644) -> int:
    """``os.open`` that refuses a symlink as the last component (OSError ELOOP)."""
    return os.open(path, flags | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0), mode)


class UnusableLockFile(Exception):
    """The name of a lock file is taken by something that is not one; the message says what."""


def open_lock_file(path: str | os.PathLike[str]) -> int:
    """Open (creating it) a lock file for reading and writing: never through a symlink
    (it would write the file it leads to), never a folder, FIFO or device.
    UnusableLockFile for those; other OSErrors as the system gave them."""
    try:
        fd = open_no_follow(path, os.O_RDWR | os.O_CREAT | os.O_NONBLOCK, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnusableLockFile("is a symbolic link; mlcls-gui never writes through one") from None
        if exc.errno == errno.EISDIR:
            raise UnusableLockFile("is a folder, but mlcls-gui keeps a lock file under that name") from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnusableLockFile("is not a regular file")
    return fd


def is_current_file(fd: int, path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` (not followed) still names the file open as ``fd``: another
    process may have removed or replaced it between our open and our lock."""
    try:
        mine, there = os.fstat(fd), os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    return (mine.st_dev, mine.st_ino) == (there.st_dev, there.st_ino)
