"""Training for N minutes: the timing probe trains nothing, the plan sets the epochs, the deadline ends the run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import tiny_config

from mlcls_gui.core.data.dataset import scan_data_root
from mlcls_gui.core.training.engine import Trainer
from mlcls_gui.core.training.engine.run_state import build_run_state
from mlcls_gui.core.training.engine.strategy import SingleDevice
from mlcls_gui.core.training.engine.time_budget import EpochPlan, Replanner, plan_epochs
from mlcls_gui.core.training.events import EpochEnd, FinishReason, RunStarted
from mlcls_gui.core.training.recipe.schedules import _WarmupCosine


def test_the_probe_leaves_the_model_and_optimiser_as_they_were(tiny_root: Path, tmp_path: Path) -> None:
    cfg = tiny_config(tiny_root, tmp_path / "out", optimizer="adamw")
    splits = scan_data_root(cfg.images_root, val_fraction=cfg.val_fraction, test_fraction=cfg.test_fraction,
                            seed=cfg.seed)
    state = build_run_state(cfg, splits, SingleDevice(torch.device("cpu")), pretrained=False)
    try:
        before = {k: v.clone() for k, v in state.model.state_dict().items()}
        plan = plan_epochs(state, budget_seconds=60.0, spent_seconds=1.0, split_sizes={"val": 10, "test": 10})
        after = state.model.state_dict()
        assert all(torch.equal(before[k], after[k]) for k in before)  # weights and BatchNorm statistics
        assert state.optimizer.state_dict()["state"] == {}  # no Adam moments left by the probe
        assert plan is not None and plan.step_seconds > 0 and plan.epochs >= 1
        # A budget twice as long plans about twice the epochs.
        longer = plan_epochs(state, budget_seconds=120.0, spent_seconds=1.0, split_sizes={"val": 10, "test": 10})
        assert longer is not None and longer.epochs > plan.epochs
    finally:
        state.close()


def test_a_time_budget_plans_the_epochs_and_the_deadline_ends_the_run(tiny_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    events: list[RunStarted | EpochEnd] = []
    cfg = tiny_config(tiny_root, out, n_epochs=5000, early_stop_epoch_limit=5000, time_budget_minutes=0.05)  # 3 s
    result = Trainer(cfg, on_event=lambda e: events.append(e) if isinstance(e, (RunStarted, EpochEnd)) else None).run()
    planned = json.loads((out / "config.json").read_text())["n_epochs"]
    # The effective config says the plan (re-planned from the epochs' pace, the last epoch's event says so too).
    assert 1 <= planned < 5000 and 1 <= events[0].total_epochs < 5000 and events[-1].total_epochs == planned
    assert result.reason in (FinishReason.COMPLETED, FinishReason.TIME_UP)
    assert Path(result.final_model_path).is_file()  # every output written, as with Stop
    # A budget shorter than the probe itself: the deadline stops the first epoch.
    short = tiny_config(tiny_root, tmp_path / "short", n_epochs=5000, time_budget_minutes=0.0001)
    result = Trainer(short).run()
    assert result.reason is FinishReason.TIME_UP and Path(result.final_model_path).is_file()
    assert "Time budget of 0.0001 min reached during epoch 1" in (tmp_path / "short" / short.log_name).read_text()


def test_the_epochs_are_re_planned_from_their_real_pace(tiny_root: Path, tmp_path: Path) -> None:
    cfg = tiny_config(tiny_root, tmp_path / "out", n_epochs=10, lr_schedule="cosine", warmup_epochs=0)
    splits = scan_data_root(cfg.images_root, val_fraction=cfg.val_fraction, test_fraction=cfg.test_fraction,
                            seed=cfg.seed)
    state = build_run_state(cfg, splits, SingleDevice(torch.device("cpu")), pretrained=False)
    try:
        now = [100.0]
        plan = EpochPlan(epochs=10, step_seconds=0.1, epoch_seconds=1.0, end_seconds=0.0)
        replanner = Replanner(plan, deadline=110.5, clock=lambda: now[0])
        replanner.start()
        now[0] += 1.05  # as planned, give or take the noise (9.45 s fit 9 more): no re-plan
        assert not replanner.after_epoch(state, 1) and state.cfg.n_epochs == 10
        now[0] += 2.0  # twice the probe's pace: 7.45 s left fit 4 more at the median 1.5 s...
        assert replanner.after_epoch(state, 2) and state.cfg.n_epochs == 2 + 4
        now[0] += 2.0  # ...and after a third slow epoch (median 2 s), 5.45 s fit 2 more
        assert replanner.after_epoch(state, 3) and state.cfg.n_epochs == 3 + 2
        # The cosine schedule was rebuilt for 5 epochs at the step 3 epochs reached.
        steps = state.steps_per_epoch
        expected = cfg.learning_rate * _WarmupCosine(0, 5 * steps)(3 * steps)
        assert state.optimizer.param_groups[0]["lr"] == pytest.approx(expected)
        # An end already reached is not moved: more epochs would start the schedule again.
        assert not replanner.after_epoch(state, 5)
    finally:
        state.close()
