"""Pruning a folder's earlier runs: the rule "never while a run holds the folder"
is the core's (core.runs.outputs.prune_archived_runs), so the window's Delete
earlier runs (tests/gui/test_archive_panel.py) and any other client share it."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlcls_gui.core.errors import RunFolderBusyError
from mlcls_gui.core.output_names import LOCK_NAME
from mlcls_gui.core.runs import outputs
from mlcls_gui.core.runs.run_lock import RunFolderLock, read_lock_owner

RUNS = ("20240101-090000", "20240102-090000", "20240103-090000")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    for name in RUNS:
        (out / "previous_runs" / name).mkdir(parents=True)
        (out / "previous_runs" / name / "final_model.pt").write_bytes(b"x" * 1000)
    (out / "final_model.pt").write_bytes(b"current")
    return out


def test_refused_while_a_run_holds_the_folder(folder: Path) -> None:
    with RunFolderLock(folder):
        with pytest.raises(RunFolderBusyError, match="in use by a training run"):
            outputs.prune_archived_runs(folder, 0)
    assert sorted(p.name for p in (folder / "previous_runs").iterdir()) == list(RUNS)


def test_the_folder_is_held_while_deleting_and_freed_after(folder: Path, monkeypatch) -> None:
    holders = []
    real = outputs.shutil.rmtree

    def rmtree(path, **kwargs):
        holders.append(read_lock_owner(folder))
        real(path, **kwargs)

    monkeypatch.setattr(outputs.shutil, "rmtree", rmtree)
    removed = outputs.prune_archived_runs(folder, 1)
    assert [run.path.name for run in removed] == ["20240102-090000", "20240101-090000"]
    assert len(holders) == 2 and all(owner is not None for owner in holders)  # no run could start meanwhile
    assert read_lock_owner(folder) is None and not (folder / LOCK_NAME).exists()
    assert (folder / "final_model.pt").read_bytes() == b"current"


def test_a_folder_without_earlier_runs_is_left_as_it_is(tmp_path: Path) -> None:
    (tmp_path / "fresh").mkdir()
    assert outputs.prune_archived_runs(tmp_path / "fresh", 0) == []
    assert outputs.prune_archived_runs(tmp_path / "missing", 0) == []
    assert list((tmp_path / "fresh").iterdir()) == [] and not (tmp_path / "missing").exists()
