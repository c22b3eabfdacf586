"""Run one function off the GUI thread and get its result back as a signal.

Folder scans, the first torch import, model loading and predictions take
longer than the GUI may block (~100 ms), so each runs on its own QThread with
the textbook ``moveToThread`` wiring. Results and errors arrive on the GUI
thread as signals. Every thread started here is tracked so that closing the
window (and the tests) can wait for all of them. Panels use it through
``task_runner.TaskRunner``, which adds Cancel, progress and replacing.
"""

from __future__ import annotations

import logging
import time
import traceback
from typing import Any, Callable

from PySide6.QtCore import QCoreApplication, QObject, Qt, QThread, Signal, Slot

from mlcls_gui.core.errors import MlclsError
from mlcls_gui.gui.widgets.field_labels import with_form_labels

logger = logging.getLogger(__name__)

_live_threads: set[QThread] = set()


def track_thread(thread: QThread) -> None:
    """Remember ``thread`` until it finishes (see ``live_threads``)."""
    _live_threads.add(thread)
    thread.finished.connect(_forget_finished_threads)


def _forget_finished_threads() -> None:
    for thread in list(_live_threads):
        try:
            running = thread.isRunning()
        except RuntimeError:  # already deleted by Qt
            running = False
        if not running:
            _live_threads.discard(thread)


def wait_for_thread(thread: QThread, msecs: int = 30_000) -> bool:
    """Block until ``thread`` ended, letting it run Python meanwhile.

    ``QThread.wait`` may hold the GIL while it blocks, so a worker that still
    needs to run Python code would never get there; poll with sleeps instead."""
    deadline = time.monotonic() + msecs / 1000
    while True:
        try:
            if thread.isFinished() or not thread.isRunning():
                return True
        except RuntimeError:  # deleted by Qt: it had finished
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.005)


def live_threads() -> list[QThread]:
    """Threads started by the GUI that are still running."""
    _forget_finished_threads()
    return list(_live_threads)


def return_to_gui_thread(worker: QObject) -> None:
    """Hand a finished worker back to the GUI thread, so that its ``deleteLater``
    runs there. Destroying a Python-derived QObject on the worker thread makes
    PySide take the GIL while Qt holds its signal-slot lock, which deadlocks
    against a GUI thread that holds the GIL and connects a signal."""
    app = QCoreApplication.instance()
    if app is not None and worker.thread() is not app.thread():
        worker.moveToThread(app.thread())


def summarize_exception(exc: BaseException) -> str:
    """One line a user can read: our own errors carry their message, with the
    settings it names by their form labels."""
    if isinstance(exc, MlclsError):
        return with_form_labels(str(exc))
    if isinstance(exc, MemoryError):
        return "Out of memory. Use a smaller batch size or image size."
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _FunctionWorker(QObject):
    succeeded = Signal(object)
    failed = Signal(str, str)
    finished = Signal()

    def __init__(self, function: Callable[[], Any]) -> None:
        super().__init__()
        self._function = function

    @Slot()
    def run(self) -> None:
        try:
            result = self._function()
        except BaseException as exc:  # noqa: BLE001 - reported to the GUI, never lost
            logger.debug("Background task failed", exc_info=True)
            self.failed.emit(summarize_exception(exc), traceback.format_exc())
        else:
            self.succeeded.emit(result)
        finally:
            return_to_gui_thread(self)
            self.finished.emit()


class BackgroundTask(QObject):
    """``function()`` on a fresh QThread; ends with exactly one of done / failed.

    Keep a reference to the task until ``finished``; its signals arrive on
    the thread the task was created in (the GUI thread)."""

    done = Signal(object)
    failed = Signal(str, str)  # one-line summary, details (traceback)
    finished = Signal()

    def __init__(self, function: Callable[[], Any], *, name: str = "task",
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self._thread: QThread | None = QThread()
        self._thread.setObjectName(f"mlcls-{name}")
        self._worker: _FunctionWorker | None = _FunctionWorker(function)
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.run)
        self._worker.succeeded.connect(self.done)
        self._worker.failed.connect(self.failed)
        # Direct: QThread.quit is thread-safe, and a queued quit would wait for
        # the GUI thread, which may itself be waiting for this thread (closing).
        self._worker.finished.connect(self._thread.quit, Qt.ConnectionType.DirectConnection)
        self._worker.finished.connect(self._worker.deleteLater)
        self._thread.finished.connect(self._thread.deleteLater)
        self._thread.finished.connect(self._on_thread_finished)
        self._running = False

    def start(self) -> None:
        assert self._thread is not None, "a BackgroundTask runs once"
        track_thread(self._thread)
        self._running = True
        self._thread.start()

    def is_running(self) -> bool:
        return self._running

    def wait(self, msecs: int = 30_000) -> bool:
        """Block until the thread ended (only for shutdown and tests)."""
        thread = self._thread
        if thread is None:
            return True
        return wait_for_thread(thread, msecs)

    @Slot()
    def _on_thread_finished(self) -> None:
        self._running = False
        self._thread = None
        self._worker = None
        self.finished.emit()
