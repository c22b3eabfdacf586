"""A finished run is never lost and a score is what it claims (in-process checks)."""

import json
import os
import shutil

import pytest
import torch
from conftest import tiny_config

from mlcls_gui.cli import main
from mlcls_gui.core.config import TrainConfig
from mlcls_gui.core.data.loaders import batch_chunks, batch_count
from mlcls_gui.core.errors import CheckpointError, ConfigError, DatasetError, RunFolderBusyError
from mlcls_gui.core.model_file.contents import read_model_file
from mlcls_gui.core.output_names import LOCK_NAME
from mlcls_gui.core.runs.run_lock import RunFolderLock, read_lock_owner
from mlcls_gui.core.training import events as ev
from mlcls_gui.core.training.engine import Trainer


def _train(cfg, **kw):
    return Trainer(cfg, **kw).run()


# ------------------------------------------------------------------ the lock
def test_a_locked_output_folder_refuses_a_second_run_and_keeps_its_files(tiny_root, tmp_path):
    out = tmp_path / "out"
    _train(tiny_config(tiny_root, out, n_epochs=1))
    before = (out / "final_model.pt").read_bytes()
    with RunFolderLock(out):
        seen = []
        with pytest.raises(RunFolderBusyError, match=rf"in use by a training run \(process {os.getpid()}"):
            Trainer(tiny_config(tiny_root, out, n_epochs=1), on_event=seen.append).run()
        assert isinstance(seen[-1], ev.RunFinished) and seen[-1].reason is ev.FinishReason.FAILED
        assert seen[-1].final_model_path == ""
    # Nothing was archived, moved or written by the refused run.
    assert (out / "final_model.pt").read_bytes() == before
    assert not (out / "previous_runs").exists()
    assert not (out / LOCK_NAME).exists()


def test_a_stale_lock_file_is_taken_over_with_a_log_line(tiny_root, tmp_path, caplog):
    out = tmp_path / "out"
    out.mkdir()
    # What a killed run leaves: the file, but no process holding its lock.
    (out / LOCK_NAME).write_text(json.dumps(
        {"pid": 999999, "host": "gone", "started": "2026-01-01T00:00:00", "command": "mlcls-gui train"}))
    assert read_lock_owner(out) is None
    with caplog.at_level("WARNING", logger="mlcls_gui"):
        result = _train(tiny_config(tiny_root, out, n_epochs=1))
    assert result.reason is ev.FinishReason.COMPLETED
    assert "no longer running" in caplog.text and "999999" in caplog.text
    assert not (out / LOCK_NAME).exists()


def test_the_lock_names_its_owner_while_held(tmp_path):
    lock = RunFolderLock(tmp_path)
    lock.acquire()
    try:
        owner = read_lock_owner(tmp_path)
        assert owner is not None and owner.pid == os.getpid()
        with pytest.raises(RunFolderBusyError, match="in use"):
            RunFolderLock(tmp_path).acquire()
    finally:
        lock.release()
    assert read_lock_owner(tmp_path) is None
    RunFolderLock(tmp_path).acquire()  # free again


