"""TaskRunner: one task at a time off the GUI thread, with Cancel, progress and replacing."""

from __future__ import annotations

import threading
from typing import Any

from PySide6.QtCore import QCoreApplication, QTimer
from pytestqt.qtbot import QtBot

from mlcls_gui.gui.widgets.background import live_threads
from mlcls_gui.gui.widgets.task_runner import PROGRESS_POLL_MS, Job, TaskRunner

TIMEOUT = 10_000


class Recorder:
    """Every signal of a runner, in order."""

    def __init__(self, runner: TaskRunner) -> None:
        self.events: list[tuple[Any, ...]] = []
        runner.done.connect(lambda result: self.events.append(("done", result)))
        runner.failed.connect(lambda summary, details: self.events.append(("failed", summary, details)))
        runner.finished.connect(lambda: self.events.append(("finished",)))
        runner.progressed.connect(lambda *value: self.events.append(("progress", *value)))

    def names(self) -> list[str]:
        return [event[0] for event in self.events]


def blocked_until(release: threading.Event, started: threading.Event, result: object):  # -> Work
    def work(job: Job) -> object:
        started.set()
        assert release.wait(TIMEOUT / 1000)
        return ("cancelled", result) if job.cancelled() else result
    return work


def test_the_function_runs_off_the_gui_thread_and_done_then_finished_arrive(qtbot: QtBot) -> None:
    runner = TaskRunner("test-done")
    recorder = Recorder(runner)
    threads: list[bool] = []
    checked = threading.Event()  # the thread must still run when the test looks for it

    def work(job: Job) -> int:
        threads.append(threading.current_thread() is threading.main_thread())
        checked.wait(TIMEOUT / 1000)
        return 42

    with qtbot.waitSignal(runner.finished, timeout=TIMEOUT):
        assert runner.start(work)
        assert runner.is_busy()
        assert [thread.objectName() for thread in live_threads()] == ["mlcls-test-done"]
        checked.set()
    assert threads == [False]
    assert recorder.events == [("done", 42), ("finished",)]
    assert not runner.is_busy()


def test_an_exception_arrives_as_failed_with_its_traceback(qtbot: QtBot) -> None:
    runner = TaskRunner("test-failed")
    recorder = Recorder(runner)

    def work(job: Job) -> None:
        raise ValueError("bad value\nsecond line")

    with qtbot.waitSignal(runner.finished, timeout=TIMEOUT):
        runner.start(work)
    assert recorder.names() == ["failed", "finished"]
    assert recorder.events[0][1] == "ValueError: bad value"
    assert "Traceback" in recorder.events[0][2] and "bad value" in recorder.events[0][2]


def test_start_is_refused_while_busy_and_a_finished_slot_may_start_the_next(qtbot: QtBot) -> None:
    runner = TaskRunner("test-chain")
    recorder = Recorder(runner)
    release, started = threading.Event(), threading.Event()
    queue = [2, 3]

    def start_next() -> None:
        if queue:
            number = queue.pop(0)
            assert runner.start(lambda job: number)

    runner.finished.connect(start_next)
    assert runner.start(blocked_until(release, started, 1))
    assert not runner.start(lambda job: "refused")
    release.set()
    qtbot.waitUntil(lambda: recorder.names().count("finished") == 3, timeout=TIMEOUT)
    assert [event[1] for event in recorder.events if event[0] == "done"] == [1, 2, 3]


def test_replace_cancels_and_ignores_the_running_task_and_starts_after_it_ended(qtbot: QtBot) -> None:
    runner = TaskRunner("test-replace")
    recorder = Recorder(runner)
    release, started = threading.Event(), threading.Event()
    jobs: list[Job] = []
    old_running = threading.Event()

    def old(job: Job) -> str:
        jobs.append(job)
        old_running.set()
        result = blocked_until(release, started, "old")(job)
        old_running.clear()
        return result  # type: ignore[return-value]

    overlapped: list[bool] = []

    def new(job: Job) -> str:
        overlapped.append(old_running.is_set())
        return "new"

    runner.start(old)
    qtbot.waitUntil(started.is_set, timeout=TIMEOUT)
    runner.replace(lambda job: "skipped")  # replaced again before it could start
    runner.replace(new)  # returns at once although the old task still runs
    assert jobs[0].cancelled() and runner.is_busy()
    with qtbot.waitSignal(runner.finished, timeout=TIMEOUT):
        release.set()
    assert recorder.events == [("done", "new"), ("finished",)]
    assert overlapped == [False]


def test_cancel_sets_the_flag_and_the_result_still_arrives(qtbot: QtBot) -> None:
    runner = TaskRunner("test-cancel")
    recorder = Recorder(runner)
    release, started = threading.Event(), threading.Event()
    assert not runner.cancel()  # nothing runs
    runner.start(blocked_until(release, started, "result"))
    qtbot.waitUntil(started.is_set, timeout=TIMEOUT)
    assert not runner.is_cancelled()
    assert runner.cancel() and runner.is_cancelled()
    with qtbot.waitSignal(runner.finished, timeout=TIMEOUT):
        release.set()
    assert recorder.events == [("done", ("cancelled", "result")), ("finished",)]


