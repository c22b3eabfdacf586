"""Atomic file writes: a reader (or a crash) never sees half a file.

Every output goes through one implementation (``replacing``): write to a
temporary file beside the target (``.<name>.<random>.tmp``), fsync it, give
it the umask's mode, then ``os.replace`` it over the target. On any failure the temporary
is removed and the previous file is untouched. ``outputs.remove_stale_temporaries``
recognises these temporaries (``is_temporary_for``) when a killed run left one.

Errors are plain ``OSError``: each caller turns them into its own one-line message.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator, Sequence

logger = logging.getLogger(__name__)

# The temporary's prefix keeps at most this much of the target's name, so a
# 255-character name (the Linux limit) still leaves room for ".<random>.tmp".
_NAME_KEPT = 200
TEMPORARY_SUFFIX = ".tmp"


def temporary_prefix(name: str) -> str:
    """What every temporary for a file called ``name`` starts with."""
    return f".{name[:_NAME_KEPT]}."


def is_temporary_for(candidate: str, name: str) -> bool:
    """Whether the file name ``candidate`` is a temporary of a write to ``name``."""
    return candidate.startswith(temporary_prefix(name)) and candidate.endswith(TEMPORARY_SUFFIX)


def written_name(path: str | os.PathLike[str]) -> str:
    """The file a write was for: a temporary ``.<name>.<random>.tmp`` names its target."""
    name = Path(path).name
    if name.startswith(".") and name.endswith(TEMPORARY_SUFFIX):
        target = name[1:-len(TEMPORARY_SUFFIX)].rpartition(".")[0]
        if target:
            return target
    return name


_READ_ONLY = (errno.EACCES, errno.EPERM, errno.EROFS)
_FULL = (errno.ENOSPC, errno.EDQUOT)
_GONE = (errno.ENOENT, errno.ENOTDIR, errno.EIO, errno.ENODEV, errno.ENXIO, errno.ESTALE)


def write_failure_advice(exc: OSError) -> str:
    """What a failed write means and what to do, for the end of a message."""
    if exc.errno in _FULL:
        return "the disk is full; free some space or choose another output folder"
    if exc.errno in _READ_ONLY:
        return ("the folder is read-only or belongs to another user; make it writable or choose "
                "another output folder")
    if exc.errno in _GONE:
        return ("the folder is gone (removed or renamed, or its disk was unplugged); reconnect it or "
                "choose another output folder")
    return f"{exc.strerror or exc}; check the disk or choose another output folder"


def is_write_failure(exc: BaseException) -> bool:
    """An OSError that says the folder cannot be written (rather than a bad value)."""
    return isinstance(exc, OSError) and exc.errno in (*_READ_ONLY, *_FULL, *_GONE)


def new_file_mode() -> int:
    """The mode ``open()`` would give a new file: 0o666 less the umask."""
    return 0o666 & ~_current_umask()


def _current_umask() -> int:
    # /proc reads the umask without changing it; os.umask can only read it by
    # setting it, which races with other threads creating files meanwhile.
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def replacing(path: str | os.PathLike[str], *, keep_mode: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write by name (for writers that
    want a file name, such as torch.onnx.export); when the block ends, the file
    there is fsynced, given its mode and renamed over ``path``. On any failure,
    the block's included, it is removed and ``path`` is untouched.

    The mode is the umask's (mkstemp's 0600 would keep other users from reading
    outputs) or, with ``keep_mode``, the replaced file's (the user's own files)."""
    target = Path(path)
    fd, name = tempfile.mkstemp(prefix=temporary_prefix(target.name), suffix=TEMPORARY_SUFFIX,
                                dir=target.parent)
    os.close(fd)
    temporary = Path(name)
    try:
        yield temporary
        mode = _mode_for(target, keep_mode)
        # Opened anew: the block may have written through a handle of its own.
        # The mode is set only now, so a read-only mode kept from the target
        # cannot stop the writing.
        fd = os.open(temporary, os.O_RDWR | getattr(os, "O_BINARY", 0))
        try:
            os.fsync(fd)
            if hasattr(os, "fchmod"):
                os.fchmod(fd, mode)
        finally:
            os.close(fd)
        if not hasattr(os, "fchmod"):  # Windows: only the read-only bit exists
            os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        # Also on KeyboardInterrupt: no temporary may stay behind.
        try:
            temporary.unlink(missing_ok=True)
        except OSError:
            logger.debug("Could not remove the temporary %s", temporary, exc_info=True)
        raise


def _mode_for(target: Path, keep_mode: bool) -> int:
    if keep_mode:
        try:
            return target.stat().st_mode & 0o7777
        except FileNotFoundError:
            pass  # a new file: the umask's mode
    return new_file_mode()


def write_atomic(path: str | os.PathLike[str], write: Callable[[IO[Any]], None], *, binary: bool = False,
                 newline: str | None = None, keep_mode: bool = False) -> None:
    """Replace ``path`` by what ``write`` writes into one stream: UTF-8 text, or
    bytes with ``binary``. Every atomic writer here goes through this one.

    ``newline`` is ``open()``'s (``""`` for the csv module). ``keep_mode``
    gives a replaced file its former mode (the user's own files) instead of
    the umask's."""
    with replacing(path, keep_mode=keep_mode) as temporary:
        if binary:
            with open(temporary, "wb") as handle:
                write(handle)
        else:
            with open(temporary, "w", encoding="utf-8", newline=newline) as handle:
                write(handle)


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes, *, keep_mode: bool = False) -> None:
    """Replace ``path`` by exactly ``data``."""
    write_atomic(path, lambda handle: handle.write(data), binary=True, keep_mode=keep_mode)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Replace ``path`` by ``text`` in UTF-8 (line ends as the platform writes them)."""
    write_atomic(path, lambda handle: handle.write(text))


def write_json_atomic(path: str | os.PathLike[str], data: Any, *, indent: int | None = 2) -> None:
    """Replace ``path`` by ``data`` as JSON, ending with a newline."""
    # Serialise first: data that is not JSON fails before any file is touched.
    text = json.dumps(data, indent=indent) + "\n"
    write_text_atomic(path, text)


def write_csv_atomic(path: str | os.PathLike[str], rows: Iterable[Sequence[object]]) -> None:
    """Replace ``path`` by ``rows`` written with ``csv.writer`` (its \\r\\n line ends)."""
    write_atomic(path, lambda handle: csv.writer(handle).writerows(rows), newline="")


def copy_to_new_file(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """Copy ``source``'s bytes into ``target``, which must not exist: never over an
    existing name, never through a symlink (FileExistsError / OSError ELOOP). A
    failed copy leaves no part of ``target``."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    with open(source, "rb") as reader:
        fd = os.open(target, flags, new_file_mode())
        try:
            with os.fdopen(fd, "wb") as writer:
                shutil.copyfileobj(reader, writer, 1 << 20)
                writer.flush()
                os.fsync(writer.fileno())
        except BaseException:
            Path(target).unlink(missing_ok=True)
            raise
