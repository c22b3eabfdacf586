"""The run bar counts the whole run, also when a resume starts part-way through it."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from mlcls_gui.core.training.events import BatchEnd, RunStarted
from mlcls_gui.gui.train.run_panel import RunPanel


def _started(start_epoch: int, total_epochs: int) -> RunStarted:
    return RunStarted(output_dir="", log_path="", labels=("a", "b"), split_sizes={"train": 40},
                      start_epoch=start_epoch, total_epochs=total_epochs, batches_per_epoch=10,
                      device="cpu")


def _batch(epoch: int, batch: int) -> BatchEnd:
    return BatchEnd(epoch=epoch, batch=batch, batches=10, loss=0.5, images=4,
                    images_per_second=10.0, global_step=epoch * 10 + batch)


def test_a_resumed_run_shows_the_epochs_done_before_the_resume(qtbot: QtBot) -> None:
    panel = RunPanel()
    qtbot.addWidget(panel)
    panel.show_run_started(_started(start_epoch=7, total_epochs=20), learning_rate=1e-3)
    assert panel.run_bar.value() == 300  # 6 of 20 epochs were done before the resume
    panel.show_batch(_batch(epoch=7, batch=5))
    panel.finish_progress("stopped")
    assert panel.run_bar.value() == 325  # 6.5 / 20, not 0.5 / 14
    assert panel.run_bar.format().startswith("32% — run stopped")


def test_a_fresh_run_counts_from_zero(qtbot: QtBot) -> None:
    panel = RunPanel()
    qtbot.addWidget(panel)
    panel.show_run_started(_started(start_epoch=1, total_epochs=4), learning_rate=None)
    assert panel.run_bar.value() == 0
    panel.show_batch(_batch(epoch=2, batch=5))
    panel.finish_progress("stopped")
    assert panel.run_bar.value() == 375
