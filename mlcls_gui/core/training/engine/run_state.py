"""A run's working state — model, optimiser, schedule, batches — built in one
place (``build_run_state``) and torn down in one place (``RunState.close``).

It also knows how to turn a batch into logits (frozen extractor, feature
cache, augmentation, precision), so the loop only counts, steps and records.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, NamedTuple

import numpy as np
import torch
from torch import nn

from mlcls_gui.core.config import TrainConfig
from mlcls_gui.core.data.batch_transforms import BatchTransform
from mlcls_gui.core.data.cache import CacheBudget, FeatureStore, ImageCache, cache_budget_bytes
from mlcls_gui.core.data.loaders import Batch, BatchSource, DecodedImageDataset, batch_chunks, batch_count
from mlcls_gui.core.data.splits import DatasetSplits
from mlcls_gui.core.models import build as models
from mlcls_gui.core.models import registry
from mlcls_gui.core.training.engine.strategy import Strategy
from mlcls_gui.core.training.precision import PrecisionPlan as Precision
from mlcls_gui.core.training.precision import choose_precision
from mlcls_gui.core.training.recipe.ema import ema_weights, make_ema
from mlcls_gui.core.training.recipe.losses import make_criterion
from mlcls_gui.core.training.recipe.mixing import BatchMixer
from mlcls_gui.core.training.recipe.param_groups import parameter_groups
from mlcls_gui.core.training.recipe.schedules import make_scheduler
from mlcls_gui.core.training.warm_start import warm_start

logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


@dataclass
class Progress:
    """Everything that a resume must restore besides the weights."""

    epoch: int = 0  # last completed epoch
    best_score: float = math.nan
    best_epoch: int = 0
    epochs_without_improvement: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    global_step: int = 0

    def record(self, row: dict[str, float], monitor: str) -> bool:
        """Add an epoch's row; True when its ``monitor`` score is the best so far."""
        self.epoch = int(row["epoch"])
        self.history.append(row)
        score = row[monitor]
        improved = is_better(score, self.best_score, lower_is_better=monitor == "val_loss")
        if improved:
            self.best_score, self.best_epoch, self.epochs_without_improvement = score, self.epoch, 0
        else:
            self.epochs_without_improvement += 1
        return improved


class TrainStep(NamedTuple):
    """One training step: the batch's mean loss, its logits, and whether the
    optimiser stepped (not on a loss that was not finite)."""

    loss: float
    logits: torch.Tensor
    stepped: bool


