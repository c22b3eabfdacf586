"""Small reusable widgets: a path field with Browse… and a one-line elided label."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QSize, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QLineEdit, QPushButton, QSizePolicy, QWidget

from mlcls_gui.gui.widgets.dialogs import ask_save_file

logger = logging.getLogger(__name__)

MODEL_FILTER = "mlcls-gui model (*.pt *.pth);;All files (*)"  # a PathField's filter for model files


class PathField(QWidget):
    """A path line edit with a Browse… button (open file, save file or folder).

    In save mode, Browse… asks before an existing file is chosen, naming what
    it is; ``replace_agreed()`` tells the caller it need not ask again. A path
    the app filled in (``suggest_path``) is selected when the user clicks into
    the field, so what they type replaces it instead of joining its end."""

    path_changed = Signal(str)

    def __init__(self, mode: str, title: str, file_filter: str = "", placeholder: str = "",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        assert mode in ("open", "save", "folder")
        self._mode = mode
        self._title = title
        self._filter = file_filter
        self._replace_agreed = ""
        self._suggested = ""
        self.edit = QLineEdit()
        self.edit.setPlaceholderText(placeholder)
        self.edit.setClearButtonEnabled(True)
        self.edit.editingFinished.connect(self._on_edit_editing_finished)
        self.edit.installEventFilter(self)
        self.browse_button = QPushButton("Browse…")
        self.browse_button.clicked.connect(self._on_browse_button_clicked)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit, 1)
        layout.addWidget(self.browse_button)

    def path(self) -> str:
        return self.edit.text().strip()

    def replace_agreed(self) -> bool:
        """Whether the user already agreed, in the save dialog, to replace the file now in the field."""
        return bool(self._replace_agreed) and self._replace_agreed == self.path()

    def set_path(self, path: str) -> None:
        path = str(path)
        if path != self.edit.text():
            self.edit.setText(path)
            self.path_changed.emit(path)

    def suggest_path(self, path: str) -> None:
        """Fill in ``path`` as the app's suggestion (selected on the user's first click)."""
        self._suggested = str(path)
        self.set_path(path)

    def is_suggestion(self) -> bool:
        """Whether the field still holds the app's suggestion, untouched."""
        return bool(self._suggested) and self.edit.text() == self._suggested

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if (watched is self.edit and event.type() == QEvent.Type.FocusIn and self.is_suggestion()):
            # After the click has placed the cursor: select the whole suggestion.
            QTimer.singleShot(0, self.edit.selectAll)
        return super().eventFilter(watched, event)

    @Slot()
    def _on_edit_editing_finished(self) -> None:
        self.path_changed.emit(self.path())

    @Slot()
    def _on_browse_button_clicked(self) -> None:
        start = self.path() or str(Path.home())
        if self._mode == "open":
            path, _ = QFileDialog.getOpenFileName(self, self._title, start, self._filter)
        elif self._mode == "save":
            path = ask_save_file(self, self._title, start, self._filter)
            self._replace_agreed = path if path and Path(path).exists() else ""
        else:
            path = QFileDialog.getExistingDirectory(self, self._title, start)
        if path:
            self.set_path(path)


class OneLineLabel(QLabel):
    """Plain text on exactly one line, elided with "…" when too long; the full
    text is the tooltip. Its height never changes, shown or empty, so a message
    appearing in it never moves the widgets below it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)

    def full_text(self) -> str:
        return self._full

    def set_full_text(self, text: str) -> None:
        self._full = text
        self.setToolTip(text if text else "")
        self._elide()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(40, self.fontMetrics().height())

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return self.sizeHint()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        shown = self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight, max(self.width(), 10))
        if shown != self.text():
            self.setText(shown)
