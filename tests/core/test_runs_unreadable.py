"""One run folder (or one of its files) that cannot be read: ``runs`` lists the
others and names it with the reason.

The tests run as root, where chmod 000 stops nothing: the system calls are made
to refuse as they would for another user; a real chmod test runs for non-root.
"""

from __future__ import annotations

import errno
import json
import os
import pathlib
from pathlib import Path

import pytest

from mlcls_gui.cli import main
from mlcls_gui.core.output_names import ARCHIVE_FOLDER
from mlcls_gui.core.runs.listing import RunsFolderError, find_run_folders, load_runs, read_run

DENIED = "Permission denied"


def _run(folder: Path, run_id: str, started: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"run_id": run_id, "status": "completed", "started_at": started}))
    (folder / "config.json").write_text(json.dumps({"arch": "tiny_cnn", "images_root": "data", "n_epochs": 2}))
    (folder / "summary.json").write_text(json.dumps({"epochs_completed": 2, "best_score": 0.5}))
    return folder


@pytest.fixture()
def three_runs(tmp_path: Path) -> Path:
    """A folder of output folders a, b, c; b keeps an archived run."""
    top = tmp_path / "outputs"
    _run(top / "a", "a", "2026-01-01T10:00:00")
    _run(top / "b", "b", "2026-01-02T10:00:00")
    _run(top / "b" / ARCHIVE_FOLDER / "2026-01-01_09-00-00", "b-old", "2026-01-01T09:00:00")
    _run(top / "c", "c", "2026-01-03T10:00:00")
    return top


def _refuse(path: object) -> None:
    raise PermissionError(errno.EACCES, DENIED, os.fspath(path))


def _deny_folder(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """What chmod 000 on ``folder`` does to another user: it cannot be listed and
    nothing inside it can be looked at or opened (the folder itself still can)."""
    inside = os.fspath(folder) + os.sep
    listing = (os.listdir, os.scandir)
    real_stat, real_open, real_os_open = os.stat, pathlib.Path.open, os.open

    def stat(path, *args, **kwargs):
        if os.fspath(path).startswith(inside):
            _refuse(path)
        return real_stat(path, *args, **kwargs)

    def lister(real):
        def wrapped(path=".", *args, **kwargs):
            if os.fspath(path) == os.fspath(folder) or os.fspath(path).startswith(inside):
                _refuse(path)
            return real(path, *args, **kwargs)
        return wrapped

    def path_open(self, *args, **kwargs):
        if os.fspath(self).startswith(inside):
            _refuse(self)
        return real_open(self, *args, **kwargs)

    def os_open(path, *args, **kwargs):
        if os.fspath(path).startswith(inside):
            _refuse(path)
        return real_os_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stat)
    monkeypatch.setattr(os, "listdir", lister(listing[0]))
    monkeypatch.setattr(os, "scandir", lister(listing[1]))
    monkeypatch.setattr(pathlib.Path, "open", path_open)
    monkeypatch.setattr(os, "open", os_open)


def _deny_file(monkeypatch: pytest.MonkeyPatch, file: Path) -> None:
    """What chmod 000 on one file does: it is there, but reading it is refused."""
    real = pathlib.Path.read_text

    def read_text(self, *args, **kwargs):
        if os.fspath(self) == os.fspath(file):
            _refuse(self)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "read_text", read_text)


