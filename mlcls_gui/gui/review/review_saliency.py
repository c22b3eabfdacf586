"""Saliency overlays on the Review tab's thumbnails: "Saliency for [label]".

The maps come from the review's model file (``SaliencyJobs``, off the GUI
thread, one chunk at a time). A review without a model file trained its own
model and kept none, so there is nothing to ask: the toggle is off and says so.
A click on a thumbnail that shows its map opens it large (``SaliencyViewer``, as
a Predict card's does).
"""

from __future__ import annotations

import html
import logging
from typing import Callable, Sequence

from PySide6.QtCore import QEvent, QObject, Qt, Slot
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QCheckBox, QComboBox, QLabel, QWidget

from mlcls_gui.gui.review.label_chips import THUMB_SIZE, ReviewRow
from mlcls_gui.gui.widgets.saliency_view import SALIENCY_TOOLTIP, SaliencyJobs
from mlcls_gui.gui.widgets.saliency_viewer import ENLARGE_TIP, SaliencyViewer

logger = logging.getLogger(__name__)

NO_MODEL_TIP = "Saliency maps need a model file: choose one with Model… (a review without one keeps no model)."


class ReviewOverlays(QObject):
    """The toggle, the label choice and the overlays of the rows ``rows()`` returns."""

    def __init__(self, rows: Callable[[], Sequence[ReviewRow]], parent: QWidget) -> None:
        super().__init__(parent)
        self._rows = rows
        self._model = ""
        self._images: dict[tuple[str, str, str], QPixmap] = {}  # (model, path, label) -> overlay
        self.jobs = SaliencyJobs(self)
        self.jobs.ready.connect(self._on_ready)
        self.jobs.failed.connect(self._on_failed)
        self.check = QCheckBox("Saliency for")
        self.check.setObjectName("reviewSaliency")
        self.check.toggled.connect(self.refresh)
        self.label_box = QComboBox()
        self.label_box.currentIndexChanged.connect(self.refresh)
        self.note = QLabel()
        self.note.setStyleSheet("color: #8a4b00;")
        self.viewer = SaliencyViewer(parent)  # an overlay, clicked, opened large
        self.set_model("")

    def widgets(self) -> list[QWidget]:
        return [self.check, self.label_box, self.note]

    def set_model(self, path: str) -> None:
        if path != self._model:
            self.jobs.clear()
            self._images.clear()
        self._model = path
        self.check.setEnabled(bool(path))
        self.check.setToolTip(SALIENCY_TOOLTIP if path else NO_MODEL_TIP)
        if not path:
            self.check.setChecked(False)
        self.note.setText("")
        self.refresh()

    def set_labels(self, labels: Sequence[str]) -> None:
        current = self.label_box.currentText()
        self.label_box.blockSignals(True)
        self.label_box.clear()
        self.label_box.addItems(list(labels))
        if current in labels:
            self.label_box.setCurrentText(current)
        self.label_box.blockSignals(False)
        self.refresh()

    def label(self) -> str:
        return self.label_box.currentText()

    def shown_paths(self) -> list[str]:
        """Rows that show an overlay now (for tests)."""
        return [row.path for row in self._rows() if row.thumbnail._overlay is not None]

    def enlarge(self, path: str) -> bool:
        """Open the overlay of the row of ``path`` large (as a click on it does); False when it shows none."""
        if path not in self.shown_paths():
            return False
        self.viewer.show_map(self._model, path, self.label())
        return True

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        # A row's thumbnail, clicked while it shows its map: opened large (the row still becomes current).
        if event.type() == QEvent.Type.MouseButtonRelease and event.button() == Qt.MouseButton.LeftButton:
            row = next((row for row in self._rows() if row.thumbnail is watched), None)
            if row is not None and self.enlarge(row.path):
                return True
        return super().eventFilter(watched, event)

    @Slot()
    def refresh(self) -> None:
        """Overlays on every row when on (asking for the missing ones), none when off."""
        on = self.check.isChecked() and bool(self._model) and bool(self.label())
        self.label_box.setEnabled(on)
        for row in self._rows():
            key = (self._model, row.path, self.label())
            overlay = self._images.get(key) if on else None
            self._show(row, overlay)
            if on and overlay is None:
                self.jobs.request(key, self._model, row.path, self.label(), THUMB_SIZE)

    def shutdown(self, msecs: int = 30_000) -> None:
        self.jobs.shutdown(msecs)
        self.viewer.shutdown(msecs)

    def _show(self, row: ReviewRow, overlay: QPixmap | None) -> None:
        thumbnail = row.thumbnail
        thumbnail.set_overlay(overlay, 1.0)  # the overlay is the image with its heatmap
        thumbnail.setToolTip(ENLARGE_TIP if overlay is not None else "")
        thumbnail.installEventFilter(self)  # once: Qt keeps one entry per filter

    @Slot(object, QImage)
    def _on_ready(self, key: tuple[str, str, str], image: QImage) -> None:
        self._images[key] = QPixmap.fromImage(image)
        if key[0] == self._model and key[2] == self.label() and self.check.isChecked():
            for row in self._rows():
                if row.path == key[1]:
                    self._show(row, self._images[key])

    @Slot(object, str, bool)
    def _on_failed(self, key: tuple[str, str, str], message: str, model_problem: bool) -> None:
        if key[0] != self._model:
            return
        if model_problem:  # no image will get a map from this model: say why once
            self.jobs.clear()
            self.check.setChecked(False)
        self.note.setText(f"No saliency map: {html.escape(message)}")
