"""Events as JSON lines, so a training run in another process reports like one in a thread.

Every run the window starts is ``mlcls-gui train --events FILE`` in a process
of its own (``supervised_run``); its main process appends one JSON object per
event to FILE, and the window's worker reads them back into the same frozen
dataclasses. The first line names the main process's PID, which takes the
stop and save-checkpoint requests as signals (SIGTERM, SIGUSR1): every process
then acts on them at the same batch. The package's log records travel the same
way (``LogLine``), so the window's log shows what a run in its own thread showed.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, TextIO

from mlcls_gui.core.data.splits import DatasetSummary, SkippedFile
from mlcls_gui.core.training.events import (
    BatchEnd,
    CheckpointSaved,
    EpochEnd,
    Event,
    FilesSkipped,
    FinishReason,
    PhaseChanged,
    RunFinished,
    RunStarted,
)

_TYPES = {cls.__name__: cls for cls in (RunStarted, BatchEnd, EpochEnd, CheckpointSaved, PhaseChanged,
                                        FilesSkipped, RunFinished)}
PROCESS_LINE = "MainProcess"
LOG_LINE = "LogLine"
_PROCESS_LINE_START = json.dumps({"type": PROCESS_LINE})[:-1]  # '{"type": "MainProcess"'


@dataclass(frozen=True)
class LogLine:
    """One log record of the training process: its level, logger name and message."""

    level: int
    name: str
    message: str


def event_to_json(event: Event) -> str:
    data = dataclasses.asdict(event)
    return json.dumps({"type": type(event).__name__, **data}, default=str, allow_nan=True)


def event_from_json(line: str) -> Event | LogLine | None:
    """The event on one line; None for the process line or a line cut short by a crash."""
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    kind_name = data.pop("type", None)
    if kind_name == LOG_LINE:
        return LogLine(int(data.get("level", logging.INFO)), str(data.get("name", "")), str(data.get("message", "")))
    kind = _TYPES.get(kind_name)
    if kind is None:
        return None
    if kind is RunStarted:
        data["labels"] = tuple(data["labels"])
        data["notes"] = tuple(data.get("notes", ()))
        if data.get("dataset"):
            data["dataset"] = _summary_from_dict(data["dataset"])
    elif kind is FilesSkipped:
        data["files"] = tuple(tuple(item) for item in data["files"])
    elif kind is RunFinished:
        data["reason"] = FinishReason(data["reason"])
    return kind(**data)


def _summary_from_dict(data: dict[str, Any]) -> DatasetSummary:
    data = dict(data)
    data["labels"] = tuple(data["labels"])
    data["skipped"] = tuple(SkippedFile(**item) for item in data["skipped"])
    data["warnings"] = tuple(data["warnings"])
    data["problems"] = tuple(data["problems"])
    return DatasetSummary(**data)


class EventWriter:
    """The main process's sink: one flushed line per event."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._lock = threading.Lock()
        self._file: TextIO = open(path, "a", encoding="utf-8")
        self._file.write(json.dumps({"type": PROCESS_LINE, "pid": os.getpid()}) + "\n")
        self._file.flush()

    def __call__(self, event: Event) -> None:
        self._write(event_to_json(event))

    def log_handler(self, level: int = logging.INFO) -> logging.Handler:
        """A handler that writes the records it gets into the stream as ``LogLine``s."""
        return _StreamLogHandler(self, level)

    def _write(self, line: str) -> None:
        with self._lock:  # records come from other threads too: whole lines only
            if not self._file.closed:
                self._file.write(line + "\n")
                self._file.flush()

    def close(self) -> None:
        self._file.close()


class _StreamLogHandler(logging.Handler):
    def __init__(self, writer: EventWriter, level: int) -> None:
        super().__init__(level)
        self._writer = writer

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info and record.exc_info[0] is not None:
                message += "\n" + logging.Formatter().formatException(record.exc_info)
            self._writer._write(json.dumps({"type": LOG_LINE, "level": record.levelno, "name": record.name,
                                            "message": message}))
        except Exception:  # noqa: BLE001 - logging must never end the run
            self.handleError(record)


class EventReader:
    """Follows an event file as it grows; yields whole lines only."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.main_pid: int | None = None
        self._offset = 0
        self._partial = ""

    def read_new(self) -> Iterator[Event | LogLine]:
        try:
            with open(self.path, encoding="utf-8") as handle:
                handle.seek(self._offset)
                text = handle.read()
                self._offset = handle.tell()
        except FileNotFoundError:
            return
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()  # an unfinished last line waits for the rest
        for line in lines:
            if not line.strip():
                continue
            if line.startswith(_PROCESS_LINE_START):
                self.main_pid = int(json.loads(line)["pid"])
                continue
            event = event_from_json(line)
            if event is not None:
                yield event
