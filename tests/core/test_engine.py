"""End to end on a tiny generated set: train, outputs, events, stop, resume, predict."""

import csv
import json
import shutil
from pathlib import Path

import pytest
import torch
from conftest import tiny_config

from mlcls_gui.core.errors import CheckpointError, DatasetError
from mlcls_gui.core.inference.predict import Predictor
from mlcls_gui.core.model_file.contents import read_model_file
from mlcls_gui.core.runs.outputs import METRIC_COLUMNS
from mlcls_gui.core.training import events as ev
from mlcls_gui.core.training.engine import RunControl, Trainer, make_optimizer


def _run(cfg, **kw):
    seen = []
    result = Trainer(cfg, on_event=seen.append, **kw).run()
    return result, seen


def test_train_writes_every_output_and_events(tiny_root, tmp_path):
    out = tmp_path / "out"
    result, seen = _run(tiny_config(tiny_root, out))
    assert result.reason is ev.FinishReason.COMPLETED
    for name in ("final_model.pt", "checkpoint.pt", "last_checkpoint.pt", "train.log",
                 "metrics.csv", "summary.json", "config.json"):
        assert (out / name).is_file(), name
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert list(rows[0]) == list(METRIC_COLUMNS)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["best_epoch"] in (1, 2) and summary["reason"] == "completed"
    for key in ("test_exact_match", "test_map", "test_macro_f1"):
        assert 0.0 <= summary[key] <= 1.0
    assert set(summary["test_per_label_ap"]) == {"circle", "cross", "square", "triangle"}
    assert summary["wall_seconds"] > 0 and summary["skipped_files"] == []
    assert "Epoch 2/2" in (out / "train.log").read_text()
    kinds = [type(e) for e in seen]
    assert kinds[0] is ev.PhaseChanged and ev.RunStarted in kinds and kinds[-1] is ev.RunFinished
    assert sum(k is ev.EpochEnd for k in kinds) == 2
    batches = [e for e in seen if isinstance(e, ev.BatchEnd)]
    started = next(e for e in seen if isinstance(e, ev.RunStarted))
    assert len(batches) == 2 * started.batches_per_epoch
    assert all(isinstance(e.loss, float) for e in batches)
    model = read_model_file(out / "final_model.pt")
    assert model.kind == "model" and model.labels == tuple(started.labels)
    assert model.test_metrics["map"] == pytest.approx(summary["test_map"])


def test_predictor_from_final_model_alone(tiny_root, tmp_path):
    out = tmp_path / "out"
    _run(tiny_config(tiny_root, out, n_epochs=1))
    moved = tmp_path / "elsewhere.pt"
    shutil.copy(out / "final_model.pt", moved)
    predictor = Predictor.from_file(moved)
    images = sorted(str(p) for p in Path(tiny_root, "circle").iterdir())[:3]
    bad = tmp_path / "bad.jpg"
    bad.write_text("no")
    results = predictor.predict_paths(images + [str(bad)])
    assert [set(r.probabilities) for r in results[:3]] == [set(predictor.labels)] * 3
    assert all(0.0 <= p <= 1.0 for r in results[:3] for p in r.probabilities.values())
    assert results[3].error and not results[3].probabilities
    # Same weights, same transform: the engine's own validation path agrees.
    probs = list(results[0].probabilities.values())
    again = predictor.predict_path(images[0]).probabilities
    assert list(again.values()) == pytest.approx(probs)


def test_stop_request_keeps_a_checkpoint_and_a_final_model(tiny_root, tmp_path):
    out = tmp_path / "out"
    control = RunControl()

    def stop_in_epoch_two(event):
        if isinstance(event, ev.BatchEnd) and event.epoch == 2:
            control.request_stop()

    result = Trainer(tiny_config(tiny_root, out, n_epochs=5), on_event=stop_in_epoch_two,
                     control=control).run()
    assert result.reason is ev.FinishReason.STOPPED
    assert read_model_file(out / "checkpoint.pt").best_epoch == 1
    assert read_model_file(out / "final_model.pt").epoch == 1
    assert json.loads((out / "summary.json").read_text())["epochs_completed"] == 1


def test_stop_in_first_batch_still_leaves_files(tiny_root, tmp_path):
    out = tmp_path / "out"
    control = RunControl()
    control.request_stop()
    result = Trainer(tiny_config(tiny_root, out), control=control).run()
    assert result.reason is ev.FinishReason.STOPPED
    assert (out / "checkpoint.pt").is_file() and (out / "final_model.pt").is_file()


def test_checkpoint_request_saves_now(tiny_root, tmp_path):
    out = tmp_path / "out"
    control = RunControl()
    saved = []

    def on_event(event):
        if isinstance(event, ev.BatchEnd) and event.batch == 1 and event.epoch == 1:
            control.request_checkpoint()
        if isinstance(event, ev.CheckpointSaved):
            saved.append(event)

    Trainer(tiny_config(tiny_root, out, n_epochs=1), on_event=on_event, control=control).run()
    assert [e.reason for e in saved][0] == "requested"
    assert read_model_file(out / "manual_checkpoint.pt").partial_epoch == 1


@pytest.mark.parametrize("arch", ["resnet18", "mobilenet_v3_small"])  # the latter has dropout
def test_resume_with_more_epochs_and_exactly(tiny_root, tmp_path, arch):
    straight = tmp_path / "straight"
    _run(tiny_config(tiny_root, straight, n_epochs=2, arch=arch))
    split = tmp_path / "split"
    _run(tiny_config(tiny_root, split, n_epochs=1, arch=arch))
    result, seen = _run(tiny_config(tiny_root, split, n_epochs=2, arch=arch),
                        resume_from=split / "last_checkpoint.pt")
    started = next(e for e in seen if isinstance(e, ev.RunStarted))
    assert started.start_epoch == 2
    a = list(csv.DictReader(open(straight / "metrics.csv")))
    b = list(csv.DictReader(open(split / "metrics.csv")))
    for key in ("train_loss", "val_loss", "val_map"):
        assert [float(r[key]) for r in b] == pytest.approx([float(r[key]) for r in a], rel=1e-4)
    assert result.best_epoch == json.loads((straight / "summary.json").read_text())["best_epoch"]


