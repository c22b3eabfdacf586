"""One label's mistakes as thumbnails: its false positives and false negatives.

The lists fill at once with grey placeholders; the thumbnails are decoded off
the GUI thread in chunks (one chunk at a time, a bounded cache shared by both
lists) and replace the placeholders as they arrive. Double-clicking (or
Enter on) a thumbnail reports its image path. "Show saliency maps" lays the
label's Grad-CAM map over every thumbnail, computed in the background with the
evaluated model file (``set_model_source``); a click on a thumbnail that shows
its map opens it large (``SaliencyViewer``, as a Predict card's does). The click
waits out the double-click interval, so a double-click only opens the image in
Predict.
"""

from __future__ import annotations

import html
import logging
from pathlib import Path
from typing import Sequence

from PySide6.QtCore import QSize, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QColor, QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from mlcls_gui.core.evaluation.report import ImageResult
from mlcls_gui.gui.widgets.saliency_view import SALIENCY_TOOLTIP, SaliencyJobs, saliency_unavailable
from mlcls_gui.gui.widgets.saliency_viewer import ENLARGE_TIP, SaliencyViewer
from mlcls_gui.gui.widgets.task_runner import TaskRunner
from mlcls_gui.gui.widgets.thumbnails import make_thumbnail

logger = logging.getLogger(__name__)

