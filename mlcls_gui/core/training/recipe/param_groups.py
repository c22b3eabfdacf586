"""The optimiser's parameter groups.

Which parameters get weight decay: all (the seed's) or, as an option, only
weight matrices and kernels — timm's param_groups_weight_decay rule (1-D
parameters and biases, i.e. biases and normalisation layers, go without).

Which learning rate: the new head always learns at the configured rate; the
pretrained rest at ``backbone_lr_scale`` times it (discriminative rates; from
random weights every layer is new, and the factor does not apply). The
head's groups come first, so ``param_groups[0]["lr"]`` is the rate the user set.
Every scheduler scales each group's own base rate.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from mlcls_gui.core.config import TrainConfig
from mlcls_gui.core.models import build as models


def parameter_groups(cfg: TrainConfig, model: nn.Module) -> list[dict[str, Any]]:
    """Optimiser parameter groups for the trainable parameters of ``model``."""
    if cfg.backbone_lr_scale == 1.0 or not cfg.pretrained:  # random weights: no pretrained layers to spare
        return _decay_groups(cfg, model)
    head = models.head_module(model, cfg.arch)
    head_ids = {id(p) for p in head.parameters()}
    backbone = _Subset([(n, p) for n, p in model.named_parameters() if id(p) not in head_ids])
    groups = _decay_groups(cfg, head)
    for group in _decay_groups(cfg, backbone):
        group["lr"] = cfg.learning_rate * cfg.backbone_lr_scale
        groups.append(group)
    return [g for g in groups if g["params"]]


def _decay_groups(cfg: TrainConfig, module: nn.Module) -> list[dict[str, Any]]:
    if not cfg.no_decay_bias_norm:
        return [{"params": [p for p in module.parameters() if p.requires_grad]}]
    from timm.optim import param_groups_weight_decay  # here: importing timm adds ~0.5 s to every start

    return param_groups_weight_decay(module, cfg.weight_decay)


class _Subset(nn.Module):
    """Named parameters seen as a module, for timm's grouping (which walks
    ``named_parameters``) without the head's."""

    def __init__(self, named: list[tuple[str, nn.Parameter]]) -> None:
        super().__init__()
        self._named = named

    def named_parameters(self, *args: Any, **kwargs: Any):  # type: ignore[override]
        return iter(self._named)

    def parameters(self, recurse: bool = True):  # type: ignore[override]
        return iter(p for _, p in self._named)
