"""TensorBoard events: written by the hook on a real tiny run, read back with TensorBoard's reader."""

from __future__ import annotations

import builtins
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import tiny_config

from mlcls_gui.core.training.engine import Trainer
from mlcls_gui.core.training.engine.hook_base import Outcome
from mlcls_gui.core.training.engine.tensorboard_log import TENSORBOARD_FOLDER, TensorBoardLog
from mlcls_gui.core.training.events import FinishReason

pytest.importorskip("tensorboard")


def _events(folder: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0})
    accumulator.Reload()
    return accumulator


@pytest.fixture(scope="module")
def logged_run(tiny_root: Path, tmp_path_factory: pytest.TempPathFactory):
    """One real tiny_cnn run (2 epochs) with the config's tensorboard switch on."""
    output = tmp_path_factory.mktemp("tb") / "out"
    trainer = Trainer(tiny_config(tiny_root, output, arch="tiny_cnn", n_epochs=2, early_stop_epoch_limit=5,
                                  tensorboard=True))
    hooks = [h for h in trainer.hooks if isinstance(h, TensorBoardLog)]
    assert len(hooks) == 1, "tensorboard=True did not add the TensorBoardLog hook"
    result = trainer.run()
    return trainer, hooks[0], result


def test_scalars_per_batch_and_per_epoch(logged_run) -> None:
    trainer, hook, result = logged_run
    assert hook.log_dir == Path(result.output_dir) / TENSORBOARD_FOLDER / trainer.identity.run_id
    events = _events(hook.log_dir)
    scalars = set(events.Tags()["scalars"])
    for name in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "val_map", "val_macro_f1",
                 "lr", "epoch_seconds", "images_per_second"):
        assert f"epoch/{name}" in scalars, name
    val_loss = events.Scalars("epoch/val_loss")
    assert [e.step for e in val_loss] == [1, 2]
    history = [row["val_loss"] for row in trainer.progress.history]
    assert [e.value for e in val_loss] == pytest.approx(history, rel=1e-5)
    assert {"batch/loss", "batch/lr"} <= scalars
    steps = [e.step for e in events.Scalars("batch/loss")]
    assert steps == list(range(1, trainer.progress.global_step + 1))
    assert events.Scalars("batch/lr")[0].value == pytest.approx(trainer.config.learning_rate)


def test_pr_curves_and_hparams_at_the_end(logged_run) -> None:
    trainer, hook, result = logged_run
    events = _events(hook.log_dir)
    tensors = set(events.Tags()["tensors"])
    assert {f"test_pr/{label}" for label in trainer.labels} <= tensors
    assert "hparams/test_map" in set(events.Tags()["scalars"])
    test_map = events.Scalars("hparams/test_map")[-1].value
    assert test_map == pytest.approx(result.summary["test_map"], rel=1e-5)
    plugins = events.PluginTagToContent("hparams")
    assert plugins, "no hparams summary was written"
    assert hook._writer is None, "the writer stays open after the run"


def _fake_run(output: Path, is_main: bool = True) -> SimpleNamespace:
    return SimpleNamespace(
        output_dir=output, identity=SimpleNamespace(run_id="abc"), strategy=SimpleNamespace(is_main=is_main),
        progress=SimpleNamespace(global_step=0, epoch=1, best_score=0.5),
        config=SimpleNamespace(monitor="val_loss", to_dict=lambda: {"arch": "tiny_cnn", "n_epochs": 1}),
        labels=["a"],
    )


def test_only_the_main_process_writes(tmp_path: Path) -> None:
    hook = TensorBoardLog()
    run = _fake_run(tmp_path, is_main=False)
    hook.on_batch_end(run, 1, 1, 0.7, 1e-3)
    hook.on_epoch_end(run, 1, {"epoch": 1, "val_loss": 0.6}, True)
    hook.on_run_end(run, Outcome(FinishReason.COMPLETED, 0.0))
    assert not (tmp_path / TENSORBOARD_FOLDER).exists()


def test_missing_tensorboard_warns_once_and_never_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name.startswith("torch.utils.tensorboard"):
            raise ImportError("TensorBoard logging requires TensorBoard")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    hook, run = TensorBoardLog(), _fake_run(tmp_path)
    with caplog.at_level(logging.WARNING, logger="mlcls_gui.core.training.engine.tensorboard_log"):
        for epoch in (1, 2):
            hook.on_batch_end(run, epoch, 1, 0.7, 1e-3)
            hook.on_epoch_end(run, epoch, {"epoch": epoch, "val_loss": 0.6}, True)
        hook.on_run_end(run, Outcome(FinishReason.COMPLETED, 0.0))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "tensorboard package is not installed" in warnings[0]
    assert "mlcls-gui[tensorboard]" in warnings[0]


def test_a_folder_that_cannot_be_written_warns_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / TENSORBOARD_FOLDER).write_text("a file where the folder should be")
    hook, run = TensorBoardLog(), _fake_run(tmp_path)
    with caplog.at_level(logging.WARNING, logger="mlcls_gui.core.training.engine.tensorboard_log"):
        for step in (1, 2, 3):
            hook.on_batch_end(run, 1, step, 0.7, 1e-3)
        hook.on_run_end(run, Outcome(FinishReason.COMPLETED, 0.0))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "TensorBoard logging stopped" in warnings[0], warnings
