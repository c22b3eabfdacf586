"""Which devices this machine offers, and turning a device name into torch.device."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import torch

from .errors import DeviceError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeviceInfo:
    id: str  # "cpu", "cuda:0", "mps"
    name: str
    total_memory: int = 0  # bytes; 0 when unknown
    free_memory: int = 0
    supports_bf16: bool = False

    def describe(self) -> str:
        if self.total_memory:
            gib = 1024**3
            return f"{self.id} — {self.name} ({self.free_memory / gib:.1f} / {self.total_memory / gib:.1f} GiB free)"
        return f"{self.id} — {self.name}"


def list_devices() -> list[DeviceInfo]:
    devices = [DeviceInfo("cpu", "CPU")]
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            try:
                free, total = torch.cuda.mem_get_info(index)
            except RuntimeError:
                free, total = 0, torch.cuda.get_device_properties(index).total_memory
            devices.append(
                DeviceInfo(
                    f"cuda:{index}", torch.cuda.get_device_name(index), total, free,
                    supports_bf16=torch.cuda.is_bf16_supported(),
                )
            )
    if _mps_available():
        devices.append(DeviceInfo("mps", "Apple GPU (MPS)"))
    return devices


def resolve_device(name: str) -> torch.device:
    """``"auto"`` → the first GPU, else MPS, else CPU; others are checked."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda:0")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "mps":
        if not _mps_available():
            raise DeviceError("Apple MPS is not available on this machine: choose cpu or auto.")
        return torch.device("mps")
    match = re.fullmatch(r"cuda(?::(\d+))?", name)
    if match:
        index = int(match.group(1) or 0)
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if index >= count:
            raise DeviceError(
                f"CUDA device {name} is not available (this machine has {count} usable CUDA "
                "GPU(s)): choose cpu or auto."
            )
        return torch.device(f"cuda:{index}")
    raise DeviceError(f"Unknown device {name!r}: use auto, cpu, cuda:N or mps.")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())
