"""Where a run executes: one device, or several processes with torch.distributed.

The loop never asks "am I distributed?". It asks its strategy for the device,
for this process's part of each batch, and to combine numbers and arrays
across processes. ``SingleDevice`` is the plain run; ``Distributed`` is
DistributedDataParallel under torchrun (nccl with one GPU per process from
LOCAL_RANK, gloo on the CPU), the division of work Lightning calls a Strategy.
"""

from __future__ import annotations

import logging
import os
from datetime import timedelta
from typing import Any, Callable, Sequence, TypeVar

import numpy as np
import torch
from torch import nn

from mlcls_gui.core import errors
from mlcls_gui.core.config import TrainConfig
from mlcls_gui.core.devices import resolve_device
from mlcls_gui.core.errors import DeviceError, MlclsError, field_ref
from mlcls_gui.core.training.launch import collective_timeout_s, exit_with_launcher

logger = logging.getLogger(__name__)

T = TypeVar("T")


class SingleDevice:
    """One process on one device: every combination is the identity."""

    rank = 0
    world_size = 1
    local_rank = 0

    def __init__(self, device: torch.device) -> None:
        self.device = device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def setup(self) -> None:
        """Join the other processes (nothing to join here)."""

    def teardown(self) -> None:
        """Leave them (nothing to leave here)."""

    def describe(self) -> str:
        return str(self.device)

    def prepare_model(self, model: nn.Module, sync_batchnorm: bool) -> nn.Module:
        return model

    def wrap(self, module: nn.Module) -> nn.Module:
        """The module whose backward synchronises gradients (itself, here)."""
        return module

    def local_part(self, chunk: torch.Tensor) -> torch.Tensor:
        """This process's images of one global batch (split indices)."""
        return chunk

    def eval_indices(self, count: int) -> torch.Tensor:
        """This process's share of an evaluation split: each image exactly once."""
        return torch.arange(count)

    def sum(self, values: Sequence[float]) -> list[float]:
        return [float(v) for v in values]

    def gather(self, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Every process's arrays, concatenated in process order."""
        return arrays

    def on_main(self, work: Callable[[], T]) -> T:
        """Run ``work`` on the main process only; everyone gets its result or its error."""
        return work()

    def broadcast_parameters(self, module: nn.Module) -> None:
        """Give every process the main process's values of ``module``'s parameters."""


class Distributed(SingleDevice):
    """DistributedDataParallel over a torch.distributed process group (torchrun)."""

    def __init__(self, cfg: TrainConfig) -> None:
        self.rank = int(os.environ["RANK"])
        self.world_size = int(os.environ["WORLD_SIZE"])
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        super().__init__(_process_device(cfg.device, self.local_rank))
        self.backend = "nccl" if self.device.type == "cuda" else "gloo"
        self._owns_group = False

    def setup(self) -> None:
        import torch.distributed as dist

        # Before anything is written: a launcher killed by -9 must not leave this
        # process training on as an orphan.
        exit_with_launcher()
        timeout = timedelta(seconds=collective_timeout_s())
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        if not dist.is_initialized():
            dist.init_process_group(self.backend, timeout=timeout)
            self._owns_group = True
        logger.info("Process %d of %d on %s (%s)", self.rank, self.world_size, self.device, self.backend)

    def teardown(self) -> None:
        import torch.distributed as dist

        if self._owns_group and dist.is_initialized():
            dist.destroy_process_group()
            self._owns_group = False

    def describe(self) -> str:
        return f"{self.world_size} processes ({self.backend}), this one on {self.device}"

    def prepare_model(self, model: nn.Module, sync_batchnorm: bool) -> nn.Module:
        has_bn = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
        if sync_batchnorm and has_bn:
            if self.device.type == "cuda":
                return nn.SyncBatchNorm.convert_sync_batchnorm(model)
            logger.info("SyncBatchNorm needs CUDA; each process keeps its own BatchNorm statistics.")
        return model

    def wrap(self, module: nn.Module) -> nn.Module:
        from torch.nn.parallel import DistributedDataParallel

        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=device_ids)

    def local_part(self, chunk: torch.Tensor) -> torch.Tensor:
        return home_shares(chunk, self.world_size)[self.rank]

    def eval_indices(self, count: int) -> torch.Tensor:
        indices = torch.arange(count)
        return indices[indices % self.world_size == self.rank]

    def sum(self, values: Sequence[float]) -> list[float]:
        import torch.distributed as dist

        tensor = torch.tensor([float(v) for v in values], dtype=torch.float64, device=self._comm_device)
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor.cpu().tolist()

    def gather(self, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch.distributed as dist

        parts: list[Any] = [None] * self.world_size
        dist.all_gather_object(parts, arrays)
        return {key: np.concatenate([part[key] for part in parts]) for key in arrays}

    def on_main(self, work: Callable[[], T]) -> T:
        import torch.distributed as dist

        message: list[Any] = [None]
        failure: BaseException | None = None
        if self.is_main:
            try:
                message = [("ok", work())]
            except BaseException as exc:  # noqa: BLE001 - every process must hear of it
                failure = exc
                kind = type(exc).__name__ if isinstance(exc, MlclsError) else "TrainingError"
                message = [("error", kind, str(exc) or type(exc).__name__)]
        dist.broadcast_object_list(message, src=0)
        if failure is not None:
            raise failure
        if message[0][0] == "error":
            _, kind, text = message[0]
            raise getattr(errors, kind, errors.TrainingError)(text)
        return message[0][1]

    def broadcast_parameters(self, module: nn.Module) -> None:
        import torch.distributed as dist

        with torch.no_grad():
            for param in module.parameters():
                dist.broadcast(param.data, src=0)  # params live on this process's device (CPU for gloo)

    @property
    def _comm_device(self) -> torch.device:
        return self.device if self.backend == "nccl" else torch.device("cpu")


def home_shares(chunk: torch.Tensor, world_size: int) -> list[torch.Tensor]:
    """Each process's images of one global batch.

    Each image has a home process (index mod world size), so a process reads
    and caches only its own images while every global batch stays the one a
    single process would train on. Where chance leaves a process fewer than two
    images (BatchNorm needs two), images move to it from the fullest process;
    every process computes the same shares from the chunk alone."""
    shares = [chunk[chunk % world_size == rank] for rank in range(world_size)]
    need = min(2, chunk.numel() // world_size)
    while True:
        sizes = [share.numel() for share in shares]
        small, large = sizes.index(min(sizes)), sizes.index(max(sizes))
        if sizes[small] >= need or sizes[large] <= need:
            return shares
        shares[small] = torch.cat([shares[small], shares[large][-1:]])
        shares[large] = shares[large][:-1]


def strategy_for(cfg: TrainConfig) -> SingleDevice:
    """Distributed under a launcher that started several processes, else one device."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ:
        return Distributed(cfg)
    return SingleDevice(resolve_device(cfg.device))


def _process_device(requested: str, local_rank: int) -> torch.device:
    """One GPU per process (cuda:LOCAL_RANK) where CUDA is asked for or automatic."""
    if requested == "cpu" or (requested == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if requested in ("auto", "cuda") or requested.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError(f"{field_ref('device', requested)}: CUDA is not available here; choose cpu.")
        if local_rank >= torch.cuda.device_count():
            raise DeviceError(
                f"Process {local_rank} on this machine has no GPU of its own "
                f"({torch.cuda.device_count()} GPUs): start at most that many processes.", field="processes")
        return torch.device("cuda", local_rank)
    raise DeviceError(f"{field_ref('device', requested)} cannot be used by several processes; choose cpu or cuda.")


# The interface every strategy offers (SingleDevice is the plain one).
Strategy = SingleDevice
