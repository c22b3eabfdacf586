"""The settings in which two runs differ, side by side (named by their form labels)."""

from __future__ import annotations

import json
import logging
from typing import Any

from PySide6.QtCore import QModelIndex, QRect, QSize, Qt, QTimer
from PySide6.QtGui import QPainter, QPalette, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHeaderView,
    QLabel,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from mlcls_gui.core.runs.listing import ConfigDifference
from mlcls_gui.gui.widgets.field_labels import form_label

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
        # neither value hides behind a horizontal scroll bar, and a long value (a
        # folder) wraps onto more lines instead of being cut: its differing part may
        # be anywhere in it.
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self._wrapping = WrapAnywhereDelegate(self.table)
        for column in (1, 2):
            self.table.setItemDelegateForColumn(column, self._wrapping)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.heading)
        layout.addWidget(self.table, 1)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        # Wider or narrower columns wrap into fewer or more lines; the stretched
        # sections take their new widths once this event is done.
        QTimer.singleShot(0, self.table, self.table.resizeRowsToContents)

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
        self.table.resizeRowsToContents()

    def rows(self) -> list[tuple[str, str, str]]:
        """What the table shows (for tests and copying)."""
        return [tuple(self.table.item(r, c).text() for c in range(3))  # type: ignore[misc]
                for r in range(self.table.rowCount())]


class WrapAnywhereDelegate(QStyledItemDelegate):
    """Cells whose text wraps at any character: a folder path has no spaces to wrap at.
    (Qt's own word wrap breaks at the slashes, but elides a name longer than the cell.)"""

    def __init__(self, table: QTableWidget) -> None:
        super().__init__(table)
        self._table = table

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        self.initStyleOption(option, index)
        text, option.text = option.text, ""
        style = option.widget.style() if option.widget else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, option, painter, option.widget)
        group = (QPalette.ColorGroup.Normal if option.state & QStyle.StateFlag.State_Enabled
                 else QPalette.ColorGroup.Disabled)
        role = (QPalette.ColorRole.HighlightedText if option.state & QStyle.StateFlag.State_Selected
                else QPalette.ColorRole.Text)
        painter.save()
        painter.setPen(option.palette.color(group, role))
        painter.drawText(self._text_rect(option.rect), _WRAP_FLAGS, text)
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:  # noqa: N802 - Qt API
        hint = super().sizeHint(option, index)
        width = self._table.columnWidth(index.column())
        text = str(index.data() or "")
        bounds = option.fontMetrics.boundingRect(self._text_rect(QRect(0, 0, width, 10_000)), _WRAP_FLAGS, text)
        return QSize(hint.width(), max(hint.height(), bounds.height() + 2 * _PADDING))

    @staticmethod
    def _text_rect(cell: QRect) -> QRect:
        return cell.adjusted(_PADDING, _PADDING, -_PADDING, -_PADDING)


_PADDING = 4
_WRAP_FLAGS = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter | Qt.TextFlag.TextWrapAnywhere)


def _text(value: Any) -> str:
    if isinstance(value, bool):  # the form shows check boxes
        return "on" if value else "off"
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return f"{value:g}"
    return json.dumps(value)
