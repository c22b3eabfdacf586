"""Weight EMA: timm's ModelEmaV3 with its decay warmup, so short runs average
over proportionally fewer steps (the decay grows towards the configured value
as 1 - (1 + step) ** -2/3)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from mlcls_gui.core.config import TrainConfig

if TYPE_CHECKING:  # timm is imported when an EMA is made: it adds ~0.5 s to every start
    from timm.utils import ModelEmaV3


def make_ema(cfg: TrainConfig, model: nn.Module) -> ModelEmaV3 | None:
    """An EMA copy of ``model`` (the plain module), or None when ema_decay is 0."""
    if cfg.ema_decay <= 0:
        return None
    from timm.utils import ModelEmaV3

    # float32 EMA whatever the autocast: the updates are far below bf16's resolution.
    return ModelEmaV3(model, decay=cfg.ema_decay, use_warmup=True, dtype=torch.float32)


def ema_weights(ema: ModelEmaV3) -> dict[str, torch.Tensor]:
    """The EMA's weights under the plain model's state-dict names, on the CPU."""
    return {k: v.detach().cpu().clone() for k, v in ema.module.state_dict().items()}
