"""Training for N minutes: the epochs that fit, planned from a short timing probe.

A run with ``time_budget_minutes`` times a few training steps on its own model
and data before the first epoch, then puts the weights, the optimiser state
and the BatchNorm statistics back as they were, so the probe trains nothing.
The epochs that fit the rest of the budget (an epoch's steps, its validation
and the final test, at the probe's pace) become the run's ``n_epochs``, so
schedules such as cosine end where the time ends. The plan is an estimate;
the loop also stops at the deadline itself, writing every output as a Stop does.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import dataclass

from mlcls_gui.core.config import TrainConfig
from mlcls_gui.core.training.engine.run_state import RunState
from mlcls_gui.core.training.recipe.schedules import make_scheduler

logger = logging.getLogger(__name__)

PROBE_STEPS = 4  # the first is a warm-up (lazy initialisation, cuDNN's choice) and is not timed
PROBE_SHARE = 0.05  # the probe stops early once it has used this share of the budget
EVAL_COST = 1 / 3  # an evaluated image costs about a third of a trained one (no backward pass)
# An epoch also saves checkpoints, logs and starts its loader: on the demo (2 CPU cores,
# 1 minute) epochs took about 10 % longer than their steps and validation at the probe's pace.
EPOCH_OVERHEAD = 1.12
MAX_EPOCHS = 100_000


@dataclass(frozen=True)
class EpochPlan:
    epochs: int
    step_seconds: float  # one training step at the probe's pace
    epoch_seconds: float  # an epoch: its steps and its validation

    def describe(self, budget_minutes: float) -> str:
        return (f"{self.epochs} epoch(s) fit the time budget of {budget_minutes:g} min "
                f"(about {self.epoch_seconds:.1f} s each, {self.step_seconds * 1000:.0f} ms per step, "
                "measured before the first epoch)")


def budget_epochs(state: RunState, spent_seconds: float, split_sizes: dict[str, int]) -> TrainConfig:
    """``state``'s config with the epochs that fit its time budget, and its schedule
    rebuilt for them (the config as it was when no step could be timed)."""
    budget = state.cfg.time_budget_minutes
    plan = plan_epochs(state, budget * 60, spent_seconds, split_sizes)
    if plan is None:
        logger.warning("No training step could be timed; planning %d epochs, stopping at the budget.",
                       state.cfg.n_epochs)
        return state.cfg
    state.cfg = state.cfg.with_values(n_epochs=plan.epochs)
    state.scheduler = make_scheduler(state.cfg, state.optimizer, state.steps_per_epoch)
    logger.info("Time budget: %s.", plan.describe(budget))
    return state.cfg


def plan_epochs(state: RunState, budget_seconds: float, spent_seconds: float,
                split_sizes: dict[str, int]) -> EpochPlan | None:
    """The epochs that fit ``budget_seconds`` less what the run has spent, from timed
    steps on ``state``, which is then as it was before (weights, statistics, optimiser).
    None when no step could be timed (no readable image in the probe's batches)."""
    # Every process must plan the same epochs: the processes' mean pace counts.
    step_seconds = state.strategy.sum([_timed_step_seconds(state, budget_seconds)])[0] / state.strategy.world_size
    if step_seconds <= 0:
        return None
    batch = state.cfg.batch_size
    val_steps = math.ceil(split_sizes.get("val", 0) / batch) * EVAL_COST
    test_steps = math.ceil(split_sizes.get("test", 0) / batch) * EVAL_COST
    epoch_seconds = (state.steps_per_epoch + val_steps) * step_seconds * EPOCH_OVERHEAD
    # The end of the run: the final validation (thresholds) and the test.
    left = budget_seconds - spent_seconds - (val_steps + test_steps) * step_seconds
    epochs = int(left // epoch_seconds)
    return EpochPlan(min(max(epochs, 1), MAX_EPOCHS), step_seconds, epoch_seconds)


def _timed_step_seconds(state: RunState, budget_seconds: float) -> float:
    weights = {k: v.detach().clone() for k, v in state.model.state_dict().items()}
    optimiser = copy.deepcopy(state.optimizer.state_dict())
    state.set_train_mode()
    times: list[float] = []
    started = time.monotonic()
    try:
        chunks = state.train_chunks()[:PROBE_STEPS]
        for number, (batch, features) in enumerate(state.batches("train", chunks)):
            if batch.targets.shape[0] == 0:
                continue
            step_started = time.monotonic()
            state.train_step(batch, features)
            if number > 0 or len(chunks) == 1:
                times.append(time.monotonic() - step_started)
            if times and time.monotonic() - started > PROBE_SHARE * budget_seconds:
                break
    finally:
        state.model.load_state_dict(weights)
        state.optimizer.load_state_dict(optimiser)
        state.optimizer.zero_grad(set_to_none=True)
    if not times:
        return 0.0
    seconds = sorted(times)[len(times) // 2]
    logger.debug("Time-budget probe: %d timed steps, median %.3f s", len(times), seconds)
    return seconds