def test_a_run_refused_just_after_another_took_the_lock_still_names_it(tmp_path):
    """The holder writes its details a moment after its flock; the refused run waits
    for them instead of saying "another run" (CI saw this race with two processes)."""
    import fcntl
    import threading
    import time

    fd = os.open(tmp_path / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # locked, nothing written yet
    owner = {"pid": 4242, "host": "elsewhere", "started": "now", "command": "train"}

    def write_later() -> None:
        time.sleep(0.2)
        os.write(fd, json.dumps(owner).encode())

    writer = threading.Thread(target=write_later)
    writer.start()
    try:
        with pytest.raises(RunFolderBusyError, match="process 4242 on elsewhere"):
            RunFolderLock(tmp_path).acquire()
    finally:
        writer.join()
        os.close(fd)


def test_a_failed_start_leaves_no_empty_output_folder(tmp_path):
    out = tmp_path / "never"
    with pytest.raises(DatasetError, match="does not exist"):
        _train(TrainConfig(images_root=str(tmp_path / "missing"), save_model_folder=str(out)))
    assert not out.exists()


# ------------------------------------------------------------------ resume
def test_resume_continues_in_the_checkpoints_folder_not_over_another_run(tiny_root, tmp_path):
    first, other = tmp_path / "first", tmp_path / "other"
    _train(tiny_config(tiny_root, first, n_epochs=1))
    _train(tiny_config(tiny_root, other, n_epochs=1))
    other_files = {p.name: p.read_bytes() for p in other.iterdir() if p.is_file()}
    # The config names the other run's folder; the resume must not write there.
    result = _train(tiny_config(tiny_root, other, n_epochs=2),
                    resume_from=first / "last_checkpoint.pt")
    assert result.output_dir == str(first.resolve())
    assert {p.name: p.read_bytes() for p in other.iterdir() if p.is_file()} == other_files
    assert read_model_file(first / "final_model.pt").epoch == 2
    saved = json.loads((first / "config.json").read_text())
    assert saved["save_model_folder"] == str(first.resolve())
    assert "continues in the checkpoint's folder" in (first / "train.log").read_text()


def test_resume_from_an_archived_run_continues_there(tiny_root, tmp_path):
    out = tmp_path / "out"
    _train(tiny_config(tiny_root, out, n_epochs=1))
    _train(tiny_config(tiny_root, out, n_epochs=1))  # archives the first run
    (archived,) = (out / "previous_runs").iterdir()
    current = (out / "final_model.pt").read_bytes()
    result = _train(tiny_config(tiny_root, out, n_epochs=2), resume_from=archived / "last_checkpoint.pt")
    assert result.output_dir == str(archived.resolve())
    assert (out / "final_model.pt").read_bytes() == current
    assert read_model_file(archived / "final_model.pt").epoch == 2


def test_a_checkpoint_copied_into_another_runs_folder_resumes_beside_it(tiny_root, tmp_path):
    first, other = tmp_path / "first", tmp_path / "other"
    _train(tiny_config(tiny_root, first, n_epochs=1))
    _train(tiny_config(tiny_root, other, n_epochs=1))
    shutil.copy(first / "last_checkpoint.pt", other / "from_first.pt")
    before = (other / "final_model.pt").read_bytes()
    result = _train(tiny_config(tiny_root, other, n_epochs=2), resume_from=other / "from_first.pt")
    assert result.output_dir != str(other.resolve()) and "other-resumed-" in result.output_dir
    assert (other / "final_model.pt").read_bytes() == before


def test_resume_keeps_the_checkpoints_split_and_shape_and_writes_the_effective_config(tiny_root, tmp_path):
    out = tmp_path / "out"
    _train(tiny_config(tiny_root, out, n_epochs=1, learning_rate=1e-3))
    seen = []
    changed = tiny_config(tiny_root, out, n_epochs=2, seed=7, val_fraction=0.3, image_size=48,
                          learning_rate=1e-4)
    Trainer(changed, on_event=seen.append, resume_from=out / "last_checkpoint.pt").run()
    saved = json.loads((out / "config.json").read_text())
    assert (saved["seed"], saved["val_fraction"], saved["image_size"]) == (42, 0.2, 32)
    assert saved["learning_rate"] == 1e-3 and saved["n_epochs"] == 2
    started = next(e for e in seen if isinstance(e, ev.RunStarted))
    assert any("seed" in note for note in started.notes)
    log = (out / "train.log").read_text()
    assert "Resume: `seed` is 42 as in the checkpoint, not 7" in log
    summary = json.loads((out / "summary.json").read_text())
    assert summary["test_held_out"] is True


def test_resume_on_changed_data_is_refused_or_marked_not_held_out(tiny_root, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(tiny_root, data)
    out = tmp_path / "out"
    _train(tiny_config(data, out, n_epochs=1))
    for index, path in enumerate(sorted((data / "circle").iterdir())[:3]):
        shutil.copy(path, data / "circle" / f"added_{index}.png")
    with pytest.raises(CheckpointError, match="split differs"):
        _train(tiny_config(data, out, n_epochs=2), resume_from=out / "last_checkpoint.pt")
    assert read_model_file(out / "final_model.pt").epoch == 1  # untouched
    _train(tiny_config(data, out, n_epochs=2), resume_from=out / "last_checkpoint.pt",
           allow_split_change=True)
    summary = json.loads((out / "summary.json").read_text())
    evaluation = json.loads((out / "evaluation.json").read_text())
    assert summary["test_held_out"] is False and evaluation["held_out"] is False
    assert "NOT held out" in summary["message"]
    assert read_model_file(out / "final_model.pt").test_held_out is False


def test_train_resume_without_a_config_uses_the_checkpoints(tiny_root, tmp_path, capsys):
    out = tmp_path / "out"
    _train(tiny_config(tiny_root, out, n_epochs=1, image_size=32, learning_rate=2e-3))
    code = main(["train", "--resume", str(out / "last_checkpoint.pt"), "--set", "n_epochs=2", "--quiet"])
    assert code == 0, capsys.readouterr().err
    saved = json.loads((out / "config.json").read_text())
    assert saved["learning_rate"] == 2e-3 and saved["pretrained"] is False and saved["n_epochs"] == 2
    assert read_model_file(out / "final_model.pt").epoch == 2


# ------------------------------------------------------------------ the folder
def test_stale_temporaries_are_removed_and_evaluation_json_is_archived(tiny_root, tmp_path):
    out = tmp_path / "out"
    _train(tiny_config(tiny_root, out, n_epochs=1))
    (out / ".final_model.pt.abc123.tmp").write_bytes(b"x" * 1000)
    (out / "metrics.csv.tmp").write_text("partial")
    (out / "notes.tmp").write_text("the user's own file")
    _train(tiny_config(tiny_root, out, n_epochs=1, test_fraction=0.0))
    assert not (out / ".final_model.pt.abc123.tmp").exists() and not (out / "metrics.csv.tmp").exists()
    assert (out / "notes.tmp").exists()
    assert "left by an interrupted write" in (out / "train.log").read_text()
    (archived,) = (out / "previous_runs").iterdir()
    assert (archived / "evaluation.json").is_file()
    assert not (out / "evaluation.json").exists()  # this run had no test split


def test_a_file_named_previous_runs_is_a_clear_error(tiny_root, tmp_path):
    out = tmp_path / "out"
    _train(tiny_config(tiny_root, out, n_epochs=1))
    (out / "previous_runs").write_text("not a folder")
    with pytest.raises(ConfigError, match="previous_runs is a file"):
        _train(tiny_config(tiny_root, out, n_epochs=1))
    assert (out / "final_model.pt").is_file()


@pytest.mark.parametrize("changes", [
    {"log_name": "config.json"}, {"log_name": "final_model.pt"}, {"checkpoint_name": "metrics.csv"},
    {"final_model_name": "summary.json"}, {"log_name": "run.json"}, {"checkpoint_name": "Final_Model.pt"},
])
def test_output_names_that_clash_are_refused(changes):
    with pytest.raises(ConfigError, match=next(iter(changes))):
        TrainConfig(**changes)


# ------------------------------------------------------------------ scores
def test_summary_and_evaluation_count_the_same_test_images(tiny_root, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(tiny_root, data)
    out = tmp_path / "out"
    cfg = tiny_config(data, out, n_epochs=1, cache_images=False)
    # Break every test image after the scan: the test evaluation skips them.
    trainer = Trainer(cfg)
    original = trainer._finish

    def break_test_images(reason, started):
        for sample in trainer.splits.test[:2]:
            open(sample.path, "wb").write(b"broken")
        return original(reason, started)

    trainer._finish = break_test_images
    trainer.run()
    summary = json.loads((out / "summary.json").read_text())
    evaluation = json.loads((out / "evaluation.json").read_text())
    assert summary["test_images"] == evaluation["images_evaluated"]
    assert summary["test_images_in_split"] == summary["test_images"] + 2


# ------------------------------------------------------------------ batches of one
def test_a_last_batch_of_one_joins_the_previous_batch():
    chunks = batch_chunks(torch.arange(11), 5)
    assert [len(c) for c in chunks] == [5, 6]
    assert torch.equal(torch.cat(chunks), torch.arange(11))
    assert [len(c) for c in batch_chunks(torch.arange(1), 5)] == [1]
    assert batch_count(11, 5) == 2 and batch_count(12, 5) == 3 and batch_count(1, 5) == 1


@pytest.mark.parametrize("arch", ["resnet18", "mobilenet_v3_small"])
def test_batches_of_one_image_never_end_a_run(tiny_root, tmp_path, arch):
    # 32 px: BatchNorm sees 1x1 feature maps, where one image gives it no statistics.
    result = _train(tiny_config(tiny_root, tmp_path / "one", n_epochs=1, batch_size=1, arch=arch))
    assert result.reason is ev.FinishReason.COMPLETED
    from mlcls_gui.core.data.dataset import scan_data_root

    train = len(scan_data_root(tiny_root, val_fraction=0.2, test_fraction=0.2, seed=42).train)
    odd = train - 1  # leaves one image for the last batch
    result = _train(tiny_config(tiny_root, tmp_path / "odd", n_epochs=1, batch_size=odd, arch=arch))
    assert result.reason is ev.FinishReason.COMPLETED


# ------------------------------------------------------------------ disk
def test_the_final_model_holds_no_optimiser_state_and_still_resumes(tiny_root, tmp_path, caplog):
    out = tmp_path / "out"
    _train(tiny_config(tiny_root, out, n_epochs=2, lr_step=1, lr_decrease=0.5))
    final, last = out / "final_model.pt", out / "last_checkpoint.pt"
    contents = read_model_file(final)
    assert contents.optimizer_state is None and contents.rng is None
    assert final.stat().st_size < 0.6 * last.stat().st_size  # weights only: Adam keeps two more copies
    with caplog.at_level("INFO", logger="mlcls_gui"):
        _train(tiny_config(tiny_root, out, n_epochs=3, lr_step=1, lr_decrease=0.5), resume_from=final)
    assert "holds no optimiser state" in caplog.text
    rows = (out / "metrics.csv").read_text().splitlines()
    assert float(rows[-1].split(",")[7]) == pytest.approx(1e-3 * 0.5 ** 2)  # the schedule went on


def test_earlier_runs_are_listed_with_their_size_and_pruned(tiny_root, tmp_path):
    from mlcls_gui.core.runs.outputs import archived_runs, prune_archived_runs

    out = tmp_path / "out"
    for _ in range(3):
        _train(tiny_config(tiny_root, out, n_epochs=1))
    runs = archived_runs(out)
    assert len(runs) == 2 and all(run.size_bytes > 100_000 for run in runs)  # two tiny_cnn runs each
    assert runs[0].path.name > runs[1].path.name  # newest first
    removed = prune_archived_runs(out, keep=1)
    assert [run.path for run in removed] == [runs[1].path] and not runs[1].path.exists()
    assert [run.path for run in archived_runs(out)] == [runs[0].path]
    assert (out / "final_model.pt").is_file()  # the current run is never touched
