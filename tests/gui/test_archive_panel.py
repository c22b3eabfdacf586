"""The output folder's earlier runs (issue 15 item 12): their size is shown beside the
output folder, and "Delete earlier runs…" prunes them after asking, never touching
the current run's files, never during a run."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from mlcls_gui.core.runs import outputs
from mlcls_gui.core.runs.run_lock import RunFolderLock
from mlcls_gui.gui.train import archive_panel as archive_module
from mlcls_gui.gui.train.archive_panel import ArchivePanel, PruneDialog

from .conftest import tiny_config, wait_until_ready

TIMEOUT = 30_000
RUN_TIMEOUT = 120_000
MB = 1_000_000
RUNS = {"20240101-090000": 1, "20240102-090000": 2, "20240103-090000": 3}  # name → MB


def output_folder(tmp_path: Path) -> Path:
    """A folder with the current run's files and three earlier runs (1, 2 and 3 MB)."""
    folder = tmp_path / "out"
    for name, size in RUNS.items():
        run = folder / "previous_runs" / name
        run.mkdir(parents=True)
        (run / "final_model.pt").write_bytes(b"\0" * (size * MB))
        (run / "metrics.csv").write_text("epoch\n1\n")
    (folder / "final_model.pt").write_bytes(b"current")
    (folder / "summary.json").write_text("{}")
    return folder


def counted_panel(qtbot: QtBot, folder: Path) -> ArchivePanel:
    panel = ArchivePanel()
    qtbot.addWidget(panel)
    panel.show()
    with qtbot.waitSignal(panel.sizes_shown, timeout=TIMEOUT):
        panel.set_folder(str(folder))
    return panel


def test_the_size_is_counted_off_the_gui_thread_and_pruning_keeps_the_newest(
        qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = output_folder(tmp_path)
    threads: list[bool] = []
    real = outputs.archived_runs

    def counting(path: str) -> list[outputs.ArchivedRun]:
        threads.append(threading.current_thread() is threading.main_thread())
        return real(path)

    monkeypatch.setattr(archive_module, "archived_runs", counting)
    panel = counted_panel(qtbot, folder)
    assert threads == [False]
    assert [run.path.name for run in panel.runs()] == sorted(RUNS, reverse=True)
    text = panel.size_label.text()
    assert "<b>3</b> in previous_runs/" in text and "6.0 MB" in text
    assert panel.delete_button.isEnabled()

    asked: list[list[str]] = []

    def keep_one(runs: list[outputs.ArchivedRun]) -> int:
        asked.append([run.path.name for run in runs])
        return 1

    panel.confirm_prune = keep_one  # type: ignore[method-assign]
    with qtbot.waitSignal(panel.pruned, timeout=TIMEOUT) as pruned:
        panel.delete_button.click()
    assert asked == [sorted(RUNS, reverse=True)] and pruned.args == [2]
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=TIMEOUT)
    assert [p.name for p in (folder / "previous_runs").iterdir()] == ["20240103-090000"]
    assert (folder / "final_model.pt").read_bytes() == b"current" and (folder / "summary.json").is_file()
    assert "<b>1</b> in previous_runs/" in panel.size_label.text() and "3.0 MB" in panel.size_label.text()

    # Cancelled: nothing is deleted.
    panel.confirm_prune = lambda runs: None  # type: ignore[method-assign]
    panel.delete_button.click()
    assert not panel.is_busy() and (folder / "previous_runs" / "20240103-090000").is_dir()


def test_no_pruning_during_a_run_nor_in_a_folder_a_run_holds(qtbot: QtBot, tmp_path: Path) -> None:
    folder = output_folder(tmp_path)
    panel = counted_panel(qtbot, folder)
    panel.set_running(True)
    assert not panel.delete_button.isEnabled()
    assert not panel.prune(0)
    with qtbot.waitSignal(panel.sizes_shown, timeout=TIMEOUT):
        panel.set_running(False)  # the run ended: counted again
    assert panel.delete_button.isEnabled()

    # Another process trains into the folder: refused with a message, nothing deleted.
    with RunFolderLock(folder):
        with qtbot.waitSignal(panel.sizes_shown, timeout=TIMEOUT):
            assert panel.prune(0)
    assert panel.last_error_box is not None and "in use by a training run" in panel.last_error_box.text()
    panel.last_error_box.close()
    assert len(list((folder / "previous_runs").iterdir())) == 3


def test_the_prompt_lists_what_each_choice_deletes(qtbot: QtBot, tmp_path: Path) -> None:
    folder = output_folder(tmp_path)
    runs = outputs.archived_runs(folder)
    dialog = PruneDialog(str(folder), runs)
    qtbot.addWidget(dialog)
    assert dialog.keep() == 1  # the newest is kept unless the user says otherwise
    assert "Deletes 2 of 3 earlier run(s), 3.0 MB" in dialog.verdict_label.text()
    assert dialog.run_list.item(0).text().startswith("20240103-090000") and "kept" in dialog.run_list.item(0).text()
    dialog.keep_spin.setValue(0)
    assert [run.path.name for run in dialog.deleted()] == sorted(RUNS, reverse=True)
    assert "Deletes 3 of 3 earlier run(s), 6.0 MB" in dialog.verdict_label.text()
    dialog.keep_spin.setValue(3)
    assert not dialog.delete_button.isEnabled() and "Nothing to delete" in dialog.verdict_label.text()


def test_the_window_shows_the_size_beside_the_output_folder_and_locks_it_during_a_run(
        qtbot: QtBot, make_window, demo_root: Path, tmp_path: Path) -> None:
    folder = output_folder(tmp_path)
    window = make_window()
    panel = window.archive_panel
    assert window.config_form.group_boxes["Output"].isAncestorOf(panel)
    with qtbot.waitSignal(panel.sizes_shown, timeout=TIMEOUT):
        window.apply_config(tiny_config(demo_root, folder, arch="tiny_cnn", n_epochs=1))
    assert panel.folder() == str(folder) and "<b>3</b> in previous_runs/" in panel.size_label.text()
    wait_until_ready(qtbot, window)
    with qtbot.waitSignal(window.run_ended, timeout=RUN_TIMEOUT):
        assert window.start_run()
        assert not panel.delete_button.isEnabled()  # never while a run trains
    # The run moved the folder's earlier files into previous_runs/: counted again.
    qtbot.waitUntil(lambda: len(panel.runs()) == 4 and not panel.is_busy(), timeout=TIMEOUT)
    assert "<b>4</b> in previous_runs/" in panel.size_label.text() and panel.delete_button.isEnabled()
