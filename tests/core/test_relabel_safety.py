"""A hostile or careless data folder cannot make Apply or Undo touch anything
outside it, and a kill at any step leaves every image in exactly one place."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlcls_gui.core.data.data_lock import DATA_LOCK_NAME, DataFolderLock
from mlcls_gui.core.data.demo import write_demo_dataset
from mlcls_gui.core.errors import DataFolderBusyError
from mlcls_gui.core.review import file_moves, relabel_journal
from mlcls_gui.core.review.relabel import (
    JOURNAL_NAME,
    RelabelError,
    apply_label_changes,
    undo_last_apply,
    undo_status,
)
from mlcls_gui.core.review.relabel_journal import write_journal
from tests.core.test_relabel import csv_root, snapshot

IMAGE = "circle/circle_000.png"
BOOKKEEPING = {JOURNAL_NAME, DATA_LOCK_NAME}


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write_demo_dataset(tmp_path / "data", images_per_folder=3, image_size=16)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder beside the data with files a hostile journal would aim at."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / ".bashrc").write_text("echo safe\n", encoding="utf-8")
    (folder / "photo.png").write_bytes(b"not yours")
    return folder


def without_bookkeeping(tree: dict) -> dict:
    return {k: v for k, v in tree.items() if Path(k).name not in BOOKKEEPING}


def hostile_entry(data: Path, **move) -> dict:
    image = (data / IMAGE).read_bytes()
    import hashlib

    plan = {"from": IMAGE, "to": "../outside/home/.config/autostart/evil.png", "size": len(image),
            "sha256": hashlib.sha256(image).hexdigest(), "old": ["circle"], "new": ["x"], **move}
    return {"id": "2026-01-01T00:00:00-abcdef01", "kind": "folders", "state": "applied", "moves": [plan],
            "created_dirs": []}


# ------------------------------------------------------------------ journals from elsewhere
def test_an_unsigned_journal_shipped_with_the_data_is_never_offered(data: Path, outside: Path) -> None:
    """The first version's format, as a data set from someone else would carry it."""
    journal = {"format": relabel_journal.JOURNAL_FORMAT, "version": 1, "applies": [hostile_entry(data)]}
    (data / JOURNAL_NAME).write_text(json.dumps(journal), encoding="utf-8")
    before, outside_before = snapshot(data), snapshot(outside)
    status = undo_status(data)
    assert not status.offered and "no signature" in status.reason and str(data / JOURNAL_NAME) in status.reason
    with pytest.raises(RelabelError, match="Undo is not offered"):
        undo_last_apply(data)
    assert without_bookkeeping(snapshot(data)) == without_bookkeeping(before)
    assert snapshot(outside) == outside_before


def test_a_journal_signed_by_another_user_or_edited_is_foreign(data: Path, monkeypatch) -> None:
    apply_label_changes(data, {str(data / IMAGE): ["cross"]})
    assert undo_status(data).offered
    # Someone else's key: the same journal no longer verifies.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(data.parent / "other-user"))
    status = undo_status(data)
    assert not status.offered and "not written by mlcls-gui for this user" in status.reason
    monkeypatch.undo()
    assert undo_status(data).offered
    # An edit of one character breaks the signature too.
    path = data / JOURNAL_NAME
    path.write_text(path.read_text(encoding="utf-8").replace('"cross/', '"square/'), encoding="utf-8")
    assert "edited" in undo_status(data).reason


def test_a_journal_copied_with_the_data_to_another_folder_is_foreign(data: Path) -> None:
    import shutil

    apply_label_changes(data, {str(data / IMAGE): ["cross"]})
    copy = data.parent / "copy"
    shutil.copytree(data, copy)
    status = undo_status(copy)
    assert not status.offered and "written for another folder" in status.reason
    assert undo_status(data).offered


def test_the_next_apply_sets_a_foreign_journal_aside_and_keeps_it(data: Path) -> None:
    foreign = json.dumps({"format": relabel_journal.JOURNAL_FORMAT, "version": 1, "applies": []})
    (data / JOURNAL_NAME).write_text(foreign, encoding="utf-8")
    result = apply_label_changes(data, {str(data / IMAGE): ["cross"]})
    aside = [p for p in data.iterdir() if p.name.startswith(".mlcls-relabel-journal.untrusted-")]
    assert len(aside) == 1 and aside[0].read_text(encoding="utf-8") == foreign
    assert any("Set aside" in note for note in result.notes)
    assert undo_status(data).offered
    undo_last_apply(data)
    assert (data / IMAGE).is_file()


