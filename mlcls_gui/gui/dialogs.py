"""Error dialogs: a one-line summary, expandable details, never blocking the event loop."""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

logger = logging.getLogger(__name__)


def show_error(parent: QWidget | None, title: str, summary: str, details: str = "") -> QMessageBox:
    """Open (window-modal, non-blocking) an error box and return it.

    ``details`` (e.g. a traceback) sits behind "Show Details…"; the app keeps
    running, so a failed run never takes the window with it."""
    logger.info("%s: %s", title, summary)
    box = QMessageBox(parent)
    box.setObjectName("errorBox")
    box.setIcon(QMessageBox.Icon.Critical)
    box.setWindowTitle(f"{title} — mlcls-gui")
    box.setText(summary)
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if details:
        box.setDetailedText(details)
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box
