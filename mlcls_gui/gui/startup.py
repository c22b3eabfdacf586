"""Start-up work for the window: the background warm-up (torch and the device
list) and the demo dataset in the user's data folder."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from PySide6.QtCore import QStandardPaths
from PySide6.QtGui import QGuiApplication

from .device_choices import DeviceChoice, device_choices_from

logger = logging.getLogger(__name__)

DEMO_DATA_FOLDER = "demo-data"
DEMO_OUTPUT_FOLDER = "demo-output"
DEMO_MARKER = ".mlcls-demo-complete"


def warm_up() -> list[DeviceChoice]:
    """Runs on a background thread right after the window shows: the torch
    import (seconds) and the device list, so Start never waits for them."""
    import mlcls_gui.core.engine  # noqa: F401 - imported for its side effect (torch loaded)
    import mlcls_gui.core.predict  # noqa: F401
    from mlcls_gui.core.devices import list_devices

    devices = list_devices()
    return device_choices_from(devices, auto_precisions([d.id for d in devices]))


def auto_precisions(device_ids: list[str]) -> dict[str, str]:
    """The mixed precision ``mixed_precision="auto"`` would use on each device."""
    try:
        import torch

        from mlcls_gui.core.precision import choose_precision
    except ImportError:
        return {}
    found = {}
    for device_id in device_ids:
        try:
            found[device_id] = choose_precision("auto", torch.device(device_id)).name
        except Exception:  # noqa: BLE001 - informative only; never block the device list
            logger.debug("No precision for %s", device_id, exc_info=True)
    return found


def ensure_demo_dataset(folder: Path) -> Path:
    """Write the demo set into ``folder`` unless a complete one is there already."""
    if (folder / DEMO_MARKER).is_file():
        return folder
    from mlcls_gui.core.demo import write_demo_dataset

    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    write_demo_dataset(partial)
    (partial / DEMO_MARKER).write_text("complete\n", encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(partial, folder)
    logger.info("Demo dataset written to %s", folder)
    return folder


def app_data_dir() -> Path:
    location = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(location or Path.home() / ".mlcls-gui")


def fitting_size(preferred: tuple[int, int]) -> tuple[int, int]:
    """``preferred`` made to fit the screen's available area (a 1280×720 screen gets a window that fits)."""
    screen = QGuiApplication.primaryScreen()
    if screen is None:
        return preferred
    available = screen.availableGeometry()
    return min(preferred[0], available.width()), min(preferred[1], available.height())
