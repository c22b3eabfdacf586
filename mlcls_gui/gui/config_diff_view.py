"""The settings in which two runs differ, side by side (named by their form labels)."""

from __future__ import annotations

import json
import logging
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QTableWidget, QTableWidgetItem
from PySide6.QtWidgets import QVBoxLayout, QWidget

from mlcls_gui.core.runs import ConfigDifference

from .field_labels import form_label

logger = logging.getLogger(__name__)

HINT = "Select two runs to see the settings in which they differ."


class ConfigDiffView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.heading = QLabel(HINT)
        self.heading.setWordWrap(True)
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Setting", "Run A", "Run B"])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        # The setting's name as wide as it needs; A and B share the rest equally, so
        # neither value hides behind a horizontal scroll bar. A long value (a folder)
        # is cut in the middle, keeping both ends; its tooltip holds the whole text.
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.setWordWrap(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.heading)
        layout.addWidget(self.table, 1)

    def show_hint(self, text: str = HINT) -> None:
        self.heading.setText(text)
        self.table.setRowCount(0)

    def show_pair(self, first: str, second: str, differences: list[ConfigDifference]) -> None:
        self.heading.setText(
            f"<b>A</b> {first} and <b>B</b> {second} differ in {len(differences)} setting(s)."
            if differences else f"<b>A</b> {first} and <b>B</b> {second} have the same settings.")
        self.table.setRowCount(len(differences))
        for row, diff in enumerate(differences):
            name = QTableWidgetItem(form_label(diff.name))
            name.setToolTip(diff.name)
            self.table.setItem(row, 0, name)
            for column, value in ((1, diff.first), (2, diff.second)):
                item = QTableWidgetItem(_text(value))
                item.setToolTip(_text(value))
                self.table.setItem(row, column, item)

    def rows(self) -> list[tuple[str, str, str]]:
        """What the table shows (for tests and copying)."""
        return [tuple(self.table.item(r, c).text() for c in range(3))  # type: ignore[misc]
                for r in range(self.table.rowCount())]


def _text(value: Any) -> str:
    if isinstance(value, bool):  # the form shows check boxes
        return "on" if value else "off"
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return f"{value:g}"
    return json.dumps(value)
