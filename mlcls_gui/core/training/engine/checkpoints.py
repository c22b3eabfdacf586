"""A training run's checkpoint or final model as a ModelFile, and how a resume restores it.

One copy of the plain (unwrapped) weights, the optimiser and schedule, the
progress, the random state and the split's fingerprint — enough to continue
exactly, at any process count, or to predict.
"""

from __future__ import annotations

import logging
import math
import warnings
from datetime import datetime
from typing import Any, Mapping

import torch

from mlcls_gui.core.errors import CheckpointError
from mlcls_gui.core.model_file.contents import ModelFile
from mlcls_gui.core.training.engine.run_state import Progress, RunState, move_optimizer_state
from mlcls_gui.core.training.recipe.schedules import seek, steps_per_batch
from mlcls_gui.core.training.resume import ResumePlan, optimizer_state_usable

logger = logging.getLogger(__name__)


def training_payload(
    state: RunState, progress: Progress, kind: str, *, run_id: str, split: dict[str, Any],
    test_held_out: bool, weights_epoch: int | None = None, extra: dict[str, Any] | None = None,
    resumable: bool = True, weights: dict[str, torch.Tensor] | None = None,
) -> dict[str, Any]:
    """A checkpoint (``resumable``: with the optimiser, schedule, EMA and random state
    to continue exactly) or a final model (weights and what prediction needs — the
    optimiser state alone is twice the weights), as the ModelFile's stored dict.

    ``weights`` (the EMA's, when they scored better) replace the model's as the
    file's weights; a resumable file then keeps the model's as ``raw_model_state``.
    ``extra`` sets more ModelFile fields (a final model's thresholds and test metrics)."""
    cfg = state.cfg
    raw = _on_cpu(state.model.state_dict())
    contents = ModelFile(
        kind=kind, arch=cfg.arch, labels=state.labels, image_size=cfg.image_size, mean=state.mean,
        std=state.std, threshold=cfg.threshold, config=cfg.to_dict(),
        model_state=weights if weights is not None else raw, optimizer_name=cfg.optimizer,
        epoch=progress.best_epoch if kind == "best" else progress.epoch, best_score=progress.best_score,
        best_epoch=progress.best_epoch, epochs_without_improvement=progress.epochs_without_improvement,
        history=progress.history, global_step=progress.global_step, partial_epoch=weights_epoch or 0,
        saved_at=datetime.now().isoformat(timespec="seconds"), run_id=run_id, split=split,
        test_held_out=test_held_out, **(_resume_state(state, raw, weights) if resumable else {}), **(extra or {}),
    )
    return contents.to_payload()


def _resume_state(state: RunState, raw: dict[str, torch.Tensor],
                  weights: dict[str, torch.Tensor] | None) -> dict[str, Any]:
    """The ModelFile fields only a checkpoint holds."""
    return {
        "optimizer_state": state.optimizer.state_dict(),
        "scheduler_state": state.scheduler.state_dict(),
        "rng": {
            "torch": torch.get_rng_state(),
            "loader": state.loader_generator.get_state(),
            "augment": state.augment_generator.get_state(),
        },
        "raw_model_state": raw if weights is not None else None,
        "ema_state": None if state.ema is None else _on_cpu(state.ema.state_dict()),
    }


def _on_cpu(weights: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {key: value.detach().cpu() for key, value in weights.items()}


def restore(state: RunState, plan: ResumePlan) -> tuple[Progress, dict[str, torch.Tensor] | None]:
    """Load weights, optimiser, schedule and random state from the plan's file;
    return the progress and the best epoch's weights (None when they cannot be found)."""
    cfg, file, source = state.cfg, plan.model_file, plan.model_file.path
    try:
        # A best checkpoint whose EMA weights won holds the raw ones beside them.
        state.model.load_state_dict(file.raw_model_state or file.model_state)
        _restore_ema(state, file)
        if optimizer_state_usable(file, cfg) and _same_groups(state, file):
            state.optimizer.load_state_dict(file.optimizer_state)
            move_optimizer_state(state.optimizer, state.device)
        else:
            logger.info("Resuming with a fresh %s optimizer state", cfg.optimizer)
        saved_schedule = file.config.get("lr_schedule", "step")
        if file.scheduler_state and saved_schedule == cfg.lr_schedule == "step":
            state.scheduler.load_state_dict(file.scheduler_state)
        else:
            _replay_schedule(state, file.epoch, source,
                             exact=bool(file.scheduler_state) and saved_schedule == cfg.lr_schedule)
    except (RuntimeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{source} does not fit this model ({str(exc)[:200]}).") from None
    if not steps_per_batch(cfg):
        # The configured learning-rate schedule applies from the resumed epoch on.
        state.scheduler.step_size = cfg.lr_step
        state.scheduler.gamma = cfg.lr_decrease
    progress = Progress(
        epoch=file.epoch, best_score=file.best_score, best_epoch=file.best_epoch,
        epochs_without_improvement=file.epochs_without_improvement,
        history=[dict(row) for row in file.history], global_step=file.global_step,
    )
    best = None if plan.best_weights is None else {k: v.detach().cpu().clone() for k, v in plan.best_weights.items()}
    if best is None and progress.best_epoch:
        logger.warning("The best weights of epoch %d are not beside %s; the best score restarts.",
                       progress.best_epoch, source)
        progress.best_score, progress.best_epoch = math.nan, 0
    rng = file.rng or {}
    if isinstance(rng.get("torch"), torch.Tensor):
        torch.set_rng_state(rng["torch"])
    if isinstance(rng.get("loader"), torch.Tensor):
        state.loader_generator.set_state(rng["loader"])
    if isinstance(rng.get("augment"), torch.Tensor) and state.strategy.rank == 0:
        state.augment_generator.set_state(rng["augment"])  # process 0's stream; others keep their seed
    logger.info("Resumed from %s at epoch %d (best epoch %d)", source, progress.epoch, progress.best_epoch)
    return progress, best


def _restore_ema(state: RunState, file: ModelFile) -> None:
    """The EMA continues from the file's; a file without one starts it from the
    restored weights."""
    if state.ema is None:
        return
    if file.ema_state:
        state.ema.load_state_dict(file.ema_state)
    else:
        state.ema.module.load_state_dict(state.model.state_dict())
        logger.info("The checkpoint holds no weight EMA: it starts from the resumed weights.")


def _same_groups(state: RunState, file: ModelFile) -> bool:
    """The saved optimiser has the same parameter groups (no-decay groups on or off)."""
    saved = (file.optimizer_state or {}).get("param_groups", [])
    return [len(g["params"]) for g in saved] == [len(g["params"]) for g in state.optimizer.param_groups]


def _replay_schedule(state: RunState, epochs: int, source: str, *, exact: bool = False) -> None:
    """A file without this schedule's state (a final model, or another schedule):
    bring the learning rate to where the schedule has it after ``epochs`` epochs.
    Per-batch schedules are closed-form in the step, so they continue exactly."""
    if steps_per_batch(state.cfg):
        seek(state.scheduler, epochs * state.steps_per_epoch)
        if not exact:
            logger.info("%s: the %s schedule continues from epoch %d.", source, state.cfg.lr_schedule, epochs)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "step() before optimizer.step()"
        for _ in range(epochs):
            state.scheduler.step()
    logger.info(
        "%s holds no optimiser state (a final model): the learning rate continues from epoch %d, "
        "the optimiser's moments start afresh. Resume from last_checkpoint.pt to continue exactly.",
        source, epochs,
    )
