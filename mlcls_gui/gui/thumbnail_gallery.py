"""One label's mistakes as thumbnails: its false positives and false negatives.

The lists fill at once with grey placeholders; the thumbnails are decoded off
the GUI thread in chunks (one chunk at a time, a bounded cache shared by both
lists) and replace the placeholders as they arrive. Double-clicking (or
Enter on) a thumbnail reports its image path.
"""

from __future__ import annotations

import functools
import html
import logging
from pathlib import Path
from typing import Sequence

from PySide6.QtCore import QSize, Qt, Signal, Slot
from PySide6.QtGui import QColor, QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from mlcls_gui.core.evaluation import ImageResult

from .background import BackgroundTask
from .thumbnails import make_thumbnail

logger = logging.getLogger(__name__)

THUMBNAIL_SIZE = 88
THUMBNAIL_CHUNK = 24
MAX_EXAMPLES = 300  # per list: more would only slow the panel down
MAX_CACHED_THUMBNAILS = 3000
PLACEHOLDER_COLOR = "#e6e6e6"
PATH_ROLE = Qt.ItemDataRole.UserRole


def thumbnail_image(path: str, size: int = THUMBNAIL_SIZE) -> QImage:
    return make_thumbnail(path, size)


def load_thumbnails(paths: list[str]) -> dict[str, QImage]:
    """Runs on a background thread."""
    return {path: thumbnail_image(path) for path in paths}


