"""An output folder that turns read-only, fills up or vanishes mid-run: one
message that names the file and what to do, no tracebacks, earlier files kept."""

from __future__ import annotations

import errno
import logging
import os
import tempfile
from pathlib import Path

import pytest
from conftest import tiny_config

from mlcls_gui.core.errors import TrainingError
from mlcls_gui.core.files.atomic_files import write_failure_advice, written_name
from mlcls_gui.core.model_file.contents import read_model_file
from mlcls_gui.core.training import events as ev
from mlcls_gui.core.training.engine import Trainer


class _FolderTurnsReadOnly:
    """``tempfile.mkstemp`` refuses files in ``folder`` once ``epochs`` epochs ended,
    as a folder made read-only (or remounted so) refuses every new file."""

    def __init__(self, folder: Path, monkeypatch: pytest.MonkeyPatch, error: int) -> None:
        self.folder, self.error, self.frozen = folder, error, False
        real = tempfile.mkstemp

        def mkstemp(*args, **kwargs):
            directory = Path(kwargs.get("dir") or "")
            if self.frozen and (directory == self.folder or self.folder in directory.parents):
                name = directory / f"{kwargs.get('prefix', '')}abcd1234{kwargs.get('suffix', '')}"
                raise OSError(self.error, os.strerror(self.error), str(name))
            return real(*args, **kwargs)

        monkeypatch.setattr(tempfile, "mkstemp", mkstemp)

    def after_epoch(self, event: ev.Event, epochs: int = 2) -> None:
        if isinstance(event, ev.EpochEnd) and event.epoch >= epochs:
            self.frozen = True


@pytest.mark.parametrize("error, words", [
    (errno.EROFS, "read-only"), (errno.EACCES, "read-only"), (errno.ENOENT, "the folder is gone"),
])
def test_a_folder_that_stops_taking_files_ends_the_run_in_one_message(
        tiny_root, tmp_path, monkeypatch, caplog, error, words) -> None:
    out = tmp_path / "out"
    freeze = _FolderTurnsReadOnly(out, monkeypatch, error)
    seen: list[ev.Event] = []

    def on_event(event: ev.Event) -> None:
        seen.append(event)
        freeze.after_epoch(event)

    caplog.set_level(logging.INFO)
    with pytest.raises(TrainingError) as raised:
        Trainer(tiny_config(tiny_root, out, n_epochs=6, tensorboard=True), on_event=on_event).run()
    message = str(raised.value)
    # The file the user knows (not the temporary), the folder, what to do.
    assert "Could not write metrics.csv in the output folder" in message and str(out) in message
    assert words in message and "choose another output folder" in message
    finished = seen[-1]
    assert isinstance(finished, ev.RunFinished) and finished.reason is ev.FinishReason.FAILED
    assert finished.message == message and finished.final_model_path == ""
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not any(r.exc_info for r in loud), [r.getMessage() for r in loud]
    assert not any("Traceback" in r.getMessage() for r in loud)
    # What was written before the folder turned read-only is intact and loads.
    assert read_model_file(out / "checkpoint.pt").labels


def test_temporaries_name_their_target_and_advice_fits_the_error() -> None:
    assert written_name("/run/.metrics.csv.x1y2z3.tmp") == "metrics.csv"
    assert written_name("/run/.final_model.pt.abc.tmp") == "final_model.pt"
    assert written_name(b"/run/events.out".decode()) == "events.out"
    assert "disk is full" in write_failure_advice(OSError(errno.ENOSPC, "No space left on device"))
    assert "unplugged" in write_failure_advice(OSError(errno.EIO, "Input/output error"))
