"""Start-up work for the window: the background warm-up (torch and the device
list), the demo (its dataset in the user's data folder, its settings, and
"Demo ready" while it is true), and moving that folder from where earlier
versions kept it."""

from __future__ import annotations

import gc
import json
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, QSettings, QStandardPaths, Signal, Slot
from PySide6.QtGui import QGuiApplication

from mlcls_gui.core.config import TrainConfig, demo_config
from mlcls_gui.core.data.demo import ensure_demo_dataset
from mlcls_gui.core.device_choices import DeviceChoice, device_choices_from
from mlcls_gui.gui.widgets.dialogs import show_error
from mlcls_gui.gui.widgets.task_runner import TaskRunner

logger = logging.getLogger(__name__)

DEMO_DATA_FOLDER = "demo-data"
DEMO_OUTPUT_FOLDER = "demo-output"
DEMO_SETTINGS = "the demo settings"  # what the form's marks compare with, and a Reset choice, after --demo
DEMO_READY = "Demo ready: press Start training."


def warm_up() -> list[DeviceChoice]:
    """Runs on a background thread right after the window shows: the torch
    import (seconds) and the device list, so Start never waits for them."""
    import mlcls_gui.core.inference.predict  # noqa: F401
    import mlcls_gui.core.training.engine  # noqa: F401 - imported for its side effect (torch loaded)
    from mlcls_gui.core.devices import list_devices

    devices = list_devices()
    choices = device_choices_from(devices, auto_precisions([d.id for d in devices]))
    freeze_the_loaded_heap()
    return choices


_heap_frozen = False


def freeze_the_loaded_heap() -> None:
    """Leave what is loaded by now (PyTorch, Qt, the app: ~400,000 objects) out of
    the cycle collector's full passes, once per process.

    A full pass walks every tracked object while holding the GIL, so the window
    freezes whichever thread runs it: 207 ms on 2 cores with PyTorch loaded,
    the largest stall while the demo trains (bench_gui_latency.py; it hit when
    the architecture picker built a model on the meta device). After
    ``gc.freeze()`` a full pass sees only what came later (23 ms measured). The
    modules' objects live as long as the process anyway; the cost is cyclic
    garbage of the start-up that is never freed."""
    global _heap_frozen
    if not _heap_frozen:
        _heap_frozen = True
        gc.freeze()


def auto_precisions(device_ids: list[str]) -> dict[str, str]:
    """The mixed precision ``mixed_precision="auto"`` would use on each device."""
    try:
        import torch

        from mlcls_gui.core.training.precision import choose_precision
    except ImportError:
        return {}
    found = {}
    for device_id in device_ids:
        try:
            found[device_id] = choose_precision("auto", torch.device(device_id)).name
        except Exception:  # noqa: BLE001 - informative only; never block the device list
            logger.debug("No precision for %s", device_id, exc_info=True)
    return found


def app_data_dir() -> Path:
    """The app's data folder, named once: ~/.local/share/mlcls-gui on Linux,
    ~/Library/Application Support/mlcls-gui on macOS, %LOCALAPPDATA%\\mlcls-gui on Windows."""
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.GenericDataLocation)
    if not base:
        return Path.home() / ".mlcls-gui"
    return Path(base) / (QCoreApplication.applicationName() or "mlcls-gui")


def legacy_app_data_dir() -> Path | None:
    """Where earlier versions kept it: Qt's AppDataLocation, <data>/<organisation>/<application>,
    which read …/mlcls-gui/mlcls-gui/ since both names are mlcls-gui."""
    location = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(location) if location else None


def migrate_legacy_app_data(settings: QSettings | None = None) -> list[tuple[Path, Path]]:
    """Move what the old data folder holds (demo data, demo runs) into ``app_data_dir()``.

    An entry whose new place is taken already stays where it is. Paths in
    ``settings`` (recent folders, the last config, the Predict model) that
    pointed into a moved entry are rewritten. Returns the (old, new) pairs moved."""
    old, new = legacy_app_data_dir(), app_data_dir()
    if old is None or old == new or not old.is_dir():
        return []
    moved: list[tuple[Path, Path]] = []
    for entry in sorted(old.iterdir()):
        target = new / entry.name
        if target.exists() or target.is_symlink():
            logger.info("Left %s where it is: %s exists already", entry, target)
            continue
        try:
            new.mkdir(parents=True, exist_ok=True)
            shutil.move(str(entry), str(target))
        except OSError as exc:
            logger.warning("Could not move %s to %s (%s); it stays where it is", entry, target, exc)
            continue
        logger.info("Moved %s to %s", entry, target)
        moved.append((entry, target))
    # The emptied old folder, and on Linux/macOS the organisation folder if that empties too.
    for folder in (old, old.parent):
        try:
            folder.rmdir()
        except OSError:
            break
    if moved and settings is not None:
        _rewrite_setting_paths(settings, moved)
    return moved


