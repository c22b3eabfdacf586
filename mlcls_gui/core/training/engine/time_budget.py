"""Training for N minutes: the epochs that fit, planned from a short timing probe
and re-planned from the epochs' real pace.

A run with ``time_budget_minutes`` times a few training steps on its own model
and data before the first epoch, then puts the weights, the optimiser state
and the BatchNorm statistics back as they were, so the probe trains nothing.
The epochs that fit the rest of the budget (an epoch's steps, its validation
and the final test, at the probe's pace) become the run's ``n_epochs``, so
schedules such as cosine end where the time ends.

The probe is an estimate: the first epochs fill the image cache, a checkpoint
takes its time, the machine gets busier or quieter. After each epoch the
``Replanner`` counts the epochs that fit the time left at the pace of the last
few epochs; when they differ from the epochs still planned by a meaningful
margin they become the new ``n_epochs``, and a per-batch schedule is rebuilt
for them from the step it had reached. The loop also stops at the deadline
itself, writing every output as a Stop does.
"""

from __future__ import annotations

import copy
import logging
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from mlcls_gui.core.training.engine.run_state import RunState
from mlcls_gui.core.training.recipe.schedules import make_scheduler, seek, steps_per_batch

logger = logging.getLogger(__name__)

PROBE_STEPS = 4  # the first is a warm-up (lazy initialisation, cuDNN's choice) and is not timed
PROBE_SHARE = 0.05  # the probe stops early once it has used this share of the budget
EVAL_COST = 1 / 3  # an evaluated image costs about a third of a trained one (no backward pass)
# An epoch also saves checkpoints, logs and starts its loader: on the demo (2 CPU cores,
# 1 minute) epochs took about 10 % longer than their steps and validation at the probe's pace.
EPOCH_OVERHEAD = 1.12
MAX_EPOCHS = 100_000
# Re-plan when the epochs that fit the time left differ from the epochs still planned by
# this share of them, and by at least one: a rebuilt schedule moves the learning rate,
# so the pace's noise from epoch to epoch must not.
REPLAN_SHARE = 0.1
PACE_EPOCHS = 3  # the pace is the median of the last few epochs: one slow epoch is not a trend


@dataclass(frozen=True)
class EpochPlan:
    epochs: int
    step_seconds: float  # one training step at the probe's pace
    epoch_seconds: float  # an epoch: its steps and its validation
    end_seconds: float = 0.0  # the end of the run: the final validation (thresholds) and the test

    def describe(self, budget_minutes: float) -> str:
        return (f"{self.epochs} epoch(s) fit the time budget of {budget_minutes:g} min "
                f"(about {self.epoch_seconds:.1f} s each, {self.step_seconds * 1000:.0f} ms per step, "
                "measured before the first epoch)")


def budget_epochs(state: RunState, spent_seconds: float, split_sizes: dict[str, int]) -> EpochPlan | None:
    """Give ``state`` the epochs that fit its time budget (``state.cfg.n_epochs``) and
    its schedule rebuilt for them; the plan, or None (the config as it was) when no
    step could be timed."""
    budget = state.cfg.time_budget_minutes
    plan = plan_epochs(state, budget * 60, spent_seconds, split_sizes)
    if plan is None:
        logger.warning("No training step could be timed; planning %d epochs, stopping at the budget.",
                       state.cfg.n_epochs)
        return None
    state.cfg = state.cfg.with_values(n_epochs=plan.epochs)
    rebuild_schedule(state, 0)
    logger.info("Time budget: %s.", plan.describe(budget))
    return plan


class Replanner:
    """After each epoch, the epochs that fit the rest of the budget at the pace the
    epochs really take (``after_epoch``); ``deadline`` is the run's monotonic end."""

    def __init__(self, plan: EpochPlan, deadline: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.plan, self.deadline, self._clock = plan, deadline, clock
        self._mark = clock()
        self._epoch_seconds: list[float] = []

    def start(self) -> None:
        """The first epoch starts now (after the probe, the linear probe, …)."""
        self._mark = self._clock()

    def after_epoch(self, state: RunState, epochs_done: int) -> bool:
        """Re-plan ``state`` after its ``epochs_done``-th epoch; True when its n_epochs
        changed. An epoch's time runs from the end of the one before, so it counts
        that one's checkpoint and log. Every process calls this after the same epoch
        and decides on the processes' mean figures, so all take the same decision."""
        now = self._clock()
        self._epoch_seconds = [*self._epoch_seconds, now - self._mark][-PACE_EPOCHS:]
        self._mark = now
        pace, seconds_left = state.strategy.sum([statistics.median(self._epoch_seconds), self.deadline - now])
        pace, seconds_left = pace / state.strategy.world_size, seconds_left / state.strategy.world_size
        planned_left = state.cfg.n_epochs - epochs_done
        if planned_left <= 0 or pace <= 0:
            return False  # the schedule has ended: more epochs would start it again
        # The end of the run, at the pace the epochs have over the probe's.
        end_seconds = self.plan.end_seconds * pace / self.plan.epoch_seconds
        fit = min(int(max(seconds_left - end_seconds, 0.0) // pace), MAX_EPOCHS - epochs_done)
        if abs(fit - planned_left) < max(1.0, REPLAN_SHARE * planned_left):
            return False
        state.cfg = state.cfg.with_values(n_epochs=max(epochs_done + fit, 1))
        rebuild_schedule(state, epochs_done)
        logger.info("Time budget: re-planned to %d epochs (an epoch takes %.3g s, %.3g s planned).",
                    state.cfg.n_epochs, pace, self.plan.epoch_seconds)
        return True


def rebuild_schedule(state: RunState, epochs_done: int) -> None:
    """A per-batch schedule (cosine, one-cycle) for ``state.cfg.n_epochs``, at the step
    ``epochs_done`` epochs reached: the steps already run stay as they were, the rest
    ends with the new last epoch. The step schedule does not depend on n_epochs."""
    if not steps_per_batch(state.cfg):
        return
    for group in state.optimizer.param_groups:
        # A schedule sets the groups' rates; the new one starts from the base rates
        # (one-cycle's peak is its max_lr, cosine's the initial_lr it keeps).
        group["lr"] = group.get("max_lr", group.get("initial_lr", group["lr"]))
    state.scheduler = make_scheduler(state.cfg, state.optimizer, state.steps_per_epoch)
    if epochs_done:
        seek(state.scheduler, epochs_done * state.steps_per_epoch)


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
    end_seconds = (val_steps + test_steps) * step_seconds
    epochs = int((budget_seconds - spent_seconds - end_seconds) // epoch_seconds)
    return EpochPlan(min(max(epochs, 1), MAX_EPOCHS), step_seconds, epoch_seconds, end_seconds)


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
