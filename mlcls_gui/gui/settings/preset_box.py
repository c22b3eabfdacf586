"""The Settings form's "Preset:" line: a box of the presets plus "Custom"."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QWidget

from mlcls_gui.core.presets import PRESET_DESCRIPTIONS, PRESET_NAMES, PRESET_TITLES
from mlcls_gui.gui.widgets.wheel_guard import guard_wheel

CUSTOM_PRESET = "Custom"  # the box's entry when the values match no preset


class PresetBox(QWidget):
    """Emits ``chosen(name)`` when the user picks a preset; "Custom" changes nothing."""

    chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.combo = QComboBox()
        self.combo.setObjectName("preset_combo")
        for name in PRESET_NAMES:
            self.combo.addItem(PRESET_TITLES[name], name)
            self.combo.setItemData(self.combo.count() - 1, PRESET_DESCRIPTIONS[name], Qt.ItemDataRole.ToolTipRole)
        self.combo.addItem(CUSTOM_PRESET, None)
        self.combo.setToolTip("Set the training recipe's fields to a preset's values; "
                              "◆ marks the fields it changed from the seed script's.")
        guard_wheel(self.combo)
        self.combo.activated.connect(self._on_combo_activated)
        label = QLabel("Preset:")
        label.setBuddy(self.combo)
        line = QHBoxLayout(self)
        line.setContentsMargins(0, 0, 0, 0)
        line.addWidget(label)
        line.addWidget(self.combo, 1)

    def show_preset(self, name: str | None) -> None:
        """Show ``name`` (None: "Custom") without emitting ``chosen``."""
        self.combo.setCurrentIndex(self.combo.findData(name))

    @Slot(int)
    def _on_combo_activated(self, index: int) -> None:
        name = self.combo.itemData(index)
        if name is not None:
            self.chosen.emit(name)
