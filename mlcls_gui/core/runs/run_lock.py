"""A run owns its output folder for its lifetime: a lock file with its PID and host.

Two runs writing into one folder would leave one run's files and silently lose
the other's, so a second run into a locked folder is refused at once with a
message naming the running one. The lock is an OS file lock (``flock`` on
POSIX, ``msvcrt.locking`` on Windows) held on ``.mlcls-run.lock``: the OS
drops it when the process dies, however it dies, so a lock file left by a
killed run is recognised as stale and taken over with a log line.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import stat
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from mlcls_gui.core.errors import ConfigError, RunFolderBusyError
from mlcls_gui.core.files.safe_paths import UnusableLockFile, is_current_file, open_lock_file, open_no_follow
from mlcls_gui.core.output_names import LOCK_NAME

logger = logging.getLogger(__name__)

# Windows locks a byte range; lock one far past the JSON so readers can still read it.
_WINDOWS_LOCK_OFFSET = 1 << 20

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]
    import msvcrt


@dataclass(frozen=True)
class LockOwner:
    pid: int
    host: str
    started: str
    command: str

    def describe(self) -> str:
        where = "this computer" if self.host == socket.gethostname() else self.host
        return f"process {self.pid} on {where}, started {self.started} ({self.command})"

    @classmethod
    def current(cls) -> "LockOwner":
        command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:3]]) if sys.argv else ""
        return cls(os.getpid(), socket.gethostname(), datetime.now().isoformat(timespec="seconds"),
                   command.strip() or "python")


class RunFolderLock:
    """Exclusive ownership of one output folder; ``acquire`` refuses a busy folder."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        if self._fd is not None:
            return
        for _ in range(10):  # another process may unlink the file between our open and lock
            fd = self._open()
            if not _try_lock(fd):
                owner = _owner_once_written(fd)
                os.close(fd)
                running = owner.describe() if owner else "another run"
                raise RunFolderBusyError(
                    f"The output folder {self.folder} is in use by a training run ({running}). "
                    "Wait for it to finish, stop it, or choose another output folder."
                )
            if not is_current_file(fd, self.path):
                os.close(fd)
                continue
            stale = _read_owner(fd)
            if stale is not None:
                logger.warning(
                    "Took over the lock of %s: the run that held it (%s) is no longer running.",
                    self.folder, stale.describe(),
                )
            _write_owner(fd, LockOwner.current())
            self._fd = fd
            return
        raise RunFolderBusyError(f"Could not lock the output folder {self.folder}; try again.")

    def _open(self) -> int:
        try:
            return open_lock_file(self.path)
        except UnusableLockFile as exc:
            raise ConfigError(f"{self.path} {exc}. Remove it, or choose another output folder.") from None
        except OSError as exc:
            raise ConfigError(f"Cannot create the lock file {self.path} ({exc.strerror or exc}). "
                              "Choose an output folder you can write to.") from None

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if is_current_file(fd, self.path):
                # Unlink while still locked: nobody can take a lock on a file about to vanish.
                self.path.unlink()
        except OSError as exc:
            logger.warning("Could not remove the lock file %s: %s", self.path, exc)
        finally:
            _unlock(fd)
            os.close(fd)

    def __enter__(self) -> "RunFolderLock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def read_lock_owner(folder: str | os.PathLike[str]) -> LockOwner | None:
    """Who holds ``folder``'s lock right now, or None when it is free."""
    path = Path(folder) / LOCK_NAME
    try:
        fd = open_no_follow(path, os.O_RDWR | os.O_NONBLOCK)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            return None
    except OSError:
        return None
    try:
        if _try_lock(fd):
            _unlock(fd)
            return None
        return _read_owner(fd) or LockOwner(0, "?", "?", "unknown")
    finally:
        os.close(fd)


# ------------------------------------------------------------------ helpers
def _try_lock(fd: int) -> bool:
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:  # pragma: no cover - Windows
            os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError:
        return False
    return True


def _unlock(fd: int) -> None:
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
        else:  # pragma: no cover - Windows
            os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
    except OSError:
        pass


def _read_owner(fd: int) -> LockOwner | None:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        data = json.loads(os.read(fd, 4096).decode("utf-8"))
        return LockOwner(int(data["pid"]), str(data["host"]), str(data["started"]), str(data["command"]))
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None


def _owner_once_written(fd: int, wait_s: float = 1.0) -> LockOwner | None:
    """The holder's details; a run that has just taken the lock writes them a moment
    later (between its flock and its write), so a refused run waits briefly for them."""
    deadline = time.monotonic() + wait_s
    while True:
        owner = _read_owner(fd)
        if owner is not None or time.monotonic() >= deadline:
            return owner
        time.sleep(0.02)


def _write_owner(fd: int, owner: LockOwner) -> None:
    text = json.dumps(owner.__dict__).encode("utf-8")
    os.lseek(fd, 0, os.SEEK_SET)
    os.ftruncate(fd, 0)
    os.write(fd, text)
    os.fsync(fd)
