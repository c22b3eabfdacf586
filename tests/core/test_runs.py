"""The runs table: real run folders (finished, archived, stopped), older and damaged ones, the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from conftest import tiny_config

from mlcls_gui.cli import main
from mlcls_gui.core.output_names import ARCHIVE_FOLDER
from mlcls_gui.core.runs.listing import (
    MISSING,
    RunsFolderError,
    cell_text,
    config_diff,
    differing_settings,
    find_run_folders,
    load_runs,
    read_curves,
    read_run,
    table_row,
)
from mlcls_gui.core.runs.run_lock import RunFolderLock
from mlcls_gui.core.training.engine import RunControl, Trainer


@pytest.fixture(scope="session")
def two_runs(tiny_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two real tiny_cnn runs into one output folder: the first ends in previous_runs/."""
    torch.set_num_threads(1)
    output = tmp_path_factory.mktemp("runs") / "out"
    Trainer(tiny_config(tiny_root, output, arch="tiny_cnn", n_epochs=2, learning_rate=1e-3)).run()
    Trainer(tiny_config(tiny_root, output, arch="tiny_cnn", n_epochs=1, learning_rate=1e-2,
                        batch_size=4)).run()
    return output


def _copy(run: Path, target: Path) -> Path:
    shutil.copytree(run, target, ignore=shutil.ignore_patterns(ARCHIVE_FOLDER, "*.pt"))
    return target


def test_finds_the_run_and_its_archived_runs_newest_first(two_runs: Path) -> None:
    records = load_runs([two_runs])
    assert [r.folder for r in records] == [two_runs.resolve(), *[
        p.resolve() for p in (two_runs / ARCHIVE_FOLDER).iterdir()]]
    newest, older = records
    assert not newest.archived and older.archived
    assert (newest.ended, older.ended) == ("finished", "finished")
    assert (newest.epochs, older.epochs) == (1, 2)
    assert newest.arch == "tiny_cnn" and Path(newest.data_root).name == "data"
    summary = json.loads((two_runs / "summary.json").read_text())
    assert newest.test_map == pytest.approx(summary["test_map"])
    assert newest.test_exact_match == pytest.approx(summary["test_exact_match"])
    assert newest.best_score == pytest.approx(summary["best_score"]) and newest.monitor == "val_loss"
    assert newest.wall_seconds == pytest.approx(summary["wall_seconds"]) and not newest.wall_estimated
    assert newest.model_path == two_runs.resolve() / "final_model.pt"
    assert older.model_path is not None and older.model_path.parent == older.folder
    assert not newest.problems and not older.problems


def test_settings_that_differ_and_the_config_diff(two_runs: Path) -> None:
    newest, older = load_runs([two_runs])
    assert differing_settings([newest, older]) == ["batch_size", "learning_rate", "n_epochs"]
    assert differing_settings([newest]) == []
    diff = {d.name: (d.first, d.second) for d in config_diff(newest, older)}
    assert diff == {"batch_size": (4, 8), "learning_rate": (1e-2, 1e-3), "n_epochs": (1, 2)}
    row = table_row(newest, differing_settings([newest, older]))
    assert cell_text(row, "settings") == "batch_size=4, learning_rate=0.01, n_epochs=1"
    assert cell_text(row, "epochs") == "1/1"
    assert cell_text(row, "ended") == "finished"
    assert cell_text(row, "best_val").startswith("val_loss 0.")


def test_curves_come_from_metrics_csv(two_runs: Path) -> None:
    older = load_runs([two_runs])[1]
    curves = read_curves(older.folder)
    assert curves.epochs == [1.0, 2.0]
    assert len(curves.values["val_loss"]) == 2 and all(v > 0 for v in curves.values["train_loss"])
    assert 0.0 <= curves.values["val_accuracy"][0] <= 1.0


def test_an_older_versions_folder_says_what_it_knows(two_runs: Path, tmp_path: Path) -> None:
    old = _copy(two_runs, tmp_path / "old")
    (old / "run.json").unlink()
    (old / "summary.json").unlink()
    record = read_run(old)
    assert record.ended == "unknown" and "no run.json" in record.message
    assert record.epochs == 1 and record.best_score is not None and record.best_epoch == 1
    assert record.wall_estimated and record.wall_seconds is not None
    assert record.test_map is None and record.started_at  # the files' date stands in
    row = table_row(record, [])
    assert cell_text(row, "test_map") == "—" and cell_text(row, "wall").startswith("≈")


