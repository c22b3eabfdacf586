"""What the Settings form's *Reset to* menu offers, and the question before a reset.

Each preset over the seed script's defaults, and the settings the form started
from when they are another (the demo's, a loaded file's). The data folder is
never reset: it is the user's choice, not a setting.
"""

from __future__ import annotations

import dataclasses

from PySide6.QtWidgets import QMessageBox, QWidget

from mlcls_gui.core.config import TrainConfig
from mlcls_gui.core.presets import DEFAULT_PRESET, PRESET_NAMES, PRESET_TITLES, apply_preset


def reset_choices(images_root: str, started_from: tuple[str, TrainConfig] | None) -> dict[str, TrainConfig]:
    """The menu's entries, by their names, each with ``images_root`` as its data folder."""
    choices = {
        f"{PRESET_TITLES[name]}{' (the defaults)' if name == DEFAULT_PRESET else ''}":
            dataclasses.replace(apply_preset(TrainConfig(), name), images_root=images_root)
        for name in PRESET_NAMES}
    if started_from is not None:
        source, config = started_from
        config = dataclasses.replace(config, images_root=images_root)
        if config not in choices.values():
            choices[source] = config
    return choices


def ask_before_reset(parent: QWidget, changed_labels: list[str], choice: str) -> bool:
    """Whether the user agrees to reset, told which settings would change."""
    listing = ", ".join(changed_labels) or "none"
    answer = QMessageBox.question(
        parent, f"Reset to {choice}",
        f"Put every setting back to {choice}? The data folder stays.\n\n"
        f"{len(changed_labels)} setting(s) would change: {listing}.",
        QMessageBox.StandardButton.Reset | QMessageBox.StandardButton.Cancel,
        QMessageBox.StandardButton.Cancel,
    )
    return answer == QMessageBox.StandardButton.Reset