# ---------------------------------------------------------------- a folder
def test_an_unreadable_run_folder_is_named_and_the_others_are_listed(
        three_runs: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    _deny_folder(monkeypatch, three_runs / "b")
    assert main(["runs", str(three_runs)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    rows = [line for line in lines[2:] if line and not line.startswith(" ") and "Could not" not in line]
    folders = [next(word for word in line.split() if word in {"a", "b", "c"}) for line in rows]
    assert folders == ["c", "a", "b"]  # newest first; b has no date
    assert rows[-1].split()[-1] == "unreadable"
    assert f"{three_runs / 'b'}: the folder cannot be read ({DENIED})" in out


def test_the_json_lists_the_unreadable_folder_with_its_reason(
        three_runs: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    _deny_folder(monkeypatch, three_runs / "b")
    assert main(["runs", str(three_runs), "--json"]) == 0
    runs = {Path(run["folder"]).name: run for run in json.loads(capsys.readouterr().out)["runs"]}
    assert set(runs) == {"a", "b", "c"}
    assert runs["a"]["ended"] == runs["c"]["ended"] == "finished"
    assert runs["b"]["ended"] == "unreadable" and DENIED in runs["b"]["message"]
    assert runs["b"]["problems"] == [f"the folder cannot be read ({DENIED})"]


def test_an_unreadable_archive_folder_is_named(
        three_runs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = three_runs / "b" / ARCHIVE_FOLDER
    _deny_folder(monkeypatch, archive)
    records = {r.folder: r for r in load_runs([three_runs])}
    assert records[(three_runs / "b").resolve()].ended == "finished"  # its own run is read
    assert records[archive.resolve()].ended == "unreadable"
    assert len(records) == 4  # a, b, c and the archive that cannot be looked into


def test_the_given_folder_itself_unreadable(three_runs: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture) -> None:
    _deny_folder(monkeypatch, three_runs / "b")
    records = load_runs([three_runs / "b"])
    assert [r.ended for r in records] == ["unreadable"]
    assert main(["runs", str(three_runs / "b"), str(three_runs / "a")]) == 0
    out = capsys.readouterr().out
    assert "unreadable" in out and "finished" in out


def test_a_given_folder_that_cannot_be_looked_at_is_one_line(
        three_runs: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    _deny_folder(monkeypatch, three_runs)  # "b" itself cannot be looked at: its parent is closed
    with pytest.raises(RunsFolderError, match=f"cannot be read \\({DENIED}\\)"):
        find_run_folders([three_runs / "b"])
    notes: list[str] = []
    assert load_runs([three_runs / "b"], notes) == [] and DENIED in notes[0]  # the window's way
    assert main(["runs", str(three_runs / "b")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and DENIED in err and "Traceback" not in err


# ---------------------------------------------------------------- a file
@pytest.mark.parametrize("name", ["run.json", "summary.json", "config.json"])
def test_an_unreadable_run_file_is_named_with_the_reason(
        three_runs: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, name: str) -> None:
    _deny_file(monkeypatch, three_runs / "b" / name)
    assert main(["runs", str(three_runs), "--json"]) == 0
    runs = {Path(run["folder"]).name: run for run in json.loads(capsys.readouterr().out)["runs"]}
    assert len(runs) == 4  # a, b, b's archived run, c
    assert f"{name} cannot be read ({DENIED})" in runs["b"]["problems"]
    assert all(not run["problems"] for key, run in runs.items() if key != "b")


def test_an_unreadable_metrics_file_is_named_with_the_reason(
        three_runs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    metrics = three_runs / "a" / "metrics.csv"
    metrics.write_text("epoch,train_loss\n1,0.5\n")
    real_open = open

    def deny(file, *args, **kwargs):
        if os.fspath(file) == os.fspath(metrics):
            _refuse(file)
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", deny)
    record = read_run(three_runs / "a")
    assert f"metrics.csv cannot be read ({DENIED})" in record.problems and record.ended == "finished"


# ---------------------------------------------------------------- for real
@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root reads a chmod 000 folder anyway")
def test_a_real_chmod_000_run_folder(three_runs: Path, capsys: pytest.CaptureFixture) -> None:
    closed = three_runs / "b"
    closed.chmod(0)
    try:
        assert main(["runs", str(three_runs), "--json"]) == 0
        runs = {Path(run["folder"]).name: run for run in json.loads(capsys.readouterr().out)["runs"]}
        assert runs["b"]["ended"] == "unreadable" and runs["a"]["ended"] == runs["c"]["ended"] == "finished"
    finally:
        closed.chmod(0o755)
