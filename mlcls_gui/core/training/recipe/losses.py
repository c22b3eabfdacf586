"""Multi-label losses that ignore unknown labels.

Every criterion takes logits and float targets of the same shape; a NaN target
means "label unknown" and its entry counts nothing. The loss is the mean over
the known entries (exactly BCEWithLogitsLoss's mean when all are known), and a
batch with no known entry gives 0 with a gradient, so the step still runs.
"""

from __future__ import annotations

import abc

import torch
import torch.nn.functional as F
from torch import nn

from mlcls_gui.core.config import TrainConfig


class MaskedMultiLabelLoss(nn.Module, abc.ABC):
    """Base: subclasses give the per-entry loss for targets with NaN replaced by 0."""

    def __init__(self, pos_weight: torch.Tensor | None = None) -> None:
        super().__init__()
        self.register_buffer("pos_weight", pos_weight, persistent=False)

    @abc.abstractmethod
    def elementwise(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The loss of every (image, label) entry, unreduced."""

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        known = ~torch.isnan(targets)
        losses = self.elementwise(logits, torch.where(known, targets, torch.zeros_like(targets)))
        if bool(known.all()):
            return losses.mean()  # the seed's reduction, bit for bit
        # where() rather than a product: an unknown entry's loss must not leak a NaN.
        masked = torch.where(known, losses, torch.zeros_like(losses))
        return masked.sum() / known.sum().clamp(min=1)


class MaskedBCE(MaskedMultiLabelLoss):
    """The seed's BCEWithLogitsLoss (with its pos_weight), per entry."""

    def elementwise(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(logits, targets, pos_weight=self.pos_weight,
                                                  reduction="none")


class MaskedFocal(MaskedMultiLabelLoss):
    """Focal loss, BCE × (1 - p_t)^gamma. Written here rather than torchvision's
    sigmoid_focal_loss because that one takes no pos_weight."""

    def __init__(self, gamma: float, pos_weight: torch.Tensor | None = None) -> None:
        super().__init__(pos_weight)
        self.gamma = gamma

    def elementwise(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        bce = F.binary_cross_entropy_with_logits(logits, targets, pos_weight=self.pos_weight,
                                                 reduction="none")
        p = torch.sigmoid(logits)
        p_t = p * targets + (1 - p) * (1 - targets)
        # A floored base keeps the gradient finite where p_t saturates at 1.
        return bce * (1 - p_t).clamp(min=1e-8).pow(self.gamma)


class MaskedASL(MaskedMultiLabelLoss):
    """Asymmetric loss (Ridnik et al. 2021), the formula of timm's
    AsymmetricLossMultiLabel. Written out because timm's class returns the sum over
    the batch and cannot leave unknown entries out."""

    def __init__(self, gamma_neg: float, gamma_pos: float, clip: float,
                 pos_weight: torch.Tensor | None = None, eps: float = 1e-8) -> None:
        super().__init__(pos_weight)
        self.gamma_neg, self.gamma_pos, self.clip, self.eps = gamma_neg, gamma_pos, clip, eps

    def elementwise(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        p_pos = torch.sigmoid(logits)
        p_neg = 1 - p_pos
        if self.clip > 0:
            # Probability shifting: negatives below the margin give no loss.
            p_neg = (p_neg + self.clip).clamp(max=1)
        loss_pos = targets * torch.log(p_pos.clamp(min=self.eps))
        if self.pos_weight is not None:
            loss_pos = loss_pos * self.pos_weight
        loss_neg = (1 - targets) * torch.log(p_neg.clamp(min=self.eps))
        loss = loss_pos + loss_neg
        if self.gamma_neg > 0 or self.gamma_pos > 0:
            # Scalar exponents and a floored base keep the gradient finite where a
            # confidence saturates (0 ** (gamma - 1) would give inf * 0 = NaN).
            weight = (targets * (1 - p_pos).clamp(min=self.eps).pow(self.gamma_pos)
                      + (1 - targets) * (1 - p_neg).clamp(min=self.eps).pow(self.gamma_neg))
            loss = loss * weight
        return -loss


def make_criterion(cfg: TrainConfig, pos_weight: torch.Tensor | None = None) -> nn.Module:
    """The loss ``cfg.loss`` names, with ``pos_weight`` (per label) on the positives."""
    if cfg.loss == "asl":
        return MaskedASL(cfg.asl_gamma_neg, cfg.asl_gamma_pos, cfg.asl_clip, pos_weight)
    if cfg.loss == "focal":
        return MaskedFocal(cfg.focal_gamma, pos_weight)
    return MaskedBCE(pos_weight)
