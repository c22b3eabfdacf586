"""Architecture names and descriptions for the picker, read off the GUI thread.

The list of every timm model imports timm (and torch) and ``registry.describe``
builds each model on the meta device (tens of milliseconds a name), so both
run off the GUI thread (``TaskRunner``): the picker shows names at once and fills in
parameters, input size and pretrained weights as they arrive. Descriptions
come in small batches, the most recently wanted names first, so the rows the
user is looking at fill in before the ones scrolled past.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from mlcls_gui.core.errors import ModelError
from mlcls_gui.core.models import registry
from mlcls_gui.core.models.registry import ArchitectureInfo
from mlcls_gui.gui.widgets.task_runner import Job, TaskRunner

logger = logging.getLogger(__name__)

BATCH = 6  # names per describing task: rows fill in within a fraction of a second
SEARCH_LIMIT = 200


def describe_names(names: list[str], job: Job | None = None) -> dict[str, ArchitectureInfo | str]:
    """Runs on a background thread: name → its description, or why there is none.

    A name that fails for another reason (e.g. an import racing another thread's)
    is left out, so a later request tries it again; so are the names after a
    Cancel (the user typed on and no longer shows them)."""
    found: dict[str, ArchitectureInfo | str] = {}
    for name in names:
        if job is not None and job.cancelled():
            break
        try:
            found[name] = registry.describe(name)
        except ModelError as exc:  # unknown name, missing timm, unsupported head: say so
            found[name] = str(exc).splitlines()[0]
        except Exception as exc:  # noqa: BLE001 - one bad name must not hide the others
            logger.warning("Could not describe %s: %s", name, exc)
    return found


class ArchCatalog(QObject):
    """Every architecture name (once loaded) and the descriptions asked for so far."""

    names_loaded = Signal()
    described = Signal(list)  # the names whose description (or problem) just arrived

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._names_ready = False
        self.names_problem = ""  # why timm's list could not be read (e.g. timm missing)
        self._names_runner = TaskRunner("arch-names", parent=self)
        self._names_runner.done.connect(self._on_names_task_done)
        self._names_runner.failed.connect(self._on_names_task_failed)
        self._names_runner.finished.connect(self._start_next)
        self._describe_runner = TaskRunner("arch-describe", parent=self)
        self._describe_runner.done.connect(self._on_describe_task_done)
        self._describe_runner.failed.connect(self._on_describe_task_failed)
        self._describe_runner.finished.connect(self._start_next)
        self._info: dict[str, ArchitectureInfo | str] = {}
        self._wanted: list[str] = []
        self._describing: list[str] = []  # the batch of the running describe task
        self._closed = False

    # -------------------------------------------------------------- public
    def load_names(self) -> None:
        """Start reading every timm model name (imports timm) unless done or under way."""
        if self._names_ready or self._closed:
            return
        self._names_runner.start(lambda _job: registry.all_names())

    def names_ready(self) -> bool:
        return self._names_ready

    def search(self, text: str, limit: int = SEARCH_LIMIT) -> list[str]:
        """Names matching ``text`` (recommended first). Until timm's list is loaded
        only the built-in and recommended names: the GUI thread never imports timm."""
        if self._names_ready:
            return registry.search(text, limit=limit)
        words = text.lower().split()
        recommended = [name for names in registry.RECOMMENDED.values() for name in names]
        ordered = dict.fromkeys(recommended + list(registry.SUGGESTED))
        return [name for name in ordered if all(word in name.lower() for word in words)][:limit]

    def info(self, name: str) -> ArchitectureInfo | str | None:
        """The description, a one-line problem when there is none, or None while unknown."""
        return self._info.get(name)

    def request(self, names: list[str]) -> None:
        """Describe these names next (they replace earlier wishes not yet started)."""
        if self._closed:
            return
        self._wanted = [name for name in dict.fromkeys(names) if name and name not in self._info]
        # A batch for names no longer shown stops after its current name: building
        # some models (even on the meta device) takes a second, and typing on
        # would otherwise queue the new rows behind every stale batch.
        if self._describe_runner.is_busy() and not set(self._describing) & set(self._wanted):
            self._describe_runner.cancel()
        self._start_next()

    def is_busy(self) -> bool:
        return self._names_runner.is_busy() or self._describe_runner.is_busy()

    def shutdown(self, msecs: int = 30_000) -> None:
        """Stop asking for more and wait for the running tasks (closing the window, tests)."""
        self._closed = True
        self._wanted = []
        for runner in (self._names_runner, self._describe_runner):
            runner.shutdown(msecs)

    # ------------------------------------------------------------ internal
    @Slot()
    def _start_next(self) -> None:
        # Not beside the names task: two threads importing timm/torchvision at once
        # can see each other's half-initialised modules.
        if self.is_busy() or not self._wanted or self._closed:
            return
        batch, self._wanted = self._wanted[:BATCH], self._wanted[BATCH:]
        self._describing = batch
        self._describe_runner.start(lambda job: describe_names(batch, job))

    @Slot(object)
    def _on_names_task_done(self, _names: Any) -> None:
        self._names_ready = True
        self.names_problem = ""
        self.names_loaded.emit()

    @Slot(str, str)
    def _on_names_task_failed(self, summary: str, details: str) -> None:
        self.names_problem = summary  # the next search tries again
        logger.warning("Could not list the timm models: %s", summary)
        logger.debug("%s", details)

    @Slot(object)
    def _on_describe_task_done(self, found: dict[str, ArchitectureInfo | str]) -> None:
        self._info.update(found)
        self.described.emit(list(found))

    @Slot(str, str)
    def _on_describe_task_failed(self, summary: str, details: str) -> None:
        logger.warning("Could not describe architectures: %s", summary)
        logger.debug("%s", details)
