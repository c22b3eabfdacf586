"""torch Dataset and DataLoaders over scanned samples.

A file that fails to decode at training time (e.g. truncated after the scan)
is dropped from its batch and reported in ``Batch.failures``; it never ends a run.
"""

from __future__ import annotations

import logging
import multiprocessing
from typing import Callable, NamedTuple, Sequence

import torch
from torch.utils.data import DataLoader, Dataset

from .dataset import Sample
from .images import ImageLoadError, load_rgb

logger = logging.getLogger(__name__)


class Batch(NamedTuple):
    images: torch.Tensor  # (B, 3, H, W)
    targets: torch.Tensor  # (B, L) float 0/1
    indices: torch.Tensor  # (B,) sample indices in the dataset
    failures: list[tuple[int, str]]  # (sample index, reason) of files dropped from the batch


def multi_hot(samples: Sequence[Sample], labels: Sequence[str]) -> torch.Tensor:
    index = {label: i for i, label in enumerate(labels)}
    targets = torch.zeros((len(samples), len(labels)), dtype=torch.float32)
    for row, sample in enumerate(samples):
        for label in sample.labels:
            if label in index:
                targets[row, index[label]] = 1.0
    return targets


class MultiLabelImageDataset(Dataset):
    def __init__(self, samples: Sequence[Sample], labels: Sequence[str], transform: Callable) -> None:
        self.paths = [sample.path for sample in samples]
        self.targets = multi_hot(samples, labels)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor | None, torch.Tensor, int, str]:
        path = self.paths[index]
        try:
            image = load_rgb(path)
        except ImageLoadError as exc:
            return None, self.targets[index], index, exc.reason
        return self.transform(image), self.targets[index], index, ""


def collate_skipping_failures(items: list[tuple[torch.Tensor | None, torch.Tensor, int, str]]) -> Batch:
    good = [item for item in items if item[0] is not None]
    failures = [(index, reason) for image, _, index, reason in items if image is None]
    if not good:
        return Batch(torch.empty(0), torch.empty(0), torch.empty(0, dtype=torch.long), failures)
    return Batch(
        torch.stack([item[0] for item in good]),
        torch.stack([item[1] for item in good]),
        torch.tensor([item[2] for item in good], dtype=torch.long),
        failures,
    )


def make_loader(
    dataset: MultiLabelImageDataset,
    *,
    batch_size: int,
    shuffle: bool,
    num_workers: int,
    pin_memory: bool,
    generator: torch.Generator | None = None,
) -> DataLoader:
    """A DataLoader that is safe to start from a GUI process.

    Workers use the 'spawn' context: forking a process that runs Qt and torch
    threads can deadlock. Persistent workers avoid re-spawning each epoch."""
    extra: dict = {}
    if num_workers > 0:
        extra = {
            "multiprocessing_context": multiprocessing.get_context("spawn"),
            "persistent_workers": True,
        }
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        pin_memory=pin_memory,
        collate_fn=collate_skipping_failures,
        generator=generator,
        **extra,
    )
