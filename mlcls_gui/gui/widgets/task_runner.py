"""One slot for "run this off the GUI thread, with progress and Cancel".

Panels used to repeat the same wiring around ``BackgroundTask``: keep the task
until ``finished``, connect done / failed / finished, a ``threading.Event``
for Cancel, a ``ProgressState`` polled by a QTimer, a "pending" request that
replaces a running one, ``wait`` at shutdown. ``TaskRunner`` owns all of it;
a panel keeps one runner per kind of job and connects its signals once.

Why not superqt's ``thread_worker`` (0.9.0, evaluated for this): it runs
functions on ``QThreadPool.globalInstance()``, whose size is the core count,
so on a 2-core machine a third task (a folder scan while the torch warm-up
and a batch prediction run) waits for a free slot — measured: of three 1 s
functions the third started after 1.0 s. Its pool threads are invisible to
``live_threads()``, which the tests' no-thread-left check and the app's
wait at quit rely on, and it can wait only for the whole pool
(``await_workers``), not for one panel's task. Its Cancel (``quit``) reaches
only generator functions between yields, so our functions would still need
their own flag. And it brings qtpy (which picks a Qt binding by itself) and
pygments as dependencies. So each task keeps its own tracked QThread
(``BackgroundTask``) and this module adds the rest.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from mlcls_gui.gui.widgets.background import BackgroundTask

logger = logging.getLogger(__name__)

PROGRESS_POLL_MS = 100  # how often a runner's timer reads its job's ProgressState


def show_progress(bar, done: int, total: int, text: str) -> None:  # bar: QProgressBar
    """A job's ``on_progress`` on a bar: busy (no total) or done/total, with the stage's words."""
    bar.setRange(0, max(total, 0))
    if total:
        bar.setValue(min(done, total))
    bar.setFormat(f"{text} %p%" if total else text)


class ProgressState:
    """Progress written by a worker thread and polled by a GUI timer.

    One attribute holding a tuple: assigning it is atomic under the GIL, so
    no lock and no cross-thread signal per step is needed."""

    def __init__(self) -> None:
        self.value: tuple[int, int, str] = (0, 0, "")

    def set(self, done: int, total: int, phase: str = "") -> None:
        self.value = (int(done), int(total), phase)


class Job:
    """What a task's function gets: its Cancel flag and its progress."""

    def __init__(self) -> None:
        self.cancel = threading.Event()
        self.progress = ProgressState()

    def cancelled(self) -> bool:
        return self.cancel.is_set()


Work = Callable[[Job], Any]


