"""Learning-rate range test (Smith 2015, "Cyclical Learning Rates", section 3.3;
as in fastai's ``lr_find``): train for a short while from the run's initial
weights while the learning rate grows exponentially from tiny to huge, record
the smoothed training loss at each step, stop once it diverges, and suggest a
learning rate from the curve.

The test builds the same run state as training (``build_run_state``: model,
optimiser, loss, augmentation, batches), so it measures the configuration the
user is about to train. Its model is thrown away afterwards: nothing is written
anywhere — not into the output folder, not into an earlier run — and the
user's config is not changed.

Suggestion: fastai's "valley" (its default since fastai 2.5): the middle of the
longest stretch over which the smoothed loss keeps falling. The steepest point
of a short, noisy curve jumps around from one test to the next; the valley is
steadier and still well below the learning rate where the loss blows up. The
steepest point and the minimum ÷ 10 (Smith's rule of thumb) are reported too.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np

from mlcls_gui.core.config import TrainConfig
from mlcls_gui.core.data.dataset import scan_data_root
from mlcls_gui.core.devices import resolve_device
from mlcls_gui.core.errors import ConfigError, TrainingError, field_ref
from mlcls_gui.core.progress import ShouldStop, never_stop

logger = logging.getLogger(__name__)

DEFAULT_START_LR = 1e-7
DEFAULT_END_LR = 10.0
DEFAULT_STEPS = 100
MIN_STEPS = 10
# fastai's default is 100; past 1000 the curve gains no detail, and the valley
# search takes time quadratic in the points.
MAX_STEPS = 1000
SMOOTHING = 0.98  # fastai's beta: the exponential moving average of the batch losses
DIVERGENCE_FACTOR = 4.0  # stop once the smoothed loss exceeds 4 × its best (fastai)


@dataclass(frozen=True)
class LrPoint:
    step: int  # 1-based
    lr: float
    loss: float  # this batch's loss
    smoothed: float  # debiased exponential moving average up to this batch


@dataclass
class LrFindResult:
    points: list[LrPoint]
    steps_planned: int
    stop_reason: str  # "completed", "diverged" or "cancelled"
    suggestion: float | None  # the learning rate to use, None when the curve allows none
    method: str  # which rule gave ``suggestion``
    alternatives: dict[str, float | None] = field(default_factory=dict)
    message: str = ""  # one sentence about the outcome, for the CLI and the dialog
    seconds: float = 0.0

    @property
    def lrs(self) -> list[float]:
        return [p.lr for p in self.points]

    @property
    def smoothed(self) -> list[float]:
        return [p.smoothed for p in self.points]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["points"] = [asdict(p) for p in self.points]
        return data


def find_learning_rate(
    cfg: TrainConfig,
    *,
    start_lr: float = DEFAULT_START_LR,
    end_lr: float = DEFAULT_END_LR,
    steps: int = DEFAULT_STEPS,
    should_stop: ShouldStop = never_stop,
    on_point: Callable[[LrPoint], None] | None = None,
) -> LrFindResult:
    """Run the range test for ``cfg``. ``should_stop`` (``core.progress``'s) is polled
    before every batch; once it says True the test returns a cancelled result.
    ``on_point`` hears every recorded step: the curve's data as it grows (the
    window plots it live, the CLI prints it), each point also saying how far the
    test is (``step`` of ``steps``)."""
    check_range(start_lr, end_lr, steps)
    # Imported here: the engine pulls in the whole training stack.
    from mlcls_gui.core.training.engine.run_state import build_run_state
    from mlcls_gui.core.training.engine.strategy import SingleDevice

    started = time.monotonic()
    splits = scan_data_root(cfg.images_root, val_fraction=cfg.val_fraction,
                            test_fraction=cfg.test_fraction, seed=cfg.seed, groups_file=cfg.split_groups or None)
    check_training_images(len(splits.train), cfg.batch_size, splits.root)
    if cfg.processes > 1:
        logger.info("The learning-rate test runs in one process (processes=%d is for training).",
                    cfg.processes)
    state = build_run_state(cfg, splits, SingleDevice(resolve_device(cfg.device)), pretrained=cfg.pretrained)
    try:
        points, reason = _sweep(state, cfg, start_lr, end_lr, steps, should_stop, on_point)
    except RuntimeError as exc:
        if "out of memory" in str(exc).lower():
            raise TrainingError(
                f"Out of memory on {cfg.device} with batch size {cfg.batch_size} and image size "
                f"{cfg.image_size} during the learning-rate test. Lower {field_ref('batch_size')} or "
                f"{field_ref('image_size')}."
            ) from exc
        raise
    finally:
        state.close()
    result = summarise(points, steps, reason)
    result.seconds = time.monotonic() - started
    logger.info("Learning-rate test: %s", result.message)
    return result


def check_range(start_lr: float, end_lr: float, steps: int) -> None:
    if not (math.isfinite(start_lr) and start_lr > 0):
        raise ConfigError(f"Start learning rate {start_lr}: must be a positive number, e.g. 1e-7.")
    if not (math.isfinite(end_lr) and end_lr > start_lr):
        raise ConfigError(f"End learning rate {end_lr}: must be larger than the start ({start_lr}), e.g. 10.")
    if steps < MIN_STEPS:
        raise ConfigError(f"Steps {steps}: the test needs at least {MIN_STEPS} steps to draw a curve; "
                          f"{DEFAULT_STEPS} is usual.")
    if steps > MAX_STEPS:
        raise ConfigError(f"Steps {steps}: at most {MAX_STEPS}; more steps add no detail to the curve "
                          f"({DEFAULT_STEPS} is usual).")


def check_training_images(images: int, batch_size: int, root: str) -> None:
    """The test's loss is a batch's: a set smaller than one batch would give every
    step the same few images again and measure only them."""
    if images < batch_size:
        raise ConfigError(
            f"The training split of {root} has {images} image(s): the learning-rate test needs at "
            f"least one full batch ({field_ref('batch_size', batch_size)}). Add images, or lower "
            f"{field_ref('batch_size')} or {field_ref('val_fraction')} / {field_ref('test_fraction')}.")


def _sweep(
    state: Any, cfg: TrainConfig, start_lr: float, end_lr: float, steps: int,
    should_stop: ShouldStop, on_point: Callable[[LrPoint], None] | None,
) -> tuple[list[LrPoint], str]:
    optimizer = state.optimizer
    state.set_train_mode()
    points: list[LrPoint] = []
    average, best = 0.0, math.inf
    step = 0
    while True:
        chunks = state.train_chunks()  # one shuffled epoch; a small set is gone through again
        if not chunks:
            raise ConfigError("No training batch could be formed: add training images.")
        trained = False
        for batch, features in state.batches("train", chunks):
            if should_stop():
                return points, "cancelled"
            count = batch.targets.shape[0]
            if count == 0:
                continue  # every image of this batch was unreadable
            lr = start_lr * (end_lr / start_lr) ** (step / (steps - 1))
            # Every group takes the swept rate (all groups train at the configured one);
            # the run's schedule is never stepped, so warmup or decay cannot interfere.
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss = state.train_step(batch, features).loss  # the Trainer's step; none on a NaN loss
            trained = True
            step += 1
            if not math.isfinite(loss):
                return points, "diverged"
            average = SMOOTHING * average + (1 - SMOOTHING) * loss
            smoothed = average / (1 - SMOOTHING**step)
            point = LrPoint(step, lr, loss, smoothed)
            points.append(point)
            if on_point is not None:
                on_point(point)
            best = min(best, smoothed)
            if smoothed > DIVERGENCE_FACTOR * best:
                return points, "diverged"
            if step >= steps:
                return points, "completed"
        if not trained:  # else the next epoch fails alike, for ever
            raise ConfigError("No training image could be read in a whole pass over the training "
                              "split: check the image files.")


# ------------------------------------------------------------------ suggestion
def summarise(points: list[LrPoint], steps: int, reason: str) -> LrFindResult:
    """The suggestion and a sentence about the test; no suggestion after a cancel."""
    done = f"{len(points)} of {steps} steps"
    if reason == "cancelled":
        return LrFindResult(points, steps, reason, None, "", {},
                            f"Cancelled after {done}; no suggestion.")
    lrs = np.array([p.lr for p in points])
    losses = np.array([p.smoothed for p in points])
    # As fastai: leave out the first tenth (the average is still settling) and
    # the last five points (already blowing up).
    lrs, losses = lrs[steps // 10: max(len(lrs) - 5, 0)], losses[steps // 10: max(len(losses) - 5, 0)]
    ended = "diverged" if reason == "diverged" else "completed"
    last = f" (stopped at lr {points[-1].lr:.2g})" if reason == "diverged" and points else ""
    if len(lrs) < 5:
        first = f"{points[-1].lr:.2g}" if points else "the first step"
        return LrFindResult(
            points, steps, reason, None, "", {},
            f"The loss diverged after {done}, at lr {first}: too few points for a suggestion. "
            "Start the test at a lower learning rate.",
        )
    alternatives = {"valley": valley(lrs, losses), "steepest": steepest(lrs, losses),
                    "minimum/10": float(lrs[int(np.argmin(losses))] / 10)}
    suggestion = alternatives["valley"]
    if suggestion is None:
        return LrFindResult(
            points, steps, reason, None, "", alternatives,
            f"The test {ended} after {done}{last}, but the loss did not fall anywhere in the range: "
            "check the labels and images, or start the test at a lower learning rate.",
        )
    return LrFindResult(
        points, steps, reason, suggestion, "valley", alternatives,
        f"The test {ended} after {done}{last}. Suggested learning rate {suggestion:.2g} "
        "(the middle of the longest stretch where the loss falls).",
    )


def valley(lrs: np.ndarray, losses: np.ndarray) -> float | None:
    """fastai's valley: the longest decreasing subsequence of the loss curve, and
    the point half-way along it; None when the loss never falls."""
    n = len(losses)
    longest = [1] * n
    end = 0
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and longest[i] < longest[j] + 1:
                longest[i] = longest[j] + 1
        if longest[end] < longest[i]:
            end = i
    if longest[end] < 3:  # two falling points are noise, not a valley
        return None
    start = max(end - longest[end], 0)
    third = (end - start) / 3
    return float(lrs[min(start + int(third) + int(third / 2), n - 1)])


def steepest(lrs: np.ndarray, losses: np.ndarray) -> float | None:
    """Where the smoothed loss falls fastest per decade of learning rate."""
    slopes = np.gradient(losses, np.log10(lrs))
    index = int(np.argmin(slopes))
    return float(lrs[index]) if slopes[index] < 0 else None
