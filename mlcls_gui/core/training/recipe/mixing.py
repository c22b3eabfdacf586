"""Mixup and CutMix for multi-hot targets.

torchvision.transforms.v2's MixUp and CutMix take class indices and build
one-hot targets, so they cannot mix label vectors: these few lines do the same
on (B, C, H, W) batches with (B, L) multi-hot targets, mixing each image with
the batch's reversed order (as timm's Mixup does). A NaN target ("label
unknown") stays NaN in every image it is mixed into: NaN propagates through
the weighted sum, so the loss leaves that entry out.
"""

from __future__ import annotations

import numpy as np
import torch

from mlcls_gui.core.config import TrainConfig


class BatchMixer:
    def __init__(self, mixup_alpha: float, cutmix_alpha: float, generator: torch.Generator) -> None:
        self.mixup_alpha = float(mixup_alpha)
        self.cutmix_alpha = float(cutmix_alpha)
        # The CPU generator the augmentation draws from, so runs repeat from their seed.
        self.generator = generator

    @classmethod
    def from_config(cls, cfg: TrainConfig, generator: torch.Generator) -> "BatchMixer | None":
        if cfg.mixup_alpha <= 0 and cfg.cutmix_alpha <= 0:
            return None
        return cls(cfg.mixup_alpha, cfg.cutmix_alpha, generator)

    def __call__(self, images: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mixed images and their mixed targets (the inputs are not changed)."""
        if images.shape[0] < 2:
            return images, targets
        use_cutmix = self.cutmix_alpha > 0 and (
            self.mixup_alpha <= 0 or bool(torch.rand(1, generator=self.generator) < 0.5))
        alpha = self.cutmix_alpha if use_cutmix else self.mixup_alpha
        lam = self._beta(alpha)
        partner = images.flip(0)
        if use_cutmix:
            mixed, lam = self._cutmix(images, partner, lam)
        else:
            mixed = images * lam + partner * (1 - lam)
        targets = targets.to(images.device)
        return mixed, targets * lam + targets.flip(0) * (1 - lam)

    def _beta(self, alpha: float) -> float:
        # torch.distributions.Beta draws from the global random state; numpy's
        # Beta, seeded from the run's generator, keeps the draw reproducible.
        seed = int(torch.randint(2**31 - 1, (1,), generator=self.generator))
        return float(np.random.default_rng(seed).beta(alpha, alpha))

    def _cutmix(self, images: torch.Tensor, partner: torch.Tensor, lam: float) -> tuple[torch.Tensor, float]:
        """Paste a box of area (1 - lam) from the partner; lam is then corrected to
        the box as clipped at the border, so targets match the pixels."""
        height, width = images.shape[-2:]
        ratio = (1 - lam) ** 0.5
        box_h, box_w = int(height * ratio), int(width * ratio)
        centre = torch.rand(2, generator=self.generator)
        cy, cx = int(centre[0] * height), int(centre[1] * width)
        top, bottom = max(cy - box_h // 2, 0), min(cy + box_h // 2, height)
        left, right = max(cx - box_w // 2, 0), min(cx + box_w // 2, width)
        mixed = images.clone()
        mixed[..., top:bottom, left:right] = partner[..., top:bottom, left:right]
        return mixed, 1 - (bottom - top) * (right - left) / (height * width)
