"""A scrollable column of row widgets built a few per turn of the event loop.

A page of 100 rows built at once froze the Review tab ~0.3 s (see its
CHUNK_SIZE); a thousand near-duplicate groups or twenty thousand outliers
must not freeze the window, so rows come CHUNK_SIZE at a time, a page at most
until "Show more"."""

from __future__ import annotations

import logging
from typing import Any, Callable, Sequence

from PySide6.QtCore import QTimer, Signal, Slot
from PySide6.QtWidgets import QLabel, QPushButton, QScrollArea, QVBoxLayout, QWidget

logger = logging.getLogger(__name__)

PAGE_SIZE = 100  # rows per page ("Show more")
CHUNK_SIZE = 20  # rows built per turn of the event loop


class ChunkedList(QWidget):
    """Rows made by ``make_row(item)`` for ``set_items``'s items, in order."""

    rows_built = Signal()  # a chunk of rows was added (load their thumbnails)

    def __init__(self, make_row: Callable[[Any], QWidget], empty_text: str = "",
                 style: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._make_row = make_row
        self._items: list[Any] = []
        self._rows: list[QWidget] = []
        self._page_end = 0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._build_chunk)
        self.container = QWidget()
        if style:
            self.container.setStyleSheet(style)  # one sheet for every row (a sheet per row is slow)
        self.rows_layout = QVBoxLayout(self.container)
        self.rows_layout.setSpacing(4)
        self.rows_layout.addStretch(1)
        self.empty_label = QLabel(empty_text)
        self.empty_label.setWordWrap(True)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setWidget(self.container)
        self.more_button = QPushButton("Show more")
        self.more_button.clicked.connect(self.show_more)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.empty_label)
        layout.addWidget(self.scroll, 1)
        layout.addWidget(self.more_button)
        self._update()

    def set_items(self, items: Sequence[Any], empty_text: str | None = None) -> None:
        """Replace the rows: the first page is built over the next turns of the event loop."""
        self._timer.stop()
        for row in self._rows:
            self.rows_layout.removeWidget(row)  # now: the layout must not count it until deleteLater
            row.hide()
            row.deleteLater()
        self._rows = []
        self._items = list(items)
        if empty_text is not None:
            self.empty_label.setText(empty_text)
        self._page_end = 0
        self.scroll.verticalScrollBar().setValue(0)
        self.show_more()

    def items(self) -> list[Any]:
        return list(self._items)

    def rows(self) -> list[QWidget]:
        return list(self._rows)

    def is_complete(self) -> bool:
        """Every row of the pages asked for is built."""
        return len(self._rows) >= self._page_end

    @Slot()
    def show_more(self) -> None:
        self._page_end = min(max(self._page_end, len(self._rows)) + PAGE_SIZE, len(self._items))
        self._build_chunk()

    @Slot()
    def _build_chunk(self) -> None:
        start = len(self._rows)
        for item in self._items[start:min(start + CHUNK_SIZE, self._page_end)]:
            row = self._make_row(item)
            self.rows_layout.insertWidget(self.rows_layout.count() - 1, row)
            row.show()  # the layout would show it only after a queued event
            self._rows.append(row)
        if len(self._rows) < self._page_end:
            self._timer.start()
        self._update()
        if len(self._rows) > start:
            self.rows_built.emit()

    def _update(self) -> None:
        self.empty_label.setVisible(not self._items and bool(self.empty_label.text()))
        self.more_button.setVisible(self._page_end < len(self._items))
        left = len(self._items) - self._page_end
        self.more_button.setText(f"Show more ({left} left)")
