"""Which parameters get weight decay: all (the seed's) or, as an option, only
weight matrices and kernels — timm's param_groups_weight_decay rule (1-D
parameters and biases, i.e. biases and normalisation layers, go without)."""

from __future__ import annotations

from typing import Any

from torch import nn

from ..config import TrainConfig


def parameter_groups(cfg: TrainConfig, model: nn.Module) -> list[dict[str, Any]]:
    """Optimiser parameter groups for the trainable parameters of ``model``."""
    if not cfg.no_decay_bias_norm:
        return [{"params": [p for p in model.parameters() if p.requires_grad]}]
    from timm.optim import param_groups_weight_decay  # here: importing timm adds ~0.5 s to every start

    return param_groups_weight_decay(model, cfg.weight_decay)