class TaskRunner(QObject):
    """One current task at a time: ``work(job)`` on its own QThread.

    ``done`` / ``failed`` arrive on the GUI thread for the current task, also
    after Cancel (the function decides what a cancelled result is); a task
    replaced by ``replace`` or dropped by ``abandon`` delivers neither.
    ``finished`` follows once the thread has ended and no replacement waits
    (never after ``abandon``), so a slot connected to it may start the next
    task. ``progressed`` carries the job's ``ProgressState`` whenever it
    changed (only with ``poll_progress``). The runner keeps every task it
    started until that task's thread has ended."""

    done = Signal(object)
    failed = Signal(str, str)  # one-line summary, details (traceback)
    finished = Signal()
    progressed = Signal(int, int, str)  # done, total (0: unknown), phase

    def __init__(self, name: str, parent: QObject | None = None, *, poll_progress: bool = False) -> None:
        super().__init__(parent)
        self.name = name
        self._task: BackgroundTask | None = None
        self._job: Job | None = None
        self._ignored = False  # the running task was replaced or abandoned: drop its result
        self._silent = False  # abandoned: not even ``finished``
        self._pending: Work | None = None
        self._detached: list[BackgroundTask] = []  # replaced with overlap: kept until their threads end
        self._shown_progress: tuple[int, int, str] = (0, 0, "")
        self._result_in = False  # done/failed arrived: no more progress for this task
        self._timer: QTimer | None = None
        if poll_progress:
            self._timer = QTimer(self)
            self._timer.setInterval(PROGRESS_POLL_MS)
            self._timer.timeout.connect(self._on_timer_timeout)

    # -------------------------------------------------------------- public
    def start(self, work: Work) -> bool:
        """Run ``work(job)`` off the GUI thread; False (nothing started) while busy."""
        if self.is_busy():
            return False
        self._launch(work)
        return True

    def replace(self, work: Work, *, overlap: bool = False) -> None:
        """Run ``work`` instead of whatever runs or waits now: that task is
        cancelled and its result ignored; the GUI thread never waits for it.
        ``work`` starts once the old thread has ended (one thread per runner),
        or at once beside it with ``overlap`` — for an old task that cannot
        stop early (loading a model), where waiting would only delay the new one."""
        if self._task is None:
            self._launch(work)
        elif overlap:
            self._pending = None
            self._drop_current()
            self._detach_current()
            self._launch(work)
        else:
            self._drop_current()
            self._pending = work

    def cancel(self) -> bool:
        """Ask the running task to stop (its function checks ``job.cancel``) and
        drop a waiting replacement; False when nothing was running."""
        self._pending = None
        if self._job is None:
            return False
        self._job.cancel.set()
        return True

    def abandon(self) -> None:
        """Cancel, and deliver nothing more: no done, failed, progress or finished
        for the running task (closing). The thread still ends on its own."""
        self._pending = None
        self._drop_current()
        self._silent = True

    def is_busy(self) -> bool:
        """A task's thread runs, or a replacement waits for it."""
        return self._task is not None or self._pending is not None

    def is_cancelled(self) -> bool:
        """The running task was asked to stop."""
        return self._job is not None and self._job.cancelled()

    def wait(self, msecs: int = 30_000) -> bool:
        """Block until the running thread (and replaced ones) ended (shutdown and
        tests only); False on timeout."""
        deadline = time.monotonic() + msecs / 1000
        for task in [*self._detached, self._task]:
            left = max(0, int((deadline - time.monotonic()) * 1000))
            if task is not None and not task.wait(left):
                return False
        return True

    def shutdown(self, msecs: int = 30_000) -> bool:
        """Abandon the task and wait up to ``msecs`` for its thread; False: it still runs."""
        self.abandon()
        finished = self.wait(msecs)
        if not finished:
            logger.warning("The %s task still runs after %d ms; leaving it", self.name, msecs)
        return finished

    # ------------------------------------------------------------ internal
    def _launch(self, work: Work) -> None:
        job = Job()
        task = BackgroundTask(lambda: work(job), name=self.name, parent=self)
        task.done.connect(self._on_task_done)
        task.failed.connect(self._on_task_failed)
        task.finished.connect(self._on_task_finished)
        self._task, self._job, self._ignored, self._silent = task, job, False, False
        self._shown_progress = job.progress.value
        self._result_in = False
        if self._timer is not None:
            self._timer.start()
        task.start()

    def _detach_current(self) -> None:
        """Stop listening to the running task; it ends unobserved, then is deleted."""
        task = self._task
        assert task is not None
        task.done.disconnect(self._on_task_done)
        task.failed.disconnect(self._on_task_failed)
        task.finished.disconnect(self._on_task_finished)
        task.finished.connect(self._on_detached_task_finished)
        self._detached.append(task)
        self._task, self._job = None, None

    def _drop_current(self) -> None:
        if self._job is not None:
            self._job.cancel.set()
        self._ignored = True
        if self._timer is not None:
            self._timer.stop()

    @Slot(object)
    def _on_task_done(self, result: Any) -> None:
        self._stop_polling()
        if not self._ignored:
            self.done.emit(result)

    @Slot(str, str)
    def _on_task_failed(self, summary: str, details: str) -> None:
        self._stop_polling()
        if self._ignored:
            logger.debug("Ignored failure of a replaced %s task: %s", self.name, summary)
        else:
            self.failed.emit(summary, details)

    @Slot()
    def _on_task_finished(self) -> None:
        task, silent = self._task, self._silent
        self._task, self._job, self._ignored, self._silent = None, None, False, False
        self._stop_polling()
        if task is not None:
            task.deleteLater()
        pending, self._pending = self._pending, None
        if pending is not None:
            self._launch(pending)
        elif not silent:  # also after a replaced task when Cancel dropped its replacement
            self.finished.emit()

    @Slot()
    def _on_detached_task_finished(self) -> None:
        for task in [task for task in self._detached if not task.is_running()]:
            self._detached.remove(task)
            task.deleteLater()

    def _stop_polling(self) -> None:
        # The result is in: a poll due before the thread's end would show stale
        # progress over what the done/failed slots just wrote (seen in CI).
        self._result_in = True
        if self._timer is not None:
            self._timer.stop()

    @Slot()
    def _on_timer_timeout(self) -> None:
        if self._job is None or self._ignored or self._result_in:
            return
        value = self._job.progress.value
        if value != self._shown_progress:
            self._shown_progress = value
            self.progressed.emit(*value)


class TabJobs(QObject):
    """A tab's several kinds of job (a check or review, Apply, Undo) on one TaskRunner,
    one at a time: which kind runs, the handler of its result, and the tab's progress
    bar (busy, done/total with the stage's words, then empty again)."""

    failed = Signal(str, str)  # one-line summary, details
    finished = Signal()  # after the job's handler ran and ``kind`` is "" again

    def __init__(self, name: str, progress_bar, parent: QObject | None = None) -> None:  # bar: QProgressBar
        super().__init__(parent)
        self.runner = TaskRunner(name, parent=self, poll_progress=True)
        self.kind = ""  # the running job's kind, "" when idle
        self._after: Callable[[Any], None] | None = None
        self._bar = progress_bar
        self.runner.done.connect(self._on_done)
        self.runner.failed.connect(self.failed)
        self.runner.finished.connect(self._on_finished)
        self.runner.progressed.connect(self._on_progress)

    def start(self, work: Work, kind: str, on_done: Callable[[Any], None]) -> bool:
        """Run ``work`` as a job of ``kind``; ``on_done(result)`` on the GUI thread. False while one runs."""
        if not self.runner.start(work):
            return False
        self.kind, self._after = kind, on_done
        self._bar.setRange(0, 0)
        return True

    def is_busy(self) -> bool:
        return self.runner.is_busy()

    def cancel(self, kind: str) -> bool:
        """Cancel the running job if it is of ``kind`` (Apply and Undo run to their end)."""
        return self.kind == kind and self.runner.cancel()

    def shutdown(self, msecs: int = 30_000) -> None:
        self.runner.shutdown(msecs)

    @Slot(object)
    def _on_done(self, result: Any) -> None:
        if self._after is not None:
            self._after(result)

    @Slot(int, int, str)
    def _on_progress(self, done: int, total: int, text: str) -> None:
        show_progress(self._bar, done, total, text)

    @Slot()
    def _on_finished(self) -> None:
        self.kind, self._after = "", None
        self._bar.setRange(0, 1)
        self._bar.setValue(0)
        self._bar.setFormat("")
        self.finished.emit()