@dataclass
class RunState:
    cfg: TrainConfig
    labels: list[str]
    strategy: Strategy
    precision: Precision
    scaler: Any
    model: nn.Module  # the plain module: state dicts always come from here
    head: nn.Module
    extractor: nn.Module
    train_forward: Callable[[torch.Tensor], torch.Tensor]  # gradient-synchronising forward
    train_head: Callable[[torch.Tensor], torch.Tensor]  # the same for a frozen extractor's head
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    criterion: nn.Module
    sources: dict[str, BatchSource]
    feature_stores: dict[str, FeatureStore]
    cache_features_for: dict[str, bool]
    batch_transform: BatchTransform
    mixer: BatchMixer | None  # mixup / cutmix of training batches, or None
    ema: Any  # timm ModelEmaV3 of ``model``, or None
    steps_per_epoch: int  # optimiser steps (global batches) per epoch
    loader_generator: torch.Generator
    augment_generator: torch.Generator
    mean: tuple[float, ...]
    std: tuple[float, ...]
    fast_paths: dict[str, str]

    @property
    def device(self) -> torch.device:
        return self.strategy.device

    def close(self) -> None:
        """End loader worker processes now rather than at garbage collection."""
        for source in self.sources.values():
            source.close()

    # ------------------------------------------------------------ batches
    def train_chunks(self) -> list[torch.Tensor]:
        """This process's part of each of this epoch's global batches (the global
        batches are the same in every process: one generator draws the order)."""
        min_size = 2 * self.strategy.world_size  # BatchNorm needs two images per process
        chunks = batch_chunks(self.sources["train"].next_order(), self.cfg.batch_size, min_size=min_size)
        return [self.strategy.local_part(chunk) for chunk in chunks]

    def batches(self, split: str, local: list[torch.Tensor]) -> Iterator[tuple[Batch, torch.Tensor | None]]:
        """A batch for each chunk of this process's indices, with its frozen features
        when they are already stored (then the images are not even loaded)."""
        source = self.sources[split]
        store = self.feature_stores[split]
        if self.cache_features_for[split] and store.complete_for(torch.cat(local) if local else None):
            for chunk in local:
                readable = store.readable(chunk)
                empty = torch.empty(0, dtype=torch.uint8)
                yield Batch(empty, source.dataset.targets[readable], readable, []), store.gather(readable)
            return
        for batch in source.batches(local):
            for index, _ in batch.failures:
                store.mark_unreadable(index)
            yield batch, None

    def eval_chunks(self, split: str) -> list[torch.Tensor]:
        """This process's share of ``split``, in batches (no image twice, none left out)."""
        indices = self.strategy.eval_indices(len(self.sources[split].dataset))
        return list(indices.split(self.cfg.batch_size)) if indices.numel() else []

    # ------------------------------------------------------------ forward
    def train_logits(self, batch: Batch, features: torch.Tensor | None,
                     targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A training batch's logits and the targets the loss compares them with
        (mixed, when mixup or cutmix is on)."""
        if self.mixer is None:
            return self.logits("train", batch, features, train=True), targets
        inputs, targets = self.mixer(self.batch_transform(batch.images, augment=True), targets)
        if self.cfg.freeze_extractor:
            with self.precision.autocast():
                return self.train_head(self.frozen_features(inputs)), targets
        with self.precision.autocast():
            return self.train_forward(inputs), targets

    def logits(self, split: str, batch: Batch, features: torch.Tensor | None, *, train: bool) -> torch.Tensor:
        """The model's outputs for a batch; a frozen extractor runs without autograd
        and only the head is differentiated."""
        augment = split == "train"
        if self.cfg.freeze_extractor:
            if features is None:
                features = self._extract_features(batch.images, augment=augment)
                if self.cache_features_for[split]:
                    self.feature_stores[split].put(batch.indices, features)
            with self.precision.autocast():
                return (self.train_head if train else self.head)(features)
        inputs = self.batch_transform(batch.images, augment=augment)
        with self.precision.autocast():
            return (self.train_forward if train else self.model)(inputs)

    def _extract_features(self, images: torch.Tensor, *, augment: bool) -> torch.Tensor:
        return self.frozen_features(self.batch_transform(images, augment=augment))

    def frozen_features(self, inputs: torch.Tensor) -> torch.Tensor:
        """The extractor's output for transformed ``inputs``, without autograd, as float32."""
        with torch.inference_mode(), self.precision.autocast():
            features = self.extractor(inputs)
        # A clone made outside inference mode is an ordinary tensor the head can learn from.
        return features.float().clone()

    def set_train_mode(self) -> None:
        """The model in training mode as this run trains it: a frozen extractor stays
        in eval mode; with pretrained weights and keep_norm_stats, BatchNorm keeps
        the pretrained statistics (random weights have none to keep)."""
        cfg = self.cfg
        models.set_train_mode(self.model, cfg.arch, cfg.freeze_extractor,
                              keep_norm_stats=cfg.keep_norm_stats and cfg.pretrained)

    def train_step(self, batch: Batch, features: torch.Tensor | None, *,
                   finite: Callable[[float], bool] = math.isfinite,
                   weight: float = 1.0) -> TrainStep:
        """The one training step (the Trainer's and the learning-rate finder's): the
        recipe's forward pass (mixing, precision, the frozen-feature cache), the
        loss with unknown labels masked, then backward and one optimiser step.

        ``finite`` decides whether a loss may be stepped on (with several processes:
        whether all agree); when it says no, nothing is stepped. ``weight`` scales
        the loss that is backpropagated (a process's share of the global batch)."""
        targets = batch.targets.to(self.device, non_blocking=True)
        self.optimizer.zero_grad(set_to_none=True)
        # One image (batch_size 1, or unreadable files leaving one) cannot give
        # BatchNorm batch statistics: its running statistics stand in.
        with models.batchnorm_frozen(self.model, batch.targets.shape[0] == 1):
            logits, targets = self.train_logits(batch, features, targets)
            logits = logits.float()
        loss = self.criterion(logits, targets)
        value = loss.item()
        stepped = finite(value)
        if stepped:
            self.backward_and_step(loss * weight if weight != 1.0 else loss)
        return TrainStep(value, logits.detach(), stepped)

    def backward_and_step(self, loss: torch.Tensor) -> None:
        """Backpropagate ``loss`` and take one optimiser step (through the fp16 loss
        scaler when the run has one)."""
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            self.optimizer.step()

    def weights(self, *, use_ema: bool = False) -> dict[str, torch.Tensor]:
        """A CPU copy of the model's weights, or of the EMA's."""
        if use_ema and self.ema is not None:
            return ema_weights(self.ema)
        return {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}

    def update_ema(self, step: int) -> None:
        if self.ema is not None:
            self.ema.update(self.model, step=step)


def build_run_state(
    cfg: TrainConfig, splits: DatasetSplits, strategy: Strategy, *, pretrained: bool,
) -> RunState:
    labels = list(splits.labels)
    device = strategy.device
    torch.manual_seed(cfg.seed)  # the same initial weights in every process
    loader_generator = torch.Generator().manual_seed(cfg.seed)
    augment_generator = torch.Generator().manual_seed(cfg.seed + 1 + strategy.rank)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input size: pick the fastest kernels
    precision = choose_precision(cfg.mixed_precision, device)
    if strategy.distributed and pretrained and not cfg.weights_file:
        # The main process downloads the weights once; the others then find them
        # in the cache instead of all downloading into it at the same time.
        strategy.on_main(lambda: models.build_model(cfg.arch, len(labels), pretrained=True,
                                                    image_size=cfg.image_size) and None)
    model = models.build_model(
        cfg.arch, len(labels), pretrained=pretrained and not cfg.init_model, weights_file=cfg.weights_file,
        freeze_extractor=cfg.freeze_extractor, image_size=cfg.image_size, head_init=cfg.head_init,
    )
    if cfg.init_model:  # a warm start: the earlier model's weights replace ImageNet's
        warm_start(model, cfg.arch, labels, cfg.init_model)
    model = strategy.prepare_model(model, cfg.sync_batchnorm).to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    head = models.head_module(model, cfg.arch)
    extractor = models.feature_extractor(model, cfg.arch)
    # torch.compile wraps the module; state dicts are always taken from ``model``.
    forward = torch.compile(model) if cfg.compile_model else model
    # Under DDP the module that runs backward is the one that synchronises gradients:
    # the whole model, or only the head when the extractor is frozen.
    train_forward = strategy.wrap(forward) if not cfg.freeze_extractor else forward
    train_head = strategy.wrap(head) if cfg.freeze_extractor else head
    optimizer = make_optimizer(cfg, parameter_groups(cfg, model))
    steps_per_epoch = batch_count(len(splits.train), cfg.batch_size, min_size=2 * strategy.world_size)
    scheduler = make_scheduler(cfg, optimizer, steps_per_epoch)
    criterion = make_criterion(cfg, _pos_weight(cfg, splits, labels, device))
    ema = make_ema(cfg, model)
    # The normalisation the architecture's pretrained weights expect (ImageNet's for
    # torchvision; timm's pretrained_cfg): stored in every model file.
    normalisation = registry.default_input(cfg.arch)
    batch_transform = BatchTransform(
        device, rotation_degrees=cfg.rotation_degrees, horizontal_flip=cfg.horizontal_flip,
        channels_last=cfg.channels_last, generator=augment_generator,
        mean=normalisation.mean, std=normalisation.std,
        crop_scale_min=cfg.crop_scale_min if cfg.random_resized_crop else None,
        auto_augment=cfg.auto_augment, random_erasing=cfg.random_erasing,
    )
    mixer = BatchMixer.from_config(cfg, augment_generator)
    sources, stores, cached_bytes = _make_sources(cfg, splits, labels, strategy, loader_generator)
    # Frozen features can stand in for images whenever the images are not
    # augmented: always for validation and test, for training without augmentation.
    frozen = cfg.freeze_extractor and cfg.cache_features
    augmented = batch_transform.augments or mixer is not None
    cache_features_for = {"train": frozen and not augmented, "val": frozen, "test": frozen}
    return RunState(
        cfg=cfg, labels=labels, strategy=strategy, precision=precision, scaler=precision.grad_scaler(),
        model=model, head=head, extractor=extractor, train_forward=train_forward, train_head=train_head,
        optimizer=optimizer, scheduler=scheduler, criterion=criterion, sources=sources,
        feature_stores=stores, cache_features_for=cache_features_for, batch_transform=batch_transform,
        mixer=mixer, ema=ema, steps_per_epoch=steps_per_epoch, loader_generator=loader_generator, augment_generator=augment_generator,
        mean=tuple(normalisation.mean), std=tuple(normalisation.std),
        fast_paths=_fast_paths(cfg, splits, precision, cached_bytes, cache_features_for, strategy),
    )


def make_optimizer(cfg: TrainConfig, params: list[Any]) -> torch.optim.Optimizer:
    kind = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.AdamW
    # adam: the seed's reading — weight_decay * w added to the gradient after
    # backward, before the step (coupled L2), exactly torch's Adam.
    # adamw: decoupled — w <- w * (1 - lr * wd) before each Adam update.
    try:
        # One fused kernel instead of a loop over tensors (CPU and CUDA, torch >= 2.4).
        return kind(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return kind(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)


def move_optimizer_state(optimizer: torch.optim.Optimizer, device: torch.device) -> None:
    for state in optimizer.state.values():
        for key, value in state.items():
            if isinstance(value, torch.Tensor) and key != "step":
                state[key] = value.to(device)


def is_better(score: float, best: float, *, lower_is_better: bool) -> bool:
    if not math.isfinite(score):
        return False
    if not math.isfinite(best):
        return True
    return score < best if lower_is_better else score > best


def _pos_weight(cfg: TrainConfig, splits: DatasetSplits, labels: list[str], device: torch.device) -> torch.Tensor | None:
    """negatives / positives per label in the training split, when asked for."""
    if not cfg.pos_weight:
        return None
    positives = torch.tensor([sum(label in s.labels for s in splits.train) for label in labels], dtype=torch.float32)
    # A CSV's unknown cells are neither positives nor negatives.
    known = torch.tensor([sum(label not in s.unknown for s in splits.train) for label in labels], dtype=torch.float32)
    weight = ((known - positives) / positives.clamp(min=1)).clamp(1.0, 100.0)
    logger.info("pos_weight: %s", ", ".join(f"{label} {w:.2f}" for label, w in zip(labels, weight.tolist())))
    return weight.to(device)


def _make_sources(
    cfg: TrainConfig, splits: DatasetSplits, labels: list[str], strategy: Strategy,
    loader_generator: torch.Generator,
) -> tuple[dict[str, BatchSource], dict[str, FeatureStore], int]:
    pin = cfg.pin_memory and strategy.device.type == "cuda"
    # Each process caches only its own images, so the budget is shared out.
    budget_bytes = cache_budget_bytes(cfg.cache_budget_mb) // strategy.world_size if cfg.cache_images else 0
    budget = CacheBudget(budget_bytes)
    sources: dict[str, BatchSource] = {}
    stores: dict[str, FeatureStore] = {}
    cached_bytes = 0
    for name in SPLITS:
        samples = splits.split(name)
        cache = ImageCache(len(samples), cfg.image_size, budget) if cfg.cache_images else None
        cached_bytes += cache.nbytes if cache else 0
        dataset = DecodedImageDataset(samples, labels, cfg.image_size, fast_decode=cfg.fast_decode, cache=cache)
        sources[name] = BatchSource(
            dataset, batch_size=cfg.batch_size, shuffle=name == "train", num_workers=cfg.num_workers,
            pin_memory=pin, generator=loader_generator if name == "train" else None,
        )
        stores[name] = FeatureStore(len(samples))
    return sources, stores, cached_bytes


def _fast_paths(
    cfg: TrainConfig, splits: DatasetSplits, precision: Precision, cached_bytes: int,
    cache_features_for: dict[str, bool], strategy: Strategy,
) -> dict[str, str]:
    total_images = sum(len(splits.split(n)) for n in SPLITS)
    share = cached_bytes / (3 * cfg.image_size**2 * total_images) if total_images else 0
    paths = {
        "mixed precision": precision.name,
        "channels_last": "on" if cfg.channels_last else "off",
        "fast JPEG decoding": "on" if cfg.fast_decode else "off",
        "image cache": (f"{cached_bytes / 1e9:.2f} GB ({share:.0%} of the images)" if cfg.cache_images else "off"),
        "frozen feature cache": ", ".join(n for n, on in cache_features_for.items() if on) or "off",
        "frozen extractor": "inference only, head trained" if cfg.freeze_extractor else "off",
        "torch.compile": "on" if cfg.compile_model else "off",
        "loader workers": str(cfg.num_workers),
    }
    if strategy.distributed:
        paths["processes"] = strategy.describe()
    logger.info("Fast paths: %s", ", ".join(f"{k}: {v}" for k, v in paths.items()))
    return paths


def concat_or_empty(parts: list[np.ndarray], columns: int, dtype: Any = np.float64) -> np.ndarray:
    if parts:
        return np.concatenate(parts)
    return np.zeros((0, columns) if columns else (0,), dtype=dtype)