class ThumbnailList(QListWidget):
    """Thumbnails of images (icon mode); the image path is in ``PATH_ROLE``."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setIconSize(QSize(THUMBNAIL_SIZE, THUMBNAIL_SIZE))
        self.setGridSize(QSize(THUMBNAIL_SIZE + 18, THUMBNAIL_SIZE + 34))
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)
        self.setWordWrap(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setMinimumHeight(THUMBNAIL_SIZE + 44)

    def paths(self) -> list[str]:
        return [self.item(row).data(PATH_ROLE) for row in range(self.count())]


class MistakesGallery(QWidget):
    """False positives (left) and false negatives (right) of one label."""

    image_activated = Signal(str)  # the path of a double-clicked thumbnail
    all_shown = Signal()  # every thumbnail of the shown mistakes is loaded

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._thumb_task: BackgroundTask | None = None
        self._thumb_queue: list[str] = []
        self._thumb_cache: dict[str, QIcon] = {}
        self._placeholder = QIcon(_placeholder_pixmap())
        self.fp_title = QLabel("False positives")
        self.fp_title.setWordWrap(True)
        self.fn_title = QLabel("False negatives")
        self.fn_title.setWordWrap(True)
        self.fp_list = ThumbnailList()
        self.fp_list.setObjectName("falsePositives")
        self.fn_list = ThumbnailList()
        self.fn_list.setObjectName("falseNegatives")
        self.fp_list.itemActivated.connect(self._on_thumbnail_list_item_activated)
        self.fn_list.itemActivated.connect(self._on_thumbnail_list_item_activated)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for title, listing in ((self.fp_title, self.fp_list), (self.fn_title, self.fn_list)):
            column = QVBoxLayout()
            column.addWidget(title)
            column.addWidget(listing, 1)
            layout.addLayout(column, 1)

    def clear(self) -> None:
        """Empty lists under the plain titles (no label selected)."""
        self.fp_list.clear()
        self.fn_list.clear()
        self.fp_title.setText("False positives")
        self.fn_title.setText("False negatives")

    def show_mistakes(self, label: str, column: int, threshold: float, images: Sequence[ImageResult],
                      false_pos: Sequence[int], false_neg: Sequence[int]) -> None:
        """List the images at indices ``false_pos`` / ``false_neg`` of ``images``
        (already in display order) with label ``column``'s probability."""
        self.fp_list.clear()
        self.fn_list.clear()
        name = html.escape(label)
        more_fp = f" (first {MAX_EXAMPLES} shown)" if len(false_pos) > MAX_EXAMPLES else ""
        more_fn = f" (first {MAX_EXAMPLES} shown)" if len(false_neg) > MAX_EXAMPLES else ""
        self.fp_title.setText(
            f"<b>False positives of {name}: {len(false_pos)}</b>{more_fp} — predicted "
            f"(p ≥ {threshold:.3f}) but not labelled; most confident first")
        self.fn_title.setText(
            f"<b>False negatives of {name}: {len(false_neg)}</b>{more_fn} — labelled but "
            f"missed (p &lt; {threshold:.3f}); least confident first")
        wanted: list[str] = []
        for listing, indices in ((self.fp_list, false_pos), (self.fn_list, false_neg)):
            for index in indices[:MAX_EXAMPLES]:
                result = images[index]
                probability = result.probabilities[column]
                item = QListWidgetItem(self._thumb_cache.get(result.path, self._placeholder),
                                       f"{probability:.2f}\n{Path(result.path).name}")
                item.setData(PATH_ROLE, result.path)
                item.setToolTip(
                    f"{result.path}\nlabelled: {', '.join(result.labels) or '(none)'}\n"
                    f"p({label}) = {probability:.3f}\nDouble-click to open it in the Predict panel.")
                listing.addItem(item)
                if result.path not in self._thumb_cache:
                    wanted.append(result.path)
        self._thumb_queue = wanted
        if not wanted:
            self.all_shown.emit()
        self._start_thumbnail_chunk()

    def shutdown(self, msecs: int = 30_000) -> None:
        """Load no more thumbnails and wait for the chunk being loaded."""
        self._thumb_queue.clear()
        if self._thumb_task is not None:
            self._thumb_task.wait(msecs)

    def _start_thumbnail_chunk(self) -> None:
        if self._thumb_task is not None:
            return  # the running chunk starts the next one when it finishes
        chunk: list[str] = []
        while not chunk and self._thumb_queue:
            chunk = [p for p in self._thumb_queue[:THUMBNAIL_CHUNK] if p not in self._thumb_cache]
            del self._thumb_queue[:THUMBNAIL_CHUNK]
        if not chunk:
            return
        task = BackgroundTask(functools.partial(load_thumbnails, chunk), name="thumbnails", parent=self)
        task.done.connect(self._on_thumb_task_done)
        task.failed.connect(self._on_thumb_task_failed)
        task.finished.connect(self._on_thumb_task_finished)
        self._thumb_task = task
        task.start()

    @Slot(QListWidgetItem)
    def _on_thumbnail_list_item_activated(self, item: QListWidgetItem) -> None:
        path = item.data(PATH_ROLE)
        if path:
            self.image_activated.emit(str(path))

    @Slot(object)
    def _on_thumb_task_done(self, images: dict[str, QImage]) -> None:
        if len(self._thumb_cache) + len(images) > MAX_CACHED_THUMBNAILS:
            self._thumb_cache.clear()
        for path, image in images.items():
            self._thumb_cache[path] = QIcon(QPixmap.fromImage(image)) if not image.isNull() else self._placeholder
        for listing in (self.fp_list, self.fn_list):
            for row in range(listing.count()):
                item = listing.item(row)
                icon = self._thumb_cache.get(item.data(PATH_ROLE))
                if icon is not None and item.data(PATH_ROLE) in images:
                    item.setIcon(icon)

    @Slot(str, str)
    def _on_thumb_task_failed(self, summary: str, details: str) -> None:
        logger.warning("Could not load thumbnails: %s", details)

    @Slot()
    def _on_thumb_task_finished(self) -> None:
        task = self._thumb_task
        self._thumb_task = None
        if task is not None:
            task.deleteLater()
        if self._thumb_queue:
            self._start_thumbnail_chunk()
        else:
            self.all_shown.emit()


def _placeholder_pixmap() -> QPixmap:
    pixmap = QPixmap(THUMBNAIL_SIZE, THUMBNAIL_SIZE)
    pixmap.fill(QColor(PLACEHOLDER_COLOR))
    return pixmap
