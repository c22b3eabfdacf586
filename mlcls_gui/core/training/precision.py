"""Which mixed precision a run uses, decided once from the config and the device.

bf16 autocast needs no loss scaling; fp16 (GPUs without bf16) uses a GradScaler.
On CPUs, bf16 is only chosen where the processor has native bf16 instructions:
emulated bf16 is slower than float32.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from dataclasses import dataclass
from functools import lru_cache
from typing import ContextManager

import torch

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PrecisionPlan:
    dtype: torch.dtype | None  # None = float32 throughout
    device_type: str

    @property
    def name(self) -> str:
        return {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(self.dtype, "off")

    def autocast(self) -> ContextManager:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def grad_scaler(self) -> "torch.amp.GradScaler | None":
        if self.dtype is torch.float16 and self.device_type == "cuda":
            return torch.amp.GradScaler("cuda")
        return None


def choose_precision(setting: str, device: torch.device) -> PrecisionPlan:
    kind = device.type
    if setting == "off" or kind not in ("cpu", "cuda"):
        return PrecisionPlan(None, kind)
    if setting == "bf16":
        return PrecisionPlan(torch.bfloat16, kind)
    if setting == "fp16":
        return PrecisionPlan(torch.float16, kind)
    # auto
    if kind == "cuda":
        index = device.index or 0
        major, _ = torch.cuda.get_device_capability(index)
        if major >= 8 and torch.cuda.is_bf16_supported():
            return PrecisionPlan(torch.bfloat16, kind)
        return PrecisionPlan(torch.float16, kind) if major >= 7 else PrecisionPlan(None, kind)
    return PrecisionPlan(torch.bfloat16 if cpu_has_native_bf16() else None, kind)


@lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    try:
        if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
            return False
    except (AttributeError, RuntimeError):
        return False
    if not sys.platform.startswith("linux"):
        return False  # no cheap way to read the flags; float32 is the safe choice
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            flags = next((line for line in handle if line.startswith("flags")), "")
    except OSError:
        return False
    words = set(flags.split())
    return bool(words & {"avx512_bf16", "amx_bf16"})
