"""The scrolling list of chip rows that Review and Label share: rows built a few per
turn of the event loop (a page at a time, "Show more"), one current row that stays
in view, arrow-key moves that build the next rows on the way, thumbnails loaded
off the GUI thread. The tabs supply the rows (``make_row``) and the keys' meaning."""

from __future__ import annotations

import functools
from typing import Callable, Sequence

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import QScrollArea, QVBoxLayout, QWidget

from mlcls_gui.gui.review.label_chips import REVIEW_LIST_STYLE, ReviewRow, ThumbnailLoader

RowFactory = Callable[[int, object], ReviewRow]  # (rank from 1, item) -> its row


class ChipRowList(QWidget):
    rows_built = Signal()  # after each chunk of rows (overlays, buttons follow it)
    row_activated = Signal()  # a row was clicked: the owning tab takes the keyboard
    row_labels_changed = Signal(str, object)  # a row's chips changed: image path, new labels

    def __init__(self, make_row: RowFactory, *, page_size: int, chunk_size: int, thumbnails: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._make_row = make_row
        self.page_size, self.chunk_size = page_size, chunk_size
        self._items: list = []
        self._rows: list[ReviewRow] = []
        self.current = -1
        self._page_end = 0  # rows wanted so far: built chunk_size at a time up to here
        self._grow_timer = QTimer(self)
        self._grow_timer.setSingleShot(True)
        self._grow_timer.setInterval(0)
        self._grow_timer.timeout.connect(self._build_chunk)
        self._thumbs = ThumbnailLoader(self, name=thumbnails)
        self._thumbs.loaded.connect(self._load_thumbnails)
        inner = QWidget()
        inner.setStyleSheet(REVIEW_LIST_STYLE)
        self._layout = QVBoxLayout(inner)
        self._layout.setSpacing(4)
        self._layout.addStretch(1)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setWidget(inner)
        self.scroll.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.scroll)

    # ------------------------------------------------------------ reading
    def rows(self) -> list[ReviewRow]:
        return list(self._rows)

    def items(self) -> list:
        return list(self._items)

    def current_row(self) -> ReviewRow | None:
        return self._rows[self.current] if 0 <= self.current < len(self._rows) else None

    def has_more(self) -> bool:
        """Items beyond the page built so far (the tab shows "Show more")."""
        return self._page_end < len(self._items)

    # ------------------------------------------------------------ changing
    def set_items(self, items: Sequence, keep: str = "", keep_index: int = -1) -> None:
        """Rebuild the list; ``keep``: the image to stay current and in view (at the scroll
        position it had), else the one now at ``keep_index``."""
        position = self.scroll.verticalScrollBar().value()
        self._grow_timer.stop()
        for row in self._rows:
            self._layout.removeWidget(row)  # now, not at deleteLater: the layout must not count it
            row.hide()
            row.deleteLater()
        self._rows = []
        self.current = -1
        self._items = list(items)
        target = next((i for i, item in enumerate(self._items) if item.path == keep), keep_index) if keep else -1
        target = min(target, len(self._items) - 1)
        self._page_end = 0
        self.show_more()
        while target >= len(self._rows) < len(self._items):
            self._grow_now()
        if target >= 0:
            self.set_current(target)
            QTimer.singleShot(0, self, functools.partial(self._restore_view, position))  # once laid out

    def show_more(self) -> None:
        """One more page: its first rows now, the rest over the next turns of the event loop."""
        self._page_end = min(max(self._page_end, len(self._rows)) + self.page_size, len(self._items))
        self._build_chunk()

    def move(self, step: int) -> None:
        if not self._rows:
            return
        target = max(0, min(len(self._rows) - 1, self.current + step))
        if target == len(self._rows) - 1 and len(self._rows) < len(self._items):
            self._grow_now()
            target = max(0, min(len(self._rows) - 1, self.current + step))
        self.set_current(target)

    def set_current(self, index: int) -> None:
        if self.current_row() is not None:
            self.current_row().set_current(False)
        self.current = index
        row = self.current_row()
        if row is not None:
            row.set_current(True)
            self.scroll.ensureWidgetVisible(row)

    def shutdown(self, msecs: int = 30_000) -> None:
        self._grow_timer.stop()
        self._thumbs.shutdown(msecs)

    # ------------------------------------------------------------ building
    def _restore_view(self, position: int) -> None:
        self.scroll.verticalScrollBar().setValue(position)
        row = self.current_row()
        if row is not None:
            self.scroll.ensureWidgetVisible(row)

    def _grow_now(self) -> None:
        """The next rows at once (the current row moves past the last one built)."""
        if len(self._rows) < self._page_end:
            self._build_chunk()
        else:
            self.show_more()

    @Slot()
    def _build_chunk(self) -> None:
        start = len(self._rows)
        for rank, item in enumerate(self._items[start:min(start + self.chunk_size, self._page_end)], start + 1):
            row = self._make_row(rank, item)
            row.labels_changed.connect(self.row_labels_changed)
            row.activated.connect(self._on_row_activated)
            self._layout.insertWidget(self._layout.count() - 1, row)
            row.show()  # the layout would show it only after a queued event
            self._rows.append(row)
        if len(self._rows) < self._page_end:
            self._grow_timer.start()
        if self._rows and self.current < 0:
            self.set_current(0)
        self._load_thumbnails()
        self.rows_built.emit()

    @Slot()
    def _load_thumbnails(self) -> None:
        """Show the thumbnails loaded so far; ask for the missing ones."""
        missing = []
        for row in self._rows:
            image = self._thumbs.get(row.path)
            if image is None:
                missing.append(row.path)
            elif not row.thumbnail.has_image():
                row.thumbnail.set_image(image)
        self._thumbs.request(missing)

    @Slot(str)
    def _on_row_activated(self, path: str) -> None:
        index = next((i for i, r in enumerate(self._rows) if r.path == path), -1)
        if index >= 0:
            self.set_current(index)
        self.row_activated.emit()