THUMBNAIL_SIZE = 88
THUMBNAIL_CHUNK = 24
MAX_EXAMPLES = 300  # per list: more would only slow the panel down
MAX_CACHED_THUMBNAILS = 3000
PLACEHOLDER_COLOR = "#e6e6e6"
PATH_ROLE = Qt.ItemDataRole.UserRole
TIP_ROLE = Qt.ItemDataRole.UserRole + 1  # the item's tooltip without the "Click to enlarge" line


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
    overlays_shown = Signal()  # every saliency overlay asked for is computed (or failed)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._thumbs = TaskRunner("thumbnails", self)
        self._thumbs.done.connect(self._on_thumb_task_done)
        self._thumbs.failed.connect(self._on_thumb_task_failed)
        self._thumbs.finished.connect(self._on_thumb_task_finished)
        self._thumb_queue: list[str] = []
        self._thumb_cache: dict[str, QIcon] = {}
        self._placeholder = QIcon(_placeholder_pixmap())
        self._label = ""
        self._model = ""  # the model file the overlays are computed with
        self._overlay_cache: dict[tuple[str, str, str], QIcon] = {}  # (model, path, label)
        self.saliency = SaliencyJobs(self)
        self.saliency.ready.connect(self._on_saliency_ready)
        self.saliency.failed.connect(self._on_saliency_failed)
        self.saliency.idle.connect(self.overlays_shown)
        self.saliency_viewer = SaliencyViewer(self)  # an overlay, clicked, opened large
        self._clicked_path = ""
        self._enlarge_timer = QTimer(self)  # a single click, once it is not the first of a double-click
        self._enlarge_timer.setSingleShot(True)
        self._enlarge_timer.setInterval(QApplication.doubleClickInterval())
        self._enlarge_timer.timeout.connect(self._on_enlarge_timer_timeout)
        self.saliency_check = QCheckBox("Show saliency maps")
        self.saliency_check.setToolTip(SALIENCY_TOOLTIP + " Uses the evaluated model file.")
        self.saliency_check.setEnabled(False)
        self.saliency_check.toggled.connect(self._on_saliency_check_toggled)
        self.saliency_note = QLabel()
        self.saliency_note.setWordWrap(True)
        self.saliency_note.setTextFormat(Qt.TextFormat.RichText)  # escaped names: show ' not &#x27;
        self.saliency_note.setStyleSheet("color: #8a4b00;")
        self.fp_title = QLabel("False positives")
        self.fp_title.setWordWrap(True)
        self.fn_title = QLabel("False negatives")
        self.fn_title.setWordWrap(True)
        self.fp_list = ThumbnailList()
        self.fp_list.setObjectName("falsePositives")
        self.fn_list = ThumbnailList()
        self.fn_list.setObjectName("falseNegatives")
        for listing in (self.fp_list, self.fn_list):
            listing.itemActivated.connect(self._on_thumbnail_list_item_activated)
            listing.itemClicked.connect(self._on_thumbnail_list_item_clicked)
        lists = QHBoxLayout()
        for title, listing in ((self.fp_title, self.fp_list), (self.fn_title, self.fn_list)):
            column = QVBoxLayout()
            column.addWidget(title)
            column.addWidget(listing, 1)
            lists.addLayout(column, 1)
        tools = QHBoxLayout()
        tools.addWidget(self.saliency_check)
        tools.addWidget(self.saliency_note, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(tools)
        layout.addLayout(lists, 1)

    def set_model_source(self, model: str) -> None:
        """The model file whose saliency maps the thumbnails can show ("" for none)."""
        if model == self._model:
            return
        self._model = model
        self._overlay_cache.clear()
        self.saliency.clear()
        self.saliency_note.setText("")
        reason = saliency_unavailable(model)
        self.saliency_check.setEnabled(bool(model) and not reason)
        self.saliency_check.setToolTip(reason or SALIENCY_TOOLTIP + " Uses the evaluated model file.")
        if not model or reason:
            self.saliency_check.setChecked(False)
        self._refresh_icons()
        self._request_overlays()

    def overlay_paths(self) -> list[str]:
        """Paths of the listed thumbnails that show a saliency overlay now."""
        return [path for listing in (self.fp_list, self.fn_list) for path in listing.paths()
                if self._shows_overlay(path)]

    def enlarge(self, path: str) -> bool:
        """Open the overlay of ``path`` large (as a click on it does); False when it shows none."""
        if not self._shows_overlay(path):
            return False
        self.saliency_viewer.show_map(self._model, path, self._label)
        return True

    def clear(self) -> None:
        """Empty lists under the plain titles (no label selected)."""
        self._enlarge_timer.stop()
        self.fp_list.clear()
        self.fn_list.clear()
        self.fp_title.setText("False positives")
        self.fn_title.setText("False negatives")

    def show_mistakes(self, label: str, column: int, threshold: float, images: Sequence[ImageResult],
                      false_pos: Sequence[int], false_neg: Sequence[int]) -> None:
        """List the images at indices ``false_pos`` / ``false_neg`` of ``images``
        (already in display order) with label ``column``'s probability."""
        self._enlarge_timer.stop()
        self.fp_list.clear()
        self.fn_list.clear()
        self._label = label
        self.saliency.clear()
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
                item = QListWidgetItem(self._icon_for(result.path),
                                       f"{probability:.2f}\n{Path(result.path).name}")
                item.setData(PATH_ROLE, result.path)
                item.setData(TIP_ROLE,
                             f"{result.path}\nlabelled: {', '.join(result.labels) or '(none)'}\n"
                             f"p({label}) = {probability:.3f}\nDouble-click to open it in the Predict panel.")
                self._set_tooltip(item)
                listing.addItem(item)
                if result.path not in self._thumb_cache:
                    wanted.append(result.path)
        self._thumb_queue = wanted
        if not wanted:
            self.all_shown.emit()
        self._start_thumbnail_chunk()
        self._request_overlays()

    def shutdown(self, msecs: int = 30_000) -> None:
        """Load no more thumbnails or overlays and wait for the chunks being made."""
        self._thumb_queue.clear()
        self._enlarge_timer.stop()
        self.saliency.shutdown(msecs)
        self.saliency_viewer.shutdown(msecs)
        self._thumbs.shutdown(msecs)

    # ------------------------------------------------------------ saliency
    def _shows_overlay(self, path: str) -> bool:
        return (self.saliency_check.isChecked() and bool(self._label)
                and (self._model, path, self._label) in self._overlay_cache)

    def _set_tooltip(self, item: QListWidgetItem) -> None:
        tip = str(item.data(TIP_ROLE) or "")
        item.setToolTip(f"{tip}\n{ENLARGE_TIP}" if self._shows_overlay(item.data(PATH_ROLE)) else tip)

    def _icon_for(self, path: str) -> QIcon:
        """The overlay when saliency is on and it is ready, else the thumbnail or a placeholder."""
        if self.saliency_check.isChecked():
            overlay = self._overlay_cache.get((self._model, path, self._label))
            if overlay is not None:
                return overlay
        return self._thumb_cache.get(path, self._placeholder)

    def _refresh_icons(self, paths: set[str] | None = None) -> None:
        for listing in (self.fp_list, self.fn_list):
            for row in range(listing.count()):
                item = listing.item(row)
                path = item.data(PATH_ROLE)
                if paths is None or path in paths:
                    item.setIcon(self._icon_for(path))
                    self._set_tooltip(item)

    def _request_overlays(self) -> None:
        if not (self.saliency_check.isChecked() and self._model and self._label):
            return
        for listing in (self.fp_list, self.fn_list):
            for path in listing.paths():
                if (self._model, path, self._label) not in self._overlay_cache:
                    key = (self._model, path, self._label)
                    self.saliency.request(key, self._model, path, self._label, THUMBNAIL_SIZE)
        if not self.saliency.is_busy():
            self.overlays_shown.emit()

    @Slot(bool)
    def _on_saliency_check_toggled(self, checked: bool) -> None:
        if checked:
            self.saliency_note.setText("")
        else:
            self.saliency.clear()
        self._refresh_icons()
        self._request_overlays()

    @Slot(object, QImage)
    def _on_saliency_ready(self, key: tuple[str, str, str], image: QImage) -> None:
        if len(self._overlay_cache) >= MAX_CACHED_THUMBNAILS:
            self._overlay_cache.clear()
        self._overlay_cache[key] = QIcon(QPixmap.fromImage(image))
        model, path, label = key
        if model == self._model and label == self._label:
            self._refresh_icons({path})

    @Slot(object, str, bool)
    def _on_saliency_failed(self, key: tuple[str, str, str], message: str, model_problem: bool) -> None:
        model, path, label = key
        if model != self._model:
            return
        if model_problem:
            # No image will get a map from this model: say why once and stop asking.
            self.saliency.clear()
            self.saliency_check.setChecked(False)
            self.saliency_note.setText(f"No saliency maps: {html.escape(message)}")
        else:
            self.saliency_note.setText(f"No saliency map for {html.escape(Path(path).name)}: "
                                       f"{html.escape(message)}")

    def _start_thumbnail_chunk(self) -> bool:
        """Start loading the next chunk; False when no chunk runs now (nothing left)."""
        if self._thumbs.is_busy():
            return True  # the running chunk starts the next one when it finishes
        chunk: list[str] = []
        while not chunk and self._thumb_queue:
            chunk = [p for p in self._thumb_queue[:THUMBNAIL_CHUNK] if p not in self._thumb_cache]
            del self._thumb_queue[:THUMBNAIL_CHUNK]
        if not chunk:
            return False
        return self._thumbs.start(lambda _j: load_thumbnails(chunk))

    @Slot(QListWidgetItem)
    def _on_thumbnail_list_item_clicked(self, item: QListWidgetItem) -> None:
        path = item.data(PATH_ROLE)
        if path and self._shows_overlay(path):
            self._clicked_path = str(path)
            self._enlarge_timer.start()

    @Slot()
    def _on_enlarge_timer_timeout(self) -> None:
        self.enlarge(self._clicked_path)

    @Slot(QListWidgetItem)
    def _on_thumbnail_list_item_activated(self, item: QListWidgetItem) -> None:
        self._enlarge_timer.stop()  # a double-click (or Enter) opens it in Predict, not large
        path = item.data(PATH_ROLE)
        if path:
            self.image_activated.emit(str(path))

    @Slot(object)
    def _on_thumb_task_done(self, images: dict[str, QImage]) -> None:
        if len(self._thumb_cache) + len(images) > MAX_CACHED_THUMBNAILS:
            self._thumb_cache.clear()
        for path, image in images.items():
            self._thumb_cache[path] = QIcon(QPixmap.fromImage(image)) if not image.isNull() else self._placeholder
        self._refresh_icons(set(images))

    @Slot(str, str)
    def _on_thumb_task_failed(self, summary: str, details: str) -> None:
        logger.warning("Could not load thumbnails: %s", details)

    @Slot()
    def _on_thumb_task_finished(self) -> None:
        # The rest of the queue may be cached meanwhile: then nothing starts and all is shown.
        if not self._start_thumbnail_chunk():
            self.all_shown.emit()


def _placeholder_pixmap() -> QPixmap:
    pixmap = QPixmap(THUMBNAIL_SIZE, THUMBNAIL_SIZE)
    pixmap.fill(QColor(PLACEHOLDER_COLOR))
    return pixmap
