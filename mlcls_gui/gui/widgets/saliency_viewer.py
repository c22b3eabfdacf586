"""A saliency overlay opened large, with the colour bar that says what its colours mean.

A thumbnail's overlay is 96 px or less; a click on it (a Predict card, an
Evaluate mistake, a Review row) opens this dialog, which computes the same map
(``saliency_view.overlay_image``, as ``mlcls-gui explain`` does) at VIEW_SIZE off
the GUI thread and shows the Turbo colour bar beside it, from no evidence (near
black, then blue) to the strongest (red). The model is a loaded Predictor or a
model file path (loaded on the worker thread once and kept, as ``SaliencyJobs``
does).
"""

from __future__ import annotations

import html
import logging
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from mlcls_gui.gui.widgets.saliency_view import ModelCache, overlay_image
from mlcls_gui.gui.widgets.task_runner import TaskRunner

logger = logging.getLogger(__name__)

VIEW_SIZE = 560  # px, the longer side of the enlarged overlay
ENLARGE_TIP = "Click to enlarge the saliency map, with its colour scale."
BAR_SIZE = (18, 256)  # width, height of the colour bar


def colour_bar() -> QImage:
    """The Turbo colours of ``blend_heatmap`` from 1 (top, strongest) to 0 (bottom, none)."""
    from mlcls_gui.core.inference.heatmap import turbo  # no torch: a dialog may be made at launch

    width, height = BAR_SIZE
    values = np.linspace(1.0, 0.0, height, dtype=np.float32)
    rows = (turbo(values) * 255.0 + 0.5).astype(np.uint8)  # (height, 3)
    pixels = np.ascontiguousarray(np.repeat(rows[:, None, :], width, axis=1))
    return QImage(pixels.tobytes(), width, height, 3 * width, QImage.Format.Format_RGB888).copy()


class SaliencyViewer(QDialog):
    """One dialog, reused: the saliency map last asked for, at VIEW_SIZE."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image = QLabel()
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image.setMinimumSize(VIEW_SIZE // 2, VIEW_SIZE // 2)
        bar = QLabel()
        bar.setPixmap(QPixmap.fromImage(colour_bar()))
        bar.setToolTip("Turbo colours: near black where the model found no evidence for the label, "
                       "through blue, cyan, green and yellow, to red where it found the strongest.")
        scale = QVBoxLayout()  # the words at the bar's ends, however tall the map beside it
        scale.addStretch(1)
        scale.addWidget(QLabel("strongest"), 0, Qt.AlignmentFlag.AlignHCenter)
        scale.addWidget(bar, 0, Qt.AlignmentFlag.AlignHCenter)
        scale.addWidget(QLabel("none"), 0, Qt.AlignmentFlag.AlignHCenter)
        scale.addStretch(1)
        row = QHBoxLayout()
        row.addWidget(self.image, 1)
        row.addLayout(scale)
        self.note = QLabel()
        self.note.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(row, 1)
        layout.addWidget(self.note)
        layout.addWidget(buttons)
        self._runner = TaskRunner("saliency-view", self)
        self._runner.done.connect(self._on_task_done)
        self._runner.failed.connect(self._on_task_failed)
        self._models = ModelCache()
        self._shown: tuple[str, str] = ("", "")

    def show_map(self, model: Any, path: str, label: str) -> None:
        """Compute ``label``'s map of the image at ``path`` with ``model`` (a Predictor
        or a model file path; off the GUI thread) and show it."""
        self._shown = (str(path), label)
        self.setWindowTitle(f"Saliency of “{label}” — {Path(path).name}")
        self.image.setPixmap(QPixmap())
        self.image.setText("Computing the saliency map…")
        self.note.setText(f"Grad-CAM: where the model found its evidence for “{html.escape(label)}”.")
        models = self._models
        self._runner.replace(lambda _job: overlay_image(models.get(model), str(path), label, VIEW_SIZE))
        self.show()
        self.raise_()

    def shown(self) -> tuple[str, str]:
        """The image path and label last asked for (("", "") before any)."""
        return self._shown

    def is_busy(self) -> bool:
        return self._runner.is_busy()

    def shutdown(self, msecs: int = 30_000) -> None:
        self._runner.shutdown(msecs)

    @Slot(object)
    def _on_task_done(self, image: QImage) -> None:
        self.image.setPixmap(QPixmap.fromImage(image))
        # Opened around "Computing…": grow to show the whole map, not its middle.
        self.layout().activate()  # now, not at the queued layout request: the hints are cached till then
        self.resize(self.size().expandedTo(self.sizeHint()))

    @Slot(str, str)
    def _on_task_failed(self, summary: str, details: str) -> None:
        logger.debug("Saliency view failed: %s", details)
        self.image.setText(f"No saliency map: {summary}")
        self.image.setWordWrap(True)