def _rewrite_setting_paths(settings: QSettings, moved: list[tuple[Path, Path]]) -> None:
    """Replace moved paths in every string setting, also inside JSON text (backslashes doubled)."""
    replacements = []
    for old, new in moved:
        for before, after in ((str(old), str(new)), (json.dumps(str(old))[1:-1], json.dumps(str(new))[1:-1])):
            # Only whole path components: ".../demo-data" must not match ".../demo-data-2".
            replacements.append((re.compile(re.escape(before) + r'(?=$|[/\\"])'), after))

    def rewrite(text: str) -> str:
        for pattern, after in replacements:
            text = pattern.sub(lambda _match, new=after: new, text)  # a literal replacement, not a template
        return text

    for key in settings.allKeys():
        value = settings.value(key)
        if isinstance(value, str):
            updated: object = rewrite(value)
        elif isinstance(value, list) and all(isinstance(item, str) for item in value):
            updated = [rewrite(item) for item in value]
        else:
            continue
        if updated != value:
            settings.setValue(key, updated)
            logger.info("Setting %s now points to the moved data folder", key)
    settings.sync()


def fitting_size(preferred: tuple[int, int]) -> tuple[int, int]:
    """``preferred`` made to fit the screen's available area (a 1280×720 screen gets a window that fits)."""
    screen = QGuiApplication.primaryScreen()
    if screen is None:
        return preferred
    available = screen.availableGeometry()
    return min(preferred[0], available.width()), min(preferred[1], available.height())


class DemoLink(QObject):
    """Prepares the demo for ``window`` (its dataset, written once, and its settings
    in the form) and keeps ``ready_text`` ("Demo ready…") only while it is true:
    another data folder, loaded settings, a reset to anything but the demo's
    settings or a run started forget it."""

    ready = Signal()

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self._window = window
        self._task = TaskRunner("demo", self)
        self._task.done.connect(self._on_task_done)
        self._task.failed.connect(self._on_task_failed)
        self._output = Path()
        self._root = ""  # the demo's data folder, once prepared
        self.ready_text = ""  # shown by the window only while Start is possible
        window.data_panel.root_chosen.connect(self._on_root_chosen)
        window.config_form.config_loaded.connect(self._on_config_loaded)
        window.config_form.reset_done.connect(self._on_reset_done)

    def prepare(self) -> None:
        base = app_data_dir()
        self._output = base / DEMO_OUTPUT_FOLDER
        self._window.run_panel.set_state("Preparing the demo dataset…")
        data = base / DEMO_DATA_FOLDER
        self._task.start(lambda _job: ensure_demo_dataset(data))  # a second request while busy is one

    def forget(self) -> None:
        """"Demo ready" is no longer true: it goes (unless a run's state replaced it)."""
        if self.ready_text and not self._window.is_running():
            self._window.run_panel.set_state("")
        self.ready_text = ""

    def shutdown(self) -> None:
        self._task.shutdown()

    @Slot(object)
    def _on_task_done(self, root: Path) -> None:
        self._root = str(root)
        window = self._window
        window.apply_config(demo_config(root, self._output), baseline_source=DEMO_SETTINGS)
        window.left_tabs.setCurrentWidget(window.data_panel)
        self.ready_text = DEMO_READY
        logger.info("Demo: data %s, output %s", root, self._output)
        self.ready.emit()

    @Slot(str, str)
    def _on_task_failed(self, summary: str, details: str) -> None:
        self._window.run_panel.set_state("The demo dataset could not be prepared.", "#c62828")
        self._window.last_error_box = show_error(self._window, "Demo dataset", summary, details)

    @Slot(str)
    def _on_root_chosen(self, root: str) -> None:
        if os.path.abspath(root) != os.path.abspath(self._root):
            self.forget()  # "Demo ready" was about the demo's data, not this folder

    @Slot(object)
    def _on_config_loaded(self, _config: TrainConfig) -> None:
        self.forget()

    @Slot(str)
    def _on_reset_done(self, choice: str) -> None:
        if choice == DEMO_SETTINGS:
            self.ready_text = DEMO_READY
        else:
            self.forget()
