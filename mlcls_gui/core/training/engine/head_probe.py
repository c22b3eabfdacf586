"""A linear probe: the new head fitted on frozen pretrained features, in seconds.

The features of the training and validation images are computed once (no
augmentation, BatchNorm in eval mode); the head is then fitted on them with
full-batch AdamW, for each of a few weight decays, and the step and weight
decay with the lowest validation loss win. Fine-tuning that starts from this
head (``probe_first``) does not disturb the pretrained features with the
gradients of a random head (Kumar et al., "Fine-Tuning can Distort Pretrained
Features", ICLR 2022). Without validation images the training loss decides
among fewer steps and the largest weight decay is used.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import nn

from mlcls_gui.core.errors import DatasetError, ModelError, field_ref
from mlcls_gui.core.training.engine.run_state import RunState

WEIGHT_DECAYS = (1e-4, 1e-3, 1e-2, 1e-1)
LEARNING_RATE = 1e-2
MAX_STEPS = 600
CHECK_EVERY = 5
PATIENCE = 60  # steps without a better validation loss


@dataclass(frozen=True)
class ProbeResult:
    train_images: int
    val_images: int
    weight_decay: float
    steps: int
    val_loss: float  # nan without validation images
    seconds: float

    def describe(self) -> str:
        score = f"validation loss {self.val_loss:.4f}, " if self.val_images else ""
        return (f"head fitted on the frozen features of {self.train_images} training images "
                f"({score}weight decay {self.weight_decay:g}, {self.steps} steps, {self.seconds:.1f} s)")


def split_features(state: RunState, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Features and targets of every readable image of ``split`` (all of them, in
    every process: the probe gives every process the same head)."""
    source, store = state.sources[split], state.feature_stores[split]
    count = len(source.dataset)
    if count == 0:
        return torch.zeros(0, 0), torch.zeros(0, len(state.labels))
    # A frozen extractor's run keeps these features for its epochs (the same eval-mode
    # pass). An unreadable file leaves the store incomplete, so the first epoch reads
    # the images again and lists the file among the skipped ones.
    keep = state.cfg.freeze_extractor and state.cache_features_for[split] and not state.strategy.distributed
    was_training = state.model.training
    state.model.eval()
    features, targets = [], []
    try:
        for batch in source.batches(list(torch.arange(count).split(state.cfg.batch_size))):
            if batch.targets.shape[0] == 0:
                continue
            inputs = state.batch_transform(batch.images, augment=False)
            features.append(state.frozen_features(inputs))
            targets.append(batch.targets.to(state.device, dtype=torch.float32))
            if keep:
                store.put(batch.indices, features[-1])
    finally:
        state.model.train(was_training)
    if not features:
        return torch.zeros(0, 0), torch.zeros(0, len(state.labels))
    return torch.cat(features), torch.cat(targets)


def fit_head(head: nn.Linear, train: tuple[torch.Tensor, torch.Tensor],
             val: tuple[torch.Tensor, torch.Tensor], criterion: nn.Module) -> ProbeResult:
    """Fit ``head`` (in place) on precomputed features; see the module's docstring."""
    started = time.monotonic()
    x_train, y_train = train
    x_val, y_val = val
    has_val = x_val.shape[0] > 0
    decays = WEIGHT_DECAYS if has_val else WEIGHT_DECAYS[-1:]
    best: tuple[float, float, int, dict[str, torch.Tensor]] | None = None
    for decay in decays:
        candidate = nn.Linear(head.in_features, head.out_features, bias=head.bias is not None).to(x_train.device)
        nn.init.zeros_(candidate.weight)
        if candidate.bias is not None:
            nn.init.zeros_(candidate.bias)
        optimizer = torch.optim.AdamW(candidate.parameters(), lr=LEARNING_RATE, weight_decay=decay)
        since_best = 0
        for step in range(1, MAX_STEPS + 1):
            optimizer.zero_grad(set_to_none=True)
            criterion(candidate(x_train), y_train).backward()
            optimizer.step()
            if step % CHECK_EVERY:
                continue
            with torch.no_grad():
                x, y = (x_val, y_val) if has_val else (x_train, y_train)
                loss = float(criterion(candidate(x), y))
            if best is None or loss < best[0]:
                state = {k: v.detach().clone() for k, v in candidate.state_dict().items()}
                best = (loss, decay, step, state)
                since_best = 0
            else:
                since_best += CHECK_EVERY
                if since_best >= PATIENCE:
                    break
    assert best is not None
    loss, decay, steps, weights = best
    head.load_state_dict({k: v.to(head.weight.device, head.weight.dtype) for k, v in weights.items()})
    return ProbeResult(train_images=int(x_train.shape[0]), val_images=int(x_val.shape[0]), weight_decay=decay,
                       steps=steps, val_loss=loss if has_val else float("nan"),
                       seconds=time.monotonic() - started)


def probe_head(state: RunState) -> ProbeResult:
    """Fit the run's head on frozen features of its training and validation images."""
    train = split_features(state, "train")
    if train[0].shape[0] == 0:
        raise DatasetError("No training image could be read for the linear probe (Fit the head first); "
                           "see the skipped files.")
    val = split_features(state, "val")
    if val[0].shape[0] == 0:
        val = (torch.zeros(0, train[0].shape[1], device=train[0].device), val[1])
    head = state.head
    if not isinstance(head, nn.Linear):
        raise ModelError(f"{state.cfg.arch}'s classifier is not one linear layer, so its head cannot be fitted "
                         f"first; set {field_ref('probe_first', False)}.")
    result = fit_head(head, train, val, state.criterion)
    if state.strategy.distributed:
        state.strategy.broadcast_parameters(head)  # every process starts from rank 0's head
    return result