@pytest.mark.parametrize("move, problem", [
    ({}, "not a plain path below the folder"),                                 # ../outside/…
    ({"to": "/etc/evil.png"}, "absolute path"),
    ({"from": "../outside/photo.png", "to": "circle/in.png"}, "not a plain path"),  # outside file moved in
    ({"to": "cross/.bashrc"}, "not an image file"),
    ({"to": "cross/a.png", "size": "12"}, "'size'"),
    ({"to": "cross/a.png", "sha256": "abc"}, "SHA-256"),
    ({"to": "cross/a.png", "old": "circle"}, "lists of labels"),
])
def test_a_signed_journal_whose_paths_or_types_are_wrong_is_refused_whole(
        data: Path, outside: Path, move: dict, problem: str) -> None:
    """Signed with this user's key (as if edited by a program that knew it): the
    checks of every field still stand between it and the files."""
    write_journal(data / JOURNAL_NAME, [hostile_entry(data, **move)])
    before, outside_before = snapshot(data), snapshot(outside)
    status = undo_status(data)
    assert not status.offered and problem in status.reason and "damaged" in status.reason
    with pytest.raises(RelabelError, match="damaged"):
        undo_last_apply(data)
    assert snapshot(data) == before and snapshot(outside) == outside_before


def test_created_dirs_and_csv_backups_outside_are_refused(tmp_path: Path, outside: Path) -> None:
    root = csv_root(tmp_path)
    base = {"id": "x-1", "kind": "csv", "state": "applied", "csv": "labels.csv", "before_sha256": "0" * 64,
            "after_sha256": "1" * 64, "changes": []}
    for backup, problem in (("labels.csv", "is not a backup"), ("../outside/.bashrc", "not a plain path")):
        write_journal(root / JOURNAL_NAME, [{**base, "backup": backup}])
        assert problem in undo_status(root).reason
    data = write_demo_dataset(tmp_path / "d2", images_per_folder=1, image_size=16)
    write_journal(data / JOURNAL_NAME, [{**hostile_entry(data, to="cross/a.png"), "created_dirs": ["../outside"]}])
    assert "'created_dirs'" in undo_status(data).reason
    assert outside.is_dir()


def test_a_symlinked_label_folder_leads_nowhere_outside(data: Path, outside: Path) -> None:
    (outside / "dog").mkdir()
    (data / "dog").symlink_to(outside / "dog", target_is_directory=True)
    outside_before = snapshot(outside)
    with pytest.raises(RelabelError, match="outside"):
        apply_label_changes(data, {str(data / IMAGE): ["dog"]})
    (outside / "cat").mkdir()
    (outside / "cat" / "x.png").write_bytes((data / IMAGE).read_bytes())
    (data / "cat").symlink_to(outside / "cat", target_is_directory=True)
    with pytest.raises(RelabelError, match="outside"):
        apply_label_changes(data, {str(data / "cat" / "x.png"): ["circle"]})
    assert (outside / "cat" / "x.png").is_file() and snapshot(outside)["dog"] is None
    assert outside_before.items() <= snapshot(outside).items()
    (data / "circle" / "link.png").symlink_to(outside / "photo.png")
    with pytest.raises(RelabelError, match="is a symbolic link, not an image file"):
        apply_label_changes(data, {str(data / "circle" / "link.png"): ["cross"]})
    assert (outside / "photo.png").read_bytes() == b"not yours"


# ------------------------------------------------------------------ one apply at a time
def test_an_apply_waits_for_a_run_and_is_refused_while_it_reads(data: Path, monkeypatch) -> None:
    monkeypatch.setattr("mlcls_gui.core.data.data_lock.APPLY_WAITS_FOR_APPLY_S", 0.2)
    run = DataFolderLock(data, exclusive=False)
    assert run.acquire()
    before = snapshot(data)
    with pytest.raises(DataFolderBusyError, match="training run is reading it"):
        apply_label_changes(data, {str(data / IMAGE): ["cross"]})
    assert snapshot(data) == before
    run.release()
    assert not (data / DATA_LOCK_NAME).exists()  # the last holder removes it
    apply_label_changes(data, {str(data / IMAGE): ["cross"]})


_APPLY_SCRIPT = """
import sys
from mlcls_gui.core.review.relabel import apply_label_changes
root, image, label = sys.argv[1:4]
print(apply_label_changes(root, {image: [label]}).changed[0].after)
"""


