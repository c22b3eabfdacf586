"""The live training plots: no SI prefix on the epoch axis, and frames that redo only what changed."""

from __future__ import annotations

import pytest
from pytestqt.qtbot import QtBot


def test_the_epoch_axis_has_no_si_prefix(qtbot: QtBot) -> None:
    """Issue 15: during the first epoch the axis read "epoch (x0.001)", ticks 100-600."""
    from mlcls_gui.core.training.events import BatchEnd
    from mlcls_gui.gui.train.plots import TrainingPlots

    plots = TrainingPlots()
    qtbot.addWidget(plots)
    plots.resize(600, 400)
    plots.show()
    for batch in range(1, 7):
        plots.add_batch(BatchEnd(epoch=1, batch=batch, batches=10, loss=0.7, images=8,
                                 images_per_second=50.0, global_step=batch))
    plots.redraw()
    # The first epoch shows whole (0 to 1); a zoom onto the batches (x 0.1 to 0.6) is
    # where an SI prefix would appear. The axis takes a new range when the view
    # updates before a paint: wait for it.
    plots.loss_plot.setXRange(0.1, 0.6, padding=0)
    loss_axis = plots.loss_plot.getPlotItem().getAxis("bottom")
    qtbot.waitUntil(lambda: 0.55 <= loss_axis.range[1] < 0.65)
    for plot in (plots.loss_plot, plots.accuracy_plot):
        axis = plot.getPlotItem().getAxis("bottom")
        assert axis.autoSIPrefixScale == 1.0 and "x0.0" not in axis.labelString()


def test_a_frame_sets_only_the_curves_that_changed_and_the_axis_moves_in_steps(qtbot: QtBot) -> None:
    from mlcls_gui.core.training.events import BatchEnd, EpochEnd
    from mlcls_gui.gui.train.plots import TrainingPlots, x_end_for

    assert [x_end_for(x) for x in (0.0, 0.5, 0.95, 1.0, 1.7, 4.6, 9.0, 30.0)] == [1, 1, 2, 2, 2, 10, 10, 50]
    plots = TrainingPlots()
    qtbot.addWidget(plots)
    plots.show()
    epoch_curve = plots.curves["val_accuracy"]
    calls: list[int] = []
    original = epoch_curve.setData
    epoch_curve.setData = lambda *args, **kwargs: (calls.append(1), original(*args, **kwargs))[1]
    for batch in range(1, 11):
        plots.add_batch(BatchEnd(epoch=1, batch=batch, batches=10, loss=0.7, images=8,
                                 images_per_second=50.0, global_step=batch))
        plots.redraw()
    assert calls == [] and plots.epoch_points("val_accuracy") == 0  # the batches leave the epoch curves be
    view = plots.loss_plot.getPlotItem().getViewBox()
    assert view.viewRange()[0][1] == pytest.approx(1.02, abs=0.01)  # the first epoch, whole
    plots.add_epoch(EpochEnd(epoch=1, total_epochs=5, metrics={"val_accuracy": 0.5}, improved=True,
                             best_epoch=1, best_score=0.5, epochs_without_improvement=0))
    plots.redraw()
    assert calls == [1] and plots.epoch_points("val_accuracy") == 1
    assert view.viewRange()[0][1] == pytest.approx(1.02, abs=0.01)  # the point at epoch 1 fits
    plots.add_batch(BatchEnd(epoch=2, batch=1, batches=10, loss=0.6, images=8,
                             images_per_second=50.0, global_step=11))
    plots.redraw()
    assert calls == [1] and view.viewRange()[0][1] == pytest.approx(2.04, abs=0.02)  # epoch 2: up to 2
