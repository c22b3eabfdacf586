"""Combo and spin boxes take the mouse wheel only when they have the focus.

Scrolling a form with the wheel must scroll it, not change the combo box or
spin box that happens to pass under the pointer. ``guard_wheel`` gives a
widget strong focus (click or Tab, not the wheel) and an event filter that
passes wheel events on to the parent (the scroll area) while it is not focused.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QAbstractSpinBox, QComboBox, QWidget

logger = logging.getLogger(__name__)


class _WheelGuard(QObject):
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if event.type() == QEvent.Type.Wheel and isinstance(watched, QWidget) and not watched.hasFocus():
            # Ignored and filtered: QApplication hands the event to the parent,
            # so the surrounding scroll area scrolls instead.
            event.ignore()
            return True
        return False


_guard: _WheelGuard | None = None


def guard_wheel(widget: QWidget) -> None:
    """Let ``widget`` react to the wheel only while it has the keyboard focus."""
    global _guard
    if _guard is None:
        _guard = _WheelGuard()
    if widget.property("mlclsWheelGuarded"):
        return
    widget.setProperty("mlclsWheelGuarded", True)
    widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
    widget.installEventFilter(_guard)


def guard_wheel_in(root: QWidget) -> None:
    """Guard every combo box and spin box inside ``root``."""
    for widget in root.findChildren(QComboBox) + root.findChildren(QAbstractSpinBox):
        guard_wheel(widget)