def test_two_applies_from_two_processes_both_land_and_both_undo(data: Path) -> None:
    images = [data / "circle" / "circle_001.png", data / "square" / "square_000.png"]
    before = snapshot(data)
    procs = [subprocess.Popen([sys.executable, "-c", _APPLY_SCRIPT, str(data), str(image), "cross"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for image in images]
    outputs = [proc.communicate(timeout=60) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outputs
    entries = json.loads((data / JOURNAL_NAME).read_text(encoding="utf-8"))["applies"]
    assert len(entries) == 2 and entries[0]["id"] != entries[1]["id"]
    undo_last_apply(data)
    undo_last_apply(data)
    assert snapshot(data) == before


# ------------------------------------------------------------------ kill -9 at every step
_KILL_SCRIPT = """
import os, signal, sys
from mlcls_gui.core.review import file_moves
from mlcls_gui.core.review.relabel import apply_label_changes
root, step, count, no_rename = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
if no_rename:
    file_moves.RENAMEAT2 = None
seen = [0]
def hook(name):
    if name == step:
        seen[0] += 1
        if seen[0] == count:
            os.kill(os.getpid(), signal.SIGKILL)
file_moves.FAULT_HOOK = hook
changes = {os.path.join(root, p): ["cross"] for p in ("circle/circle_000.png", "circle/circle_001.png",
                                                       "square/square_000.png")}
changes[os.path.join(root, "triangle/triangle_000.png")] = ["newlabel"]
apply_label_changes(root, changes)
"""


def image_names(root: Path) -> list[str]:
    return sorted(p.name for p in root.rglob("*.png"))


@pytest.mark.parametrize("step, count, no_rename", [
    ("journal-written", 1, False), ("dir-made", 1, False), ("moved", 1, False), ("moved", 3, False),
    ("linked", 1, True), ("linked", 2, True), ("moved", 2, True),
])
def test_a_kill_at_any_step_leaves_each_image_once_and_undo_restores(
        data: Path, step: str, count: int, no_rename: bool) -> None:
    before, names = snapshot(data), image_names(data)
    proc = subprocess.run([sys.executable, "-c", _KILL_SCRIPT, str(data), step, str(count), "1" if no_rename else "0"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == -9, proc.stderr
    if step == "linked":  # killed between the two names of one move: repaired at the next open
        assert len(image_names(data)) == len(names) + 1
        status = undo_status(data)
        assert status.offered
        undo_last_apply(data)
    else:
        assert image_names(data) == names  # every image exactly once, at any moment
        undo_last_apply(data)
    assert snapshot(data) == before


def test_an_apply_cut_short_by_a_full_disk_names_the_move_and_leaves_no_new_folder(
        data: Path, monkeypatch) -> None:
    before = snapshot(data)

    def full_disk(source: Path, destination: Path) -> None:
        raise RelabelError(f"Cannot move {source} to {destination} ({os.strerror(errno.ENOSPC)}).")

    monkeypatch.setattr("mlcls_gui.core.review.relabel.move_no_replace", full_disk)
    with pytest.raises(RelabelError, match="Cannot move .*No space left"):
        apply_label_changes(data, {str(data / IMAGE): ["brand-new"]})
    assert snapshot(data) == before  # the new folder and the journal entry are gone


def test_a_journal_that_cannot_be_written_does_not_hide_the_first_error(data: Path, monkeypatch) -> None:
    real_write = relabel_journal.write_journal
    calls = []

    def write_once(journal, entries):
        calls.append(len(entries))
        if len(calls) > 1:
            raise RelabelError(f"Cannot write the relabel journal {journal} (No space left on device).")
        real_write(journal, entries)

    def failing_move(source: Path, destination: Path) -> None:
        raise RelabelError(f"Cannot move {source} to {destination} (Input/output error).")

    monkeypatch.setattr("mlcls_gui.core.review.relabel.write_journal", write_once)
    monkeypatch.setattr("mlcls_gui.core.review.relabel.move_no_replace", failing_move)
    with pytest.raises(RelabelError) as caught:
        apply_label_changes(data, {str(data / IMAGE): ["cross"]})
    assert str(caught.value).startswith("Cannot move") and "Also: Cannot write the relabel journal" in str(caught.value)


def test_a_read_only_labels_csv_is_not_replaced(tmp_path: Path) -> None:
    root = csv_root(tmp_path)
    (root / "labels.csv").chmod(0o444)
    before = snapshot(root)
    with pytest.raises(Exception, match="read-only"):
        apply_label_changes(root, {str(root / "images" / IMAGE): ["cross"]})
    assert snapshot(root) == before


def test_a_kill_after_the_csv_backup_is_repaired_by_undo(tmp_path: Path) -> None:
    root = csv_root(tmp_path)
    before = snapshot(root)
    script = _KILL_SCRIPT.replace('changes[os.path.join(root, "triangle/triangle_000.png")] = ["newlabel"]\n', "")
    script = script.replace('for p in ("circle/circle_000.png", "circle/circle_001.png",\n'
                            '                                                       "square/square_000.png")',
                            'for p in ("images/circle/circle_000.png",)')
    for step in ("backup-written", "csv-written"):
        proc = subprocess.run([sys.executable, "-c", script, str(root), step, "1", "0"],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == -9, proc.stderr
        undo_last_apply(root)
        assert snapshot(root) == before, step


def test_labels_too_long_for_a_folder_name_are_refused_before_the_journal(data: Path) -> None:
    before = snapshot(data)
    with pytest.raises(RelabelError, match="longer than 255 bytes"):
        apply_label_changes(data, {str(data / IMAGE): ["é" * 90, "ü" * 90]})
    assert snapshot(data) == before


def test_file_moves_fault_hook_is_off_by_default() -> None:
    assert file_moves.FAULT_HOOK is None
