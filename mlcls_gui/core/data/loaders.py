"""Batches of decoded uint8 images for one split, from disk or from the cache.

A file that fails to decode at training time (e.g. truncated after the scan)
is dropped from its batch and reported in ``Batch.failures``; it never ends a run.
"""

from __future__ import annotations

import logging
import multiprocessing
from typing import Iterator, NamedTuple, Sequence

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from mlcls_gui.core.data.cache import ImageCache
from mlcls_gui.core.data.images import ImageLoadError, load_rgb_resized
from mlcls_gui.core.data.splits import Sample, target_matrix

logger = logging.getLogger(__name__)


class Batch(NamedTuple):
    images: torch.Tensor  # (B, 3, S, S) uint8
    targets: torch.Tensor  # (B, L) float: 1, 0, NaN where the label is unknown (masked)
    indices: torch.Tensor  # (B,) sample indices in the split
    failures: list[tuple[int, str]]  # (sample index, reason) of files dropped from the batch


def multi_hot(samples: Sequence[Sample], labels: Sequence[str]) -> torch.Tensor:
    """(N, L) targets; NaN marks an unknown label, which the loss and the metrics mask."""
    return torch.from_numpy(target_matrix(samples, labels))


def pil_to_uint8_tensor(image) -> torch.Tensor:
    """RGB PIL image → (3, H, W) uint8 tensor, without a float round trip."""
    data = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
    return data.view(image.size[1], image.size[0], 3).permute(2, 0, 1).contiguous()


class DecodedImageDataset(Dataset):
    """Images decoded and resized to ``size``; served from ``cache`` when it has them."""

    def __init__(
        self, samples: Sequence[Sample], labels: Sequence[str], size: int, *,
        fast_decode: bool = True, cache: ImageCache | None = None,
    ) -> None:
        self.paths = [sample.path for sample in samples]
        self.targets = multi_hot(samples, labels)
        self.size = size
        self.fast_decode = fast_decode
        self.cache = cache

    def __len__(self) -> int:
        return len(self.paths)

    def __getstate__(self) -> dict:
        # Loader worker processes get no cache: it lives in the main process.
        return {**self.__dict__, "cache": None}

    def __getitem__(self, index: int) -> tuple[torch.Tensor | None, torch.Tensor, int, str]:
        cached = self.cache.get(index) if self.cache is not None else None
        if cached is not None:
            return cached, self.targets[index], index, ""
        try:
            image = load_rgb_resized(self.paths[index], self.size, fast_decode=self.fast_decode)
        except ImageLoadError as exc:
            return None, self.targets[index], index, exc.reason
        return pil_to_uint8_tensor(image), self.targets[index], index, ""


def _empty_batch(failures: list[tuple[int, str]] | None = None) -> Batch:
    return Batch(torch.empty(0, dtype=torch.uint8), torch.empty(0), torch.empty(0, dtype=torch.long),
                 failures or [])


def collate_skipping_failures(items: list[tuple[torch.Tensor | None, torch.Tensor, int, str]]) -> Batch:
    good = [item for item in items if item[0] is not None]
    failures = [(index, reason) for image, _, index, reason in items if image is None]
    if not good:
        return _empty_batch(failures)
    return Batch(
        torch.stack([item[0] for item in good]),
        torch.stack([item[1] for item in good]),
        torch.tensor([item[2] for item in good], dtype=torch.long),
        failures,
    )


def batch_chunks(order: torch.Tensor, batch_size: int, *, min_size: int = 2) -> list[torch.Tensor]:
    """``order`` cut into batches; a last batch under ``min_size`` images joins the one before.

    BatchNorm cannot train on one image whose feature maps are 1×1, so a lone
    last image would end the run; dropping it (drop_last) would leave a
    different image out of every epoch instead."""
    chunks = list(order.split(batch_size))
    if len(chunks) > 1 and chunks[-1].numel() < min_size:
        chunks[-2:] = [torch.cat(chunks[-2:])]
    return chunks


def batch_count(images: int, batch_size: int, *, min_size: int = 2) -> int:
    full, rest = divmod(images, batch_size)
    if full and 0 < rest < min_size:
        return full
    return full + (1 if rest else 0)


class _ChunkSampler(Sampler[list[int]]):
    """Yields the batches the source cut for this epoch (iterated in the main process)."""

    def __init__(self) -> None:
        self.chunks: list[list[int]] = []

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.chunks)

    def __len__(self) -> int:
        return len(self.chunks)


class BatchSource:
    """One split's batches for each epoch.

    The order comes from ``generator`` (shuffled) or is the split's order.
    Until every image is cached, batches come from a DataLoader (worker
    processes when ``num_workers`` > 0, started with 'spawn': forking a
    process that runs Qt and torch threads can deadlock) and are stored in the
    cache as they arrive; after that, straight from the cache."""

    def __init__(
        self, dataset: DecodedImageDataset, *, batch_size: int, shuffle: bool,
        num_workers: int = 0, pin_memory: bool = False, generator: torch.Generator | None = None,
    ) -> None:
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = generator
        self._sampler = _ChunkSampler()
        extra: dict = {}
        if num_workers > 0:
            # Training batches come every epoch: keep its workers. Validation and
            # test are cached after one pass, so theirs would only sit idle.
            extra = {"multiprocessing_context": multiprocessing.get_context("spawn"),
                     "persistent_workers": shuffle}
        self._num_workers = num_workers
        self._loader_args = dict(
            batch_sampler=self._sampler, num_workers=num_workers,
            pin_memory=pin_memory, collate_fn=collate_skipping_failures,
            # Without its own generator, every DataLoader pass draws a seed from
            # the global RNG — which dropout also uses — so a pass from disk and
            # one from the cache would leave training in different random states.
            generator=torch.Generator().manual_seed(0), **extra,
        )
        self._loader: DataLoader | None = None

    def __len__(self) -> int:
        return batch_count(len(self.dataset), self.batch_size)

    def next_order(self) -> torch.Tensor:
        count = len(self.dataset)
        if self.shuffle:
            return torch.randperm(count, generator=self.generator)
        return torch.arange(count)

    def epoch(self, order: torch.Tensor | None = None) -> Iterator[Batch]:
        order = self.next_order() if order is None else order
        yield from self.batches(batch_chunks(order, self.batch_size))

    def batches(self, chunks: list[torch.Tensor]) -> Iterator[Batch]:
        """One batch per chunk of split indices, in order (an empty chunk gives an
        empty batch, so every process of a distributed run steps in lockstep)."""
        cache = self.dataset.cache
        if cache is not None and chunks and cache.complete_for(torch.cat(chunks)):
            for chunk in chunks:
                chunk = cache.readable(chunk)
                if chunk.numel():
                    yield Batch(cache.gather(chunk), self.dataset.targets[chunk], chunk, [])
                else:
                    yield _empty_batch()
            return
        self._sampler.chunks = [chunk.tolist() for chunk in chunks]
        if self._loader is None:
            self._loader = DataLoader(self.dataset, **self._loader_args)
        for batch in self._loader:
            if cache is not None:
                if batch.indices.numel():
                    cache.put_many(batch.indices, batch.images)
                for index, _ in batch.failures:
                    cache.mark_unreadable(index)
            yield batch

    def close(self) -> None:
        """End worker processes now rather than at garbage collection."""
        loader, self._loader = self._loader, None
        iterator = getattr(loader, "_iterator", None)
        if iterator is not None and hasattr(iterator, "_shutdown_workers"):
            iterator._shutdown_workers()