def test_new_run_archives_the_previous_one(tiny_root, tmp_path):
    out = tmp_path / "out"
    _run(tiny_config(tiny_root, out, n_epochs=1))
    first = (out / "final_model.pt").read_bytes()
    _run(tiny_config(tiny_root, out, n_epochs=1, seed=7))
    archived = list((out / "previous_runs").glob("*/final_model.pt"))
    assert len(archived) == 1 and archived[0].read_bytes() == first


def test_resume_with_other_labels_is_refused(tiny_root, tmp_path):
    out = tmp_path / "out"
    _run(tiny_config(tiny_root, out, n_epochs=1))
    other = tmp_path / "other"
    shutil.copytree(tiny_root, other)
    shutil.rmtree(other / "cross")
    shutil.move(other / "cross+square", other / "dog+square")
    shutil.move(other / "cross+triangle", other / "dog+triangle")
    with pytest.raises(CheckpointError) as info:
        Trainer(tiny_config(other, tmp_path / "o2"), resume_from=out / "final_model.pt").run()
    assert "only in the checkpoint: cross" in str(info.value)
    assert "only in the data: dog" in str(info.value)


def test_unusable_data_fails_with_one_finished_event(tmp_path):
    seen = []
    with pytest.raises(DatasetError):
        Trainer(tiny_config(tmp_path / "nope", tmp_path / "out"), on_event=seen.append).run()
    assert isinstance(seen[-1], ev.RunFinished) and seen[-1].reason is ev.FinishReason.FAILED


def test_file_broken_after_scan_is_skipped_not_fatal(tiny_root, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(tiny_root, root)
    victim = sorted((root / "square").iterdir())[0]
    result, seen = None, []

    def break_file(event):
        seen.append(event)
        if isinstance(event, ev.RunStarted):
            victim.write_bytes(victim.read_bytes()[:60])  # truncated after the scan

    # Train, val and test are all read in a one-epoch run, wherever the file landed.
    result = Trainer(tiny_config(root, tmp_path / "out", n_epochs=1, batch_size=4),
                     on_event=break_file).run()
    skipped = [f for e in seen if isinstance(e, ev.FilesSkipped) for f in e.files]
    assert [Path(p).name for p, _ in skipped] == [victim.name]
    assert result.summary["skipped_files"][0]["path"] == str(victim)


def test_adam_is_coupled_l2_and_adamw_is_decoupled(tmp_path):
    def one_step(name):
        weight = torch.nn.Parameter(torch.ones(3))
        opt = make_optimizer(tiny_config(tmp_path, tmp_path, optimizer=name, learning_rate=0.01,
                                          weight_decay=0.3), [weight])
        weight.grad = torch.zeros(3)  # the loss says nothing: only the decay acts
        opt.step()
        return weight.detach()

    assert torch.allclose(one_step("adamw"), torch.full((3,), 1 - 0.01 * 0.3))
    # Coupled: the L2 gradient 0.3·w goes through Adam's normalisation → a step of ~lr.
    assert torch.allclose(one_step("adam"), torch.full((3,), 1 - 0.01), atol=1e-6)


def test_out_of_memory_becomes_an_actionable_message(tiny_root, tmp_path, monkeypatch):
    from mlcls_gui.core.errors import TrainingError
    from mlcls_gui.core.models import build as models

    real = models.build_model

    def greedy_model(*a, **kw):
        model = real(*a, **kw)

        def boom(*_a, **_kw):
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

        model.forward = boom
        return model

    monkeypatch.setattr(models, "build_model", greedy_model)
    seen = []
    with pytest.raises(TrainingError, match="Lower `batch_size`"):
        Trainer(tiny_config(tiny_root, tmp_path / "out", batch_size=8), on_event=seen.append).run()
    assert seen[-1].reason is ev.FinishReason.FAILED and "Out of memory" in seen[-1].message


def test_nan_loss_stops_with_a_message_and_keeps_the_best(tiny_root, tmp_path):
    from mlcls_gui.core.errors import TrainingError

    out = tmp_path / "out"
    trainer = None

    def poison_after_epoch_one(event):
        if isinstance(event, ev.EpochEnd) and event.epoch == 1:
            trainer.state.criterion = lambda logits, targets: (logits * float("nan")).mean()

    trainer = Trainer(tiny_config(tiny_root, out, n_epochs=3), on_event=poison_after_epoch_one)
    with pytest.raises(TrainingError, match="loss became nan"):
        trainer.run()
    assert read_model_file(out / "checkpoint.pt").best_epoch == 1
    assert read_model_file(out / "final_model.pt").best_epoch == 1
    assert json.loads((out / "summary.json").read_text())["reason"] == "failed"


def test_resume_with_the_extractor_frozen_now(tiny_root, tmp_path):
    out = tmp_path / "out"
    _run(tiny_config(tiny_root, out, n_epochs=1))
    result, _ = _run(tiny_config(tiny_root, out, n_epochs=2, freeze_extractor=True),
                     resume_from=out / "last_checkpoint.pt")
    assert result.reason is ev.FinishReason.COMPLETED
    assert "fresh adamw optimizer state" in (out / "train.log").read_text()
