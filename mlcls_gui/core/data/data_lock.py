"""A lock on a data folder: training runs share it, a label change takes it alone.

An apply moves images between label folders (or rewrites labels.csv); a run
that scans or loads the data meanwhile would silently lose or double images.
So every run holds ``.mlcls-data.lock`` in the data folder for reading
(``flock(LOCK_SH)``, from any process, the window's or a terminal's) and an
apply or undo holds it for writing (``LOCK_EX``). The OS drops a lock when its
process dies, so a killed run never blocks the folder.

A data folder that cannot hold the lock file (read-only media, no permission)
cannot be relabelled either, so a run there goes on without it. On Windows
(no shared ``flock``) the lock is not taken.
"""

from __future__ import annotations

import errno
import logging
import os
import time
from pathlib import Path

from mlcls_gui.core.errors import DataFolderBusyError, DatasetError
from mlcls_gui.core.files.safe_paths import UnusableLockFile, is_current_file, open_lock_file

logger = logging.getLogger(__name__)

DATA_LOCK_NAME = ".mlcls-data.lock"
# An apply is seconds; a run is minutes to hours.
RUN_WAITS_FOR_APPLY_S = 30.0
APPLY_WAITS_FOR_APPLY_S = 10.0
_POLL_S = 0.05
_CANNOT_HOLD = {errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT, errno.ENOTSUP}

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


def data_folder_of(root: str | os.PathLike[str]) -> Path:
    """The folder a data root's labels live in: the root itself, or a CSV's folder."""
    from mlcls_gui.core.data.csv_labels import find_labels_csv
    from mlcls_gui.core.data.dataset import check_data_root

    csv_path = find_labels_csv(root)
    return csv_path.parent if csv_path is not None else check_data_root(root)


class DataFolderLock:
    """``exclusive`` for a label change, shared for a training run."""

    def __init__(self, folder: str | os.PathLike[str], *, exclusive: bool) -> None:
        self.folder = Path(folder)
        self.path = self.folder / DATA_LOCK_NAME
        self.exclusive = exclusive
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, wait_s: float | None = None) -> bool:
        """Take the lock; False when the folder cannot hold one (a run goes on
        without it). DataFolderBusyError when it stays taken for ``wait_s``."""
        if self._fd is not None or fcntl is None:
            return self._fd is not None
        if wait_s is None:
            wait_s = APPLY_WAITS_FOR_APPLY_S if self.exclusive else RUN_WAITS_FOR_APPLY_S
        fd = self._open()
        if fd is None:
            return False
        deadline = time.monotonic() + wait_s
        operation = (fcntl.LOCK_EX if self.exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
        while True:
            try:
                fcntl.flock(fd, operation)
            except OSError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise DataFolderBusyError(self._busy_message()) from None
                time.sleep(_POLL_S)
                continue
            if is_current_file(fd, self.path):
                self._fd = fd
                return True
            os.close(fd)  # the last holder removed that file meanwhile: lock the new one
            fd = self._open()
            if fd is None:
                return False

    def release(self) -> None:
        """Unlock; the last holder removes the file, so the folder is left as it was."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            # Alone on it (or alone now): nobody can lock a file about to vanish, since
            # a waiter re-checks that the name still leads to the file it locked.
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if is_current_file(fd, self.path):
                os.unlink(self.path)
        except OSError:
            pass  # another run holds it: that run removes it
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> "DataFolderLock":
        # A run goes on without a lock where none can be held; a label change cannot.
        if not self.acquire() and self.exclusive:
            raise DataFolderBusyError(
                f"Cannot change labels in {self.folder}: the folder is not writable here "
                f"(the lock file {self.path} cannot be created). Nothing was changed.")
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _open(self) -> int | None:
        try:
            return open_lock_file(self.path)
        except UnusableLockFile as exc:
            raise DatasetError(f"{self.path} {exc}. Remove it (it only holds a lock) and try again.") from None
        except OSError as exc:
            if exc.errno in _CANNOT_HOLD:
                logger.info("No data lock in %s (%s)", self.folder, exc.strerror)
                return None
            raise DatasetError(f"Cannot lock the data folder {self.folder} ({exc.strerror or exc}).") from None

    def _busy_message(self) -> str:
        if self.exclusive:
            return (f"The data folder {self.folder} is in use: a training run is reading it, or "
                    "another label change is being applied. Wait for it to finish (or stop the run), "
                    "then try again. Nothing was changed.")
        return (f"Labels in {self.folder} are being changed right now. Start the run again when "
                "that has finished.")

