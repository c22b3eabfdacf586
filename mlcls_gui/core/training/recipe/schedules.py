"""Learning-rate schedules: the seed's StepLR (stepped per epoch) and cosine with
linear warmup or one-cycle (stepped per batch), all from torch.optim.lr_scheduler.

Per-batch schedules are closed-form in the step count, so a run can be put at
any step (``seek``): a resumed run, or an epoch trained again after a mid-epoch
checkpoint, continues with exactly the rates an uninterrupted run would use.
"""

from __future__ import annotations

import logging
import math
import warnings

import torch
from torch.optim.lr_scheduler import LambdaLR, LRScheduler, OneCycleLR, StepLR

from mlcls_gui.core.config import TrainConfig

logger = logging.getLogger(__name__)

PER_BATCH = ("cosine", "onecycle")
ONECYCLE_DEFAULT_WARMUP = 0.3  # OneCycleLR's own pct_start


def steps_per_batch(cfg: TrainConfig) -> bool:
    return cfg.lr_schedule in PER_BATCH


def warmup_steps(cfg: TrainConfig, steps_per_epoch: int) -> int:
    """The warmup in optimiser steps, at most half the run (a longer one would
    leave no time to decay; said in the log)."""
    total = cfg.n_epochs * steps_per_epoch
    wanted = round(cfg.warmup_epochs * steps_per_epoch)
    if wanted > total // 2:
        logger.info("Warmup of %g epochs shortened to half the run (%d of %d steps).",
                    cfg.warmup_epochs, total // 2, total)
        return total // 2
    return wanted


def make_scheduler(cfg: TrainConfig, optimizer: torch.optim.Optimizer, steps_per_epoch: int) -> LRScheduler:
    if cfg.lr_schedule == "step":
        return StepLR(optimizer, step_size=cfg.lr_step, gamma=cfg.lr_decrease)
    total = max(1, cfg.n_epochs * steps_per_epoch)
    warmup = warmup_steps(cfg, steps_per_epoch)
    if cfg.lr_schedule == "onecycle":
        share = warmup / total if warmup else ONECYCLE_DEFAULT_WARMUP
        return OneCycleLR(optimizer, max_lr=[g["lr"] for g in optimizer.param_groups],
                          total_steps=total, pct_start=min(max(share, 1e-6), 0.5))
    return LambdaLR(optimizer, _WarmupCosine(warmup, total))


class _WarmupCosine:
    """Factor of the base rate at step ``s``: linear rise over ``warmup`` steps
    (starting at 1/warmup, not 0, so no step is wasted), then half a cosine to 0.
    A small class rather than a closure so the scheduler's state dict stays plain."""

    def __init__(self, warmup: int, total: int) -> None:
        self.warmup, self.total = warmup, total

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        progress = (step - self.warmup) / max(1, self.total - self.warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def seek(scheduler: LRScheduler, step: int) -> None:
    """Put a per-batch scheduler at optimiser step ``step`` (0 = the run's first
    batch); its step() sets the optimiser's rates (and one-cycle's momentum)."""
    scheduler.last_epoch = step - 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "step() before optimizer.step()"
        scheduler.step()
