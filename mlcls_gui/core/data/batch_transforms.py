"""The seed's transforms applied to whole batches of decoded uint8 images.

Images arrive already decoded and resized to the training size (see
``images.load_rgb_resized``), so what is left per epoch — RandomRotation,
RandomHorizontalFlip, ToTensor's scaling and Normalize — runs as a few
batched tensor operations on the training device instead of per-image PIL
work. Rotation fills with black, as RandomRotation does on PIL images.

The recipe's augmentations (random resized crop, TrivialAugment/RandAugment,
random erasing) are torchvision.transforms.v2's, applied per image (a v2
transform on a batch would give every image the same crop or operation) with
the global random state forked and seeded from the run's generator, so a run
stays reproducible from its seed.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torchvision.transforms import v2

from mlcls_gui.core.data.imagenet import IMAGENET_MEAN, IMAGENET_STD


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
        crop_scale_min: float | None = None,
        auto_augment: str = "off",
        random_erasing: float = 0.0,
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
        # uint8 stage (TrivialAugment's posterize/equalize need uint8), then float.
        self.pixel_ops: list[Callable[[torch.Tensor], torch.Tensor]] = []
        if crop_scale_min is not None:
            self.crop_scale_min = crop_scale_min
            self.pixel_ops.append(_ResizedCrop(crop_scale_min))
        if auto_augment == "trivialaugment":
            self.pixel_ops.append(v2.TrivialAugmentWide())
        elif auto_augment == "randaugment":
            self.pixel_ops.append(v2.RandAugment(num_ops=2, magnitude=9))
        elif auto_augment != "off":
            raise ValueError(f"auto_augment {auto_augment!r}")
        # After normalisation: an erased box is 0, the data's mean colour.
        self.erase = v2.RandomErasing(p=random_erasing, value=0) if random_erasing > 0 else None

    @property
    def augments(self) -> bool:
        return (self.rotation_degrees > 0 or self.horizontal_flip or bool(self.pixel_ops)
                or self.erase is not None)

    def __call__(self, images: torch.Tensor, *, augment: bool) -> torch.Tensor:
        """uint8 (B, 3, H, W) → normalised float32 (B, 3, H, W) on the device."""
        images = images.to(self.device, non_blocking=True)
        if augment and images.shape[0] and self.pixel_ops:
            images = self._per_image(images, self._pixel_stage)
        x = images.float().div_(255.0)
        if augment and x.shape[0]:
            if self.rotation_degrees > 0:
                x = self._rotate(x)
            if self.horizontal_flip:
                x = self._flip(x)
        x = (x - self.mean) / self.std
        if augment and x.shape[0] and self.erase is not None:
            x = self._per_image(x, self.erase)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def _pixel_stage(self, image: torch.Tensor) -> torch.Tensor:
        for op in self.pixel_ops:
            image = op(image)
        return image

    def _per_image(self, x: torch.Tensor, op: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """``op`` on each image, its random draws seeded from the run's generator."""
        seed = int(torch.randint(2**62, (1,), generator=self.generator))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return torch.stack([op(image) for image in x])

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


class _ResizedCrop:
    """v2.RandomResizedCrop back to the image's own size (known per batch)."""

    def __init__(self, scale_min: float) -> None:
        self.scale_min = scale_min
        self._crops: dict[tuple[int, int], v2.RandomResizedCrop] = {}

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        size = (int(image.shape[-2]), int(image.shape[-1]))
        if size not in self._crops:
            self._crops[size] = v2.RandomResizedCrop(size, scale=(self.scale_min, 1.0), antialias=True)
        return self._crops[size](image)
