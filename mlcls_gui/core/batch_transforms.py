"""The seed's transforms applied to whole batches of decoded uint8 images.

Images arrive already decoded and resized to the training size (see
``images.load_rgb_resized``), so what is left per epoch — RandomRotation,
RandomHorizontalFlip, ToTensor's scaling and Normalize — runs as a few
batched tensor operations on the training device instead of per-image PIL
work. Rotation fills with black, as RandomRotation does on PIL images.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F

from .transforms import IMAGENET_MEAN, IMAGENET_STD


class BatchTransform:
    def __init__(
        self,
        device: torch.device,
        *,
        rotation_degrees: float = 0.0,
        horizontal_flip: bool = False,
        channels_last: bool = False,
        generator: torch.Generator | None = None,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
    ) -> None:
        self.device = device
        self.rotation_degrees = float(rotation_degrees)
        self.horizontal_flip = horizontal_flip
        self.channels_last = channels_last
        # Random draws happen on the CPU generator so that a run is
        # reproducible from its seed whatever the device.
        self.generator = generator
        self.mean = torch.tensor(mean, dtype=torch.float32, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32, device=device).view(1, 3, 1, 1)

    @property
    def augments(self) -> bool:
        return self.rotation_degrees > 0 or self.horizontal_flip

    def __call__(self, images: torch.Tensor, *, augment: bool) -> torch.Tensor:
        """uint8 (B, 3, H, W) → normalised float32 (B, 3, H, W) on the device."""
        x = images.to(self.device, non_blocking=True).float().div_(255.0)
        if augment and x.shape[0]:
            if self.rotation_degrees > 0:
                x = self._rotate(x)
            if self.horizontal_flip:
                x = self._flip(x)
        x = (x - self.mean) / self.std
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def _rotate(self, x: torch.Tensor) -> torch.Tensor:
        count = x.shape[0]
        degrees = (torch.rand(count, generator=self.generator) * 2 - 1) * self.rotation_degrees
        radians = (degrees * (math.pi / 180.0)).to(self.device)
        cos, sin = torch.cos(radians), torch.sin(radians)
        zero = torch.zeros_like(cos)
        theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    def _flip(self, x: torch.Tensor) -> torch.Tensor:
        flip = (torch.rand(x.shape[0], generator=self.generator) < 0.5).to(self.device)
        return torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