def test_cancel_after_replace_drops_the_replacement_and_still_finishes(qtbot: QtBot) -> None:
    runner = TaskRunner("test-cancel-replace")
    recorder = Recorder(runner)
    release, started = threading.Event(), threading.Event()
    runner.start(blocked_until(release, started, "old"))
    qtbot.waitUntil(started.is_set, timeout=TIMEOUT)
    runner.replace(lambda job: "new")
    runner.cancel()
    with qtbot.waitSignal(runner.finished, timeout=TIMEOUT):
        release.set()
    assert recorder.events == [("finished",)]


def test_progress_is_polled_and_sent_when_it_changed(qtbot: QtBot) -> None:
    runner = TaskRunner("test-progress", poll_progress=True)
    recorder = Recorder(runner)
    steps = [threading.Event() for _ in range(2)]

    def work(job: Job) -> str:
        job.progress.set(0, 0, "Loading")
        assert steps[0].wait(TIMEOUT / 1000)
        job.progress.set(3, 10, "Predicting")
        assert steps[1].wait(TIMEOUT / 1000)
        return "done"

    runner.start(work)
    qtbot.waitUntil(lambda: ("progress", 0, 0, "Loading") in recorder.events, timeout=TIMEOUT)
    for _ in range(2):  # two more polls (the runner's own slot runs first), no change: nothing new
        with qtbot.waitSignal(runner._timer.timeout, timeout=TIMEOUT):
            pass
    assert recorder.events == [("progress", 0, 0, "Loading")]
    steps[0].set()
    qtbot.waitUntil(lambda: ("progress", 3, 10, "Predicting") in recorder.events, timeout=TIMEOUT)
    with qtbot.waitSignal(runner.finished, timeout=TIMEOUT):
        steps[1].set()
    assert recorder.events == [("progress", 0, 0, "Loading"), ("progress", 3, 10, "Predicting"),
                               ("done", "done"), ("finished",)]


def test_without_poll_progress_nothing_is_polled(qtbot: QtBot) -> None:
    runner = TaskRunner("test-no-progress")
    recorder = Recorder(runner)
    release = threading.Event()

    progress_set = threading.Event()

    def work(job: Job) -> None:
        job.progress.set(1, 2, "step")
        progress_set.set()
        release.wait(TIMEOUT / 1000)

    runner.start(work)
    assert runner.findChildren(QTimer) == []  # no timer to poll with
    # A progress that was set reaches nobody while the task runs (a polling runner
    # would send it within PROGRESS_POLL_MS): a few poll periods, nothing.
    qtbot.waitUntil(lambda: progress_set.is_set(), timeout=TIMEOUT)
    with qtbot.assertNotEmitted(runner.progressed, wait=3 * PROGRESS_POLL_MS):
        pass
    with qtbot.waitSignal(runner.finished, timeout=TIMEOUT):
        release.set()
    assert recorder.names() == ["done", "finished"]


def test_shutdown_can_give_up_waiting_and_delivers_nothing_afterwards(qtbot: QtBot) -> None:
    runner = TaskRunner("test-shutdown")
    recorder = Recorder(runner)
    release, started = threading.Event(), threading.Event()
    jobs: list[Job] = []

    def work(job: Job) -> str:
        jobs.append(job)
        return blocked_until(release, started, "late")(job)  # type: ignore[return-value]

    runner.start(work)
    qtbot.waitUntil(started.is_set, timeout=TIMEOUT)
    assert not runner.shutdown(50)  # still blocked: abandoned, not waited for
    assert jobs[0].cancelled()
    release.set()
    # Not busy: the thread's finished reached the runner, after its result (queued in
    # order from that thread); what those slots posted runs now.
    qtbot.waitUntil(lambda: not runner.is_busy(), timeout=TIMEOUT)
    QCoreApplication.processEvents()
    assert recorder.events == []
    assert runner.shutdown(50)  # nothing runs any more


def test_replace_with_overlap_starts_at_once_and_the_old_task_ends_unobserved(qtbot: QtBot) -> None:
    runner = TaskRunner("test-overlap")
    recorder = Recorder(runner)
    release, started = threading.Event(), threading.Event()
    runner.start(blocked_until(release, started, "old"))
    qtbot.waitUntil(started.is_set, timeout=TIMEOUT)
    with qtbot.waitSignal(runner.finished, timeout=TIMEOUT):
        runner.replace(lambda job: "new", overlap=True)
    assert recorder.events == [("done", "new"), ("finished",)]  # while the old one still runs
    assert not runner.is_busy()
    assert [thread.objectName() for thread in live_threads()] == ["mlcls-test-overlap"]
    assert not runner.wait(50)  # shutdown would still wait for the old thread
    release.set()
    assert runner.wait(TIMEOUT)
    qtbot.waitUntil(lambda: not runner._detached, timeout=TIMEOUT)
    assert recorder.events == [("done", "new"), ("finished",)]


def test_no_progress_arrives_after_the_result(qtbot: QtBot) -> None:
    """A poll due just after ``done`` must not repaint stale progress over the result."""
    runner = TaskRunner("test-late-poll", poll_progress=True)
    events: list[str] = []
    runner.progressed.connect(lambda *_: events.append("progressed"))

    def on_done(_result: object) -> None:
        events.append("done")
        runner._timer.timeout.emit()  # the poll that fell between the result and the thread's end

    runner.done.connect(on_done)

    def work(job: Job) -> int:
        job.progress.set(5, 5, "almost")
        return 1

    with qtbot.waitSignal(runner.finished, timeout=TIMEOUT):
        assert runner.start(work)
    assert events[-1] == "done"