def test_corrupt_json_and_csv_never_crash(two_runs: Path, tmp_path: Path) -> None:
    broken = _copy(two_runs, tmp_path / "broken")
    (broken / "summary.json").write_text("{ not json")
    (broken / "config.json").write_text("[1, 2]")
    (broken / "metrics.csv").write_bytes(b"\xff\xfe\x00garbage\n\x00\x00")
    record = read_run(broken)
    assert record.ended == "finished"  # run.json still says so
    assert any("summary.json cannot be read" in p for p in record.problems)
    assert "config.json is not a JSON object" in record.problems
    assert record.arch == "" and record.config == {} and record.model_path is None
    assert read_curves(broken).epochs == []
    # A run without a config takes no part in the settings that differ.
    assert differing_settings([record, read_run(two_runs)]) == []


def test_a_running_run_is_marked_running(two_runs: Path, tmp_path: Path) -> None:
    live = _copy(two_runs, tmp_path / "live")
    run_json = json.loads((live / "run.json").read_text())
    (live / "run.json").write_text(json.dumps({**run_json, "status": "running"}))
    (live / "summary.json").unlink()
    with RunFolderLock(live):
        record = read_run(live)
        assert record.ended == "running" and "training now" in record.message
    # The lock is gone and no final status came: the process died.
    record = read_run(live)
    assert record.ended == "interrupted" and "killed" in record.message


def test_a_failed_run_shows_the_logged_reason(two_runs: Path, tmp_path: Path) -> None:
    failed = _copy(two_runs, tmp_path / "failed")
    run_json = json.loads((failed / "run.json").read_text())
    (failed / "run.json").write_text(json.dumps({**run_json, "status": "running"}))
    (failed / "summary.json").unlink()
    with open(failed / "train.log", "a", encoding="utf-8") as log:
        log.write("2026-01-01 00:00:00 INFO Run failed: The loss became nan at epoch 1, batch 2\n")
    record = read_run(failed)
    assert record.ended == "failed" and record.message.startswith("The loss became nan")


def test_a_stopped_run(tiny_root: Path, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    control = RunControl()
    control.request_stop()
    Trainer(tiny_config(tiny_root, tmp_path / "stopped", arch="tiny_cnn", n_epochs=3), control=control).run()
    record = read_run(tmp_path / "stopped")
    assert record.ended == "stopped"


def test_a_folder_of_output_folders_and_a_missing_folder(two_runs: Path, tmp_path: Path) -> None:
    _copy(two_runs, tmp_path / "a")
    (tmp_path / "not-a-run").mkdir()
    assert find_run_folders([tmp_path]) == [(tmp_path / "a").resolve()]
    with pytest.raises(RunsFolderError, match="does not exist"):
        find_run_folders([tmp_path / "nowhere"])
    assert load_runs([tmp_path / "not-a-run"]) == []


def test_config_diff_marks_fields_one_run_lacks(two_runs: Path, tmp_path: Path) -> None:
    old = _copy(two_runs, tmp_path / "old")
    config = json.loads((old / "config.json").read_text())
    del config["cache_images"]
    config["learning_rate"] = 0.5
    (old / "config.json").write_text(json.dumps(config))
    new, older = read_run(two_runs), read_run(old)
    diff = {d.name: (d.first, d.second) for d in config_diff(new, older)}
    assert diff["cache_images"] == (new.config["cache_images"], MISSING)
    # A field an older config lacks counts as its default in "settings that differ".
    assert differing_settings([new, older]) == ["learning_rate"]


def test_cli_prints_the_table_and_json(two_runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["runs", str(two_runs)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[1].split()[:3] == ["Date", "Folder", "Data"] and "Test mAP" in lines[1]
    assert len(lines) == 4 and "learning_rate=0.01" in lines[2] and f"{ARCHIVE_FOLDER}/" in lines[3]
    assert main(["runs", str(two_runs), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["differing_settings"] == ["batch_size", "learning_rate", "n_epochs"]
    assert [run["ended"] for run in data["runs"]] == ["finished", "finished"]
    assert data["runs"][0]["settings"]["learning_rate"] == 0.01


def test_cli_refuses_a_missing_folder_and_says_when_there_are_no_runs(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["runs", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["runs", str(tmp_path)]) == 0
    assert "No training runs" in capsys.readouterr().out
