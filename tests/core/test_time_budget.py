"""Training for N minutes: the timing probe trains nothing, the plan sets the epochs, the deadline ends the run."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from conftest import tiny_config

from mlcls_gui.core.data.dataset import scan_data_root
from mlcls_gui.core.training.engine import Trainer
from mlcls_gui.core.training.engine.run_state import build_run_state
from mlcls_gui.core.training.engine.strategy import SingleDevice
from mlcls_gui.core.training.engine.time_budget import plan_epochs
from mlcls_gui.core.training.events import FinishReason, RunStarted


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
    started: list[RunStarted] = []
    cfg = tiny_config(tiny_root, out, n_epochs=5000, early_stop_epoch_limit=5000, time_budget_minutes=0.05)  # 3 s
    result = Trainer(cfg, on_event=lambda e: started.append(e) if isinstance(e, RunStarted) else None).run()
    planned = json.loads((out / "config.json").read_text())["n_epochs"]
    assert 1 <= planned < 5000 and started[0].total_epochs == planned  # the effective config says the plan
    assert result.reason in (FinishReason.COMPLETED, FinishReason.TIME_UP)
    assert Path(result.final_model_path).is_file()  # every output written, as with Stop
    # A budget shorter than the probe itself: the deadline stops the first epoch.
    short = tiny_config(tiny_root, tmp_path / "short", n_epochs=5000, time_budget_minutes=0.0001)
    result = Trainer(short).run()
    assert result.reason is FinishReason.TIME_UP and Path(result.final_model_path).is_file()
    assert "Time budget of 0.0001 min reached during epoch 1" in (tmp_path / "short" / short.log_name).read_text()
