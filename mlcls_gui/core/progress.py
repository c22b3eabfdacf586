"""The one progress and cancel protocol of the long use cases (batch predict, evaluate …).

A long job takes two optional keyword arguments, both called on the job's own
thread:

    on_progress(done, total, stage="")
        after each step: ``done`` of ``total`` units (images, batches); ``total``
        0 while the amount is not known yet ("Loading the model…").
        ``stage`` names what is being done now ("Predicting", "Copying"); a
        job with a single stage may leave it out.
    should_stop() -> bool
        polled between steps; once it says True the job stops at the next
        check and *returns* (nothing is raised): its result says what was
        left undone (``BatchResult.cancelled``; evaluate returns the report of
        the images done so far, which the window drops).

The window's background helper fits as it is: a ``TaskRunner`` job passes
``on_progress=job.progress.set`` (``ProgressState.set(done, total, phase="")``)
and ``should_stop=job.cancel.is_set`` (or ``job.cancelled``), no adapter. The
CLI passes nothing, or a printer of its own. Nothing here imports torch or Qt.
"""

from __future__ import annotations

from typing import Callable, Protocol


class OnProgress(Protocol):
    """``(done, total, stage="")``: see the module's text."""

    def __call__(self, done: int, total: int, stage: str = "", /) -> None: ...


ShouldStop = Callable[[], bool]


def no_progress(done: int, total: int, stage: str = "", /) -> None:
    """An ``OnProgress`` that shows nothing (the default of every job)."""


def never_stop() -> bool:
    """A ``ShouldStop`` that never asks to stop (the default of every job)."""
    return False
