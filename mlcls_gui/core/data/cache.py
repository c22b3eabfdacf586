"""In-memory caches that make epochs after the first cheap.

* ``ImageCache`` keeps decoded, resized uint8 images (3·S·S bytes each) up to
  a byte budget; images past the budget are simply decoded again each epoch.
* ``FeatureStore`` keeps a frozen extractor's output per image, so the
  classifier can be trained without running the backbone again.
"""

from __future__ import annotations

import logging
import os
import sys

import torch

logger = logging.getLogger(__name__)

MB = 1024 * 1024
_FALLBACK_AVAILABLE = 2048 * MB


def available_memory_bytes() -> int:
    """Memory the system can give without swapping (best effort)."""
    if sys.platform.startswith("linux"):
        try:
            with open("/proc/meminfo", encoding="utf-8") as handle:
                for line in handle:
                    if line.startswith("MemAvailable:"):
                        return int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return _FALLBACK_AVAILABLE


def cache_budget_bytes(budget_mb: int) -> int:
    """The configured budget, or a quarter of the available memory for 0 (auto)."""
    if budget_mb > 0:
        return budget_mb * MB
    return available_memory_bytes() // 4


class CacheBudget:
    """Bytes left for caches; each cache reserves its share when it is made."""

    def __init__(self, total_bytes: int) -> None:
        self.total = max(0, int(total_bytes))
        self.left = self.total

    def reserve(self, wanted: int) -> int:
        granted = min(wanted, self.left)
        self.left -= granted
        return granted


class ImageCache:
    """uint8 images of one size in one preallocated tensor (pages are only
    touched when an image is stored), for as many images as the budget allows."""

    def __init__(self, count: int, size: int, budget: CacheBudget) -> None:
        per_image = 3 * size * size
        self.count = count
        self.capacity = budget.reserve(count * per_image) // per_image if per_image else 0
        self.storage = (
            torch.empty((self.capacity, 3, size, size), dtype=torch.uint8) if self.capacity else None
        )
        self._slots: dict[int, int] = {}
        self._unreadable: set[int] = set()

    @property
    def nbytes(self) -> int:
        return self.storage.numel() if self.storage is not None else 0

    @property
    def complete(self) -> bool:
        """Every image is either cached or known to be unreadable."""
        return self.count > 0 and len(self._slots) + len(self._unreadable) == self.count

    def complete_for(self, indices: torch.Tensor) -> bool:
        """Every one of ``indices`` is cached or known to be unreadable (a process
        of a distributed run only ever holds its own images)."""
        if self.complete:
            return True
        return all(i in self._slots or i in self._unreadable for i in indices.tolist())

    def mark_unreadable(self, index: int) -> None:
        self._unreadable.add(index)

    def readable(self, indices: torch.Tensor) -> torch.Tensor:
        if not self._unreadable:
            return indices
        return indices[[i not in self._unreadable for i in indices.tolist()]]

    def get(self, index: int) -> torch.Tensor | None:
        slot = self._slots.get(index)
        return None if slot is None else self.storage[slot]

    def put_many(self, indices: torch.Tensor, images: torch.Tensor) -> None:
        for index, image in zip(indices.tolist(), images):
            if index in self._slots or len(self._slots) >= self.capacity:
                continue
            slot = len(self._slots)
            self.storage[slot].copy_(image)
            self._slots[index] = slot

    def gather(self, indices: torch.Tensor) -> torch.Tensor:
        slots = torch.tensor([self._slots[i] for i in indices.tolist()], dtype=torch.long)
        return self.storage.index_select(0, slots)


class FeatureStore:
    """One feature vector per image, filled as batches pass through the extractor."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.features: torch.Tensor | None = None
        self.filled = torch.zeros(count, dtype=torch.bool)
        self.unreadable = torch.zeros(count, dtype=torch.bool)

    @property
    def complete(self) -> bool:
        return self.count > 0 and bool((self.filled | self.unreadable).all())

    def complete_for(self, indices: torch.Tensor | None) -> bool:
        if indices is None or indices.numel() == 0:
            return self.complete
        return bool((self.filled | self.unreadable)[indices].all())

    def mark_unreadable(self, index: int) -> None:
        self.unreadable[index] = True

    def readable(self, indices: torch.Tensor) -> torch.Tensor:
        return indices[~self.unreadable[indices]]

    def put(self, indices: torch.Tensor, features: torch.Tensor) -> None:
        if self.features is None:
            self.features = torch.empty(
                (self.count, features.shape[1]), dtype=torch.float32, device=features.device
            )
        self.features[indices.to(self.features.device)] = features.float()
        self.filled[indices.cpu()] = True

    def gather(self, indices: torch.Tensor) -> torch.Tensor:
        return self.features[indices.to(self.features.device)]
