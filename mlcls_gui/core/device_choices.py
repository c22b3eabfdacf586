"""The entries of the Settings form's device box: this machine's devices, described."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class DeviceChoice:
    """One entry of the device list (built from core.devices.DeviceInfo)."""

    id: str
    text: str
    processes: int = 1  # "All N GPUs": one training process per GPU


DEFAULT_DEVICE_CHOICES = (
    DeviceChoice("auto", "auto — a GPU when there is one, else CPU"),
    DeviceChoice("cpu", "cpu — CPU"),
)


def device_choices_from(infos: list[Any], precisions: dict[str, str] | None = None) -> list[DeviceChoice]:
    """``core.devices.list_devices()`` → the entries of the device box.

    ``precisions`` maps a device id to the mixed precision "auto" picks there
    ("bf16", "fp16" or "off"), shown so the user sees where it applies."""
    precisions = precisions or {}
    choices = [DEFAULT_DEVICE_CHOICES[0]]
    for info in infos:
        text = info.describe()
        precision = precisions.get(info.id)
        if precision:
            text += " · float32" if precision == "off" else f" · {precision} mixed precision"
        choices.append(DeviceChoice(info.id, text))
    gpus = [info for info in infos if info.id.startswith("cuda:")]
    if len(gpus) >= 2:
        choices.append(DeviceChoice(
            "cuda", f"All {len(gpus)} GPUs — one training process each (torch.distributed)",
            processes=len(gpus)))
    return choices
