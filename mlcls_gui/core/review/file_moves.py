"""Moving a user's file without ever replacing another, crash-safely.

``move_no_replace`` renames with ``renameat2(RENAME_NOREPLACE)`` on Linux: one
atomic step that refuses an existing name, so after a kill at any moment the
file has exactly one name. Where that call is missing (other systems, some
file systems) a hard link then an unlink does the same in two steps: a kill
between them leaves two names of one file, which ``finish_interrupted_move``
recognises (same inode) and undoes. Without hard links either, it checks,
then renames.

``after_step`` is a fault-injection point for tests: a test sets
``FAULT_HOOK`` to kill the process at a named step.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import logging
import os
from pathlib import Path
from typing import Callable

from mlcls_gui.core.errors import os_reason
from mlcls_gui.core.review.relabel_journal import RelabelError

logger = logging.getLogger(__name__)

FAULT_HOOK: Callable[[str], None] | None = None
_RENAME_NOREPLACE = 1
_AT_FDCWD = -100
_NO_LINKS = (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS, errno.EXDEV)


def after_step(step: str) -> None:
    if FAULT_HOOK is not None:
        FAULT_HOOK(step)


def _load_renameat2() -> Callable[..., int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        function = libc.renameat2
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


RENAMEAT2: Callable[..., int] | None = _load_renameat2()


def move_no_replace(source: Path, destination: Path) -> None:
    """Rename ``source`` to ``destination``; RelabelError (nothing moved) when
    ``destination`` exists or the move fails."""
    if RENAMEAT2 is not None:
        result = RENAMEAT2(_AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(destination), _RENAME_NOREPLACE)
        if result == 0:
            after_step("moved")
            return
        code = ctypes.get_errno()
        if code == errno.EEXIST:
            raise RelabelError(f"{destination} already exists; it was not overwritten.")
        if code not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
            raise RelabelError(f"Cannot move {source} to {destination} ({os.strerror(code)}).")
    _link_then_unlink(source, destination)


def _link_then_unlink(source: Path, destination: Path) -> None:
    try:
        os.link(source, destination, follow_symlinks=False)
    except FileExistsError:
        raise RelabelError(f"{destination} already exists; it was not overwritten.") from None
    except OSError as exc:
        if exc.errno not in _NO_LINKS:
            raise RelabelError(f"Cannot move {source} to {destination} ({os_reason(exc)}).") from None
        _check_then_rename(source, destination)
        return
    after_step("linked")
    try:
        os.unlink(source)
    except OSError as exc:
        os.unlink(destination)  # the second name we just made; the file stays where it was
        raise RelabelError(f"Cannot move {source} ({os_reason(exc)}); it was left where it was.") from None
    after_step("moved")


def _check_then_rename(source: Path, destination: Path) -> None:
    if os.path.lexists(destination):
        raise RelabelError(f"{destination} already exists; it was not overwritten.")
    try:
        os.rename(source, destination)
    except OSError as exc:
        raise RelabelError(f"Cannot move {source} to {destination} ({os_reason(exc)}).") from None
    after_step("moved")


def finish_interrupted_move(source: Path, destination: Path) -> bool:
    """When a kill left one file under both names (between link and unlink),
    remove the new name; True when it did. The file stays where it was."""
    try:
        if not (os.path.lexists(source) and os.path.lexists(destination)):
            return False
        if not os.path.samefile(source, destination) or os.path.islink(destination):
            return False
        os.unlink(destination)
    except OSError as exc:
        logger.warning("Could not repair the interrupted move %s -> %s: %s", source, destination, exc)
        return False
    logger.info("Repaired an interrupted move: %s stays, its second name %s was removed", source, destination)
    return True


def missing_dirs(folder: Path) -> list[Path]:
    """``folder`` and its missing parents, outermost first (nothing created)."""
    missing: list[Path] = []
    current = folder
    while not os.path.lexists(current):
        missing.append(current)
        current = current.parent
    return list(reversed(missing))


def make_dirs(folders: list[Path]) -> None:
    """Create these folders (outermost first); an existing one is fine."""
    for path in folders:
        try:
            path.mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            raise RelabelError(f"Cannot create the folder {path} ({os_reason(exc)}).") from None
        after_step("dir-made")
