"""The recipe inside a real run: per-batch schedule, EMA, mixing and the
recipe's augmentation resume exactly; the kept weights are reported."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import tiny_config

from mlcls_gui.core.model_file.contents import read_model_file
from mlcls_gui.core.presets import apply_preset
from mlcls_gui.core.training import events as ev
from mlcls_gui.core.training.engine import RunControl, Trainer
from mlcls_gui.core.training.engine import loop as loop_module
from mlcls_gui.core.training.engine.hook_base import Hook
from mlcls_gui.core.training.engine.hooks import default_hooks
from mlcls_gui.core.training.events import FinishReason


class _BatchLog(Hook):
    def __init__(self) -> None:
        self.rows: list[tuple[int, int, float, float]] = []

    def on_batch_end(self, run, epoch, batch, loss, lr) -> None:
        self.rows.append((epoch, batch, loss, lr))


def _recipe(root, out, **changes):
    cfg = apply_preset(tiny_config(root, out, arch="tiny_cnn", n_epochs=3, batch_size=4), "recommended")
    # Every random part of the recipe on, so the resume must restore each one's state.
    recipe = {"warmup_epochs": 1.0, "ema_decay": 0.99, "mixup_alpha": 0.4, "cutmix_alpha": 1.0, "random_resized_crop": True,
              "auto_augment": "trivialaugment", "random_erasing": 0.25}
    return cfg.with_values(**{**recipe, **changes})


def _train(cfg, **kw):
    log, seen = _BatchLog(), []
    trainer = Trainer(cfg, on_event=seen.append, **kw)
    trainer.hooks.append(log)
    return trainer.run(), log.rows, seen


@pytest.mark.parametrize("schedule", ["cosine", "onecycle"])
def test_stopped_and_resumed_run_continues_exactly(tiny_root, tmp_path, schedule):
    straight, straight_batches, _ = _train(_recipe(tiny_root, tmp_path / "a", lr_schedule=schedule))
    control = RunControl()
    stop_after_one = lambda e: isinstance(e, ev.EpochEnd) and control.request_stop()  # noqa: E731
    first = Trainer(_recipe(tiny_root, tmp_path / "b", lr_schedule=schedule), control=control,
                    on_event=stop_after_one)
    log = _BatchLog()
    first.hooks.append(log)
    assert first.run().reason is FinishReason.STOPPED
    saved = read_model_file(tmp_path / "b" / "last_checkpoint.pt")
    assert saved.epoch == 1 and saved.ema_state
    resumed, resumed_batches, _ = _train(_recipe(tiny_root, tmp_path / "b", lr_schedule=schedule),
                                         resume_from=tmp_path / "b" / "last_checkpoint.pt")
    batches = log.rows + resumed_batches
    # The rate changes every batch, and the interrupted run used the same rates and
    # saw the same (augmented, mixed) batches: the same losses.
    # (the warmup's last rate and the decay's first are both the peak)
    assert len({round(lr, 12) for *_, lr in straight_batches}) >= len(straight_batches) - 1
    assert [(e, b) for e, b, *_ in batches] == [(e, b) for e, b, *_ in straight_batches]
    assert [lr for *_, lr in batches] == pytest.approx([lr for *_, lr in straight_batches], rel=1e-9)
    assert [x[2] for x in batches] == pytest.approx([x[2] for x in straight_batches], rel=1e-4)
    a = json.loads((tmp_path / "a" / "summary.json").read_text())
    b = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert b["best_val"]["val_map_ema"] == pytest.approx(a["best_val"]["val_map_ema"], rel=1e-4)
    assert resumed.best_epoch == straight.best_epoch


@pytest.mark.parametrize("ema_wins", [True, False])
def test_the_better_weights_are_kept_and_named(tiny_root, tmp_path, monkeypatch, ema_wins):
    monkeypatch.setattr(loop_module, "is_better", lambda *a, **k: ema_wins)
    cfg = tiny_config(tiny_root, tmp_path, arch="tiny_cnn", ema_decay=0.9, monitor="val_map")
    result, _, seen = _train(cfg)
    name = "EMA weights" if ema_wins else "raw weights"
    assert result.summary["weights"] == name
    finished = next(e for e in seen if isinstance(e, ev.RunFinished))
    assert f"({name})" in finished.message
    epochs = [e for e in seen if isinstance(e, ev.EpochEnd)]
    assert {e.weights for e in epochs} == {"EMA" if ema_wins else "raw"}
    best_row = result.summary["best_val"]
    kept = "ema" if ema_wins else "raw"
    assert best_row["val_map"] == best_row[f"val_map_{kept}"]
    best = read_model_file(tmp_path / "checkpoint.pt")
    final = read_model_file(tmp_path / "final_model.pt")
    for key, value in best.model_state.items():
        assert torch.equal(final.model_state[key], value), key
    assert (best.raw_model_state is not None) == ema_wins  # a resume continues from the raw weights
    assert final.ema_state is None and final.raw_model_state is None
    if ema_wins:
        ema = {k.removeprefix("module."): v for k, v in best.ema_state.items()}
        assert all(torch.equal(best.model_state[k], ema[k]) for k in best.model_state)


def test_seed_runs_without_ema_columns_or_weights_note(tiny_root, tmp_path):
    result, batches, seen = _train(tiny_config(tiny_root, tmp_path, arch="tiny_cnn", n_epochs=1))
    assert result.summary["weights"] is None and "ema_weights" not in result.summary["best_val"]
    assert len({lr for *_, lr in batches}) == 1  # StepLR: one rate the whole epoch
    assert next(e for e in seen if isinstance(e, ev.EpochEnd)).early_stop_limit == 5


def test_early_stop_share_follows_the_run_length(tiny_root, tmp_path):
    cfg = tiny_config(tiny_root, tmp_path, arch="tiny_cnn", n_epochs=4, early_stop_share=0.25,
                      learning_rate=1e-7, monitor="val_accuracy")
    result, _, seen = _train(cfg)
    epochs = [e for e in seen if isinstance(e, ev.EpochEnd)]
    assert {e.early_stop_limit for e in epochs} == {1}
    # At 1e-7 nothing improves after the first epoch, so a quarter of 4 epochs waits one.
    assert result.reason is FinishReason.EARLY_STOPPED and len(epochs) == 2


def test_tensorboard_hook_only_when_asked(tiny_root, tmp_path):
    pytest.importorskip("mlcls_gui.core.training.engine.tensorboard_log")
    names = lambda hooks: [type(h).__name__ for h in hooks]  # noqa: E731
    assert "TensorBoardLog" in names(default_hooks(True, tiny_config(tiny_root, tmp_path, tensorboard=True)))
    assert "TensorBoardLog" not in names(default_hooks(True, tiny_config(tiny_root, tmp_path)))
    assert "TensorBoardLog" not in names(default_hooks(False, tiny_config(tiny_root, tmp_path, tensorboard=True)))
