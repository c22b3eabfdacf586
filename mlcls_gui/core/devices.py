"""Which devices this machine offers, and turning a device name into torch.device."""

from __future__ import annotations

import logging
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from mlcls_gui.core.errors import DeviceError, field_ref

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
                "GPU(s)): choose cpu or auto.", field="device")
        return torch.device(f"cuda:{index}")
    raise DeviceError(f"Unknown device {name!r}: use auto, cpu, cuda:N or mps.", field="device")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def cpu_cores() -> int:
    """The cores this process may run on: its CPU affinity, within a cgroup quota
    (a container's ``--cpus``), where the system says."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    quota = _cgroup_cpu_quota()
    return max(1, min(cores, quota) if quota else cores)


def _cgroup_cpu_quota(path: Path = Path("/sys/fs/cgroup/cpu.max")) -> int:
    """Cores a cgroup v2 quota allows ("200000 100000" → 2), 0 when unlimited or unknown."""
    try:
        quota, period = path.read_text(encoding="ascii").split()[:2]
        return 0 if quota == "max" else max(1, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        return 0


def process_limit(device: str | None) -> tuple[int, str]:
    """The most training processes ``device`` can take on this machine (one per CPU
    core, or one per GPU), and that limit in words ("the 2 CPU cores of this machine").

    ``None`` (device not known) allows the larger of the two."""
    cores = cpu_cores()
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    cpu_limit = (cores, f"the {cores} CPU core{'s' if cores != 1 else ''} of this machine")
    gpu_limit = (gpus, f"the {gpus} GPU{'s' if gpus != 1 else ''} of this machine (one process per GPU)")
    if device is None:
        return max(cpu_limit, gpu_limit)
    if device == "cpu" or (device == "auto" and not gpus):
        return cpu_limit
    if device == "auto" or re.fullmatch(r"cuda(?::\d+)?", device):
        if not gpus:
            raise DeviceError(f"{field_ref('device', device)}: CUDA is not available here; choose cpu.")
        return gpu_limit
    raise DeviceError(f"{field_ref('device', device)} cannot be used by several processes; choose cpu or cuda.")
