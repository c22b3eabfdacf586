"""A saliency overlay opened large, with the colour bar that says what its colours mean.

A thumbnail's overlay is 96 px; a click on it opens this dialog, which computes
the same map (``saliency_view.overlay_image``, as ``mlcls-gui explain`` does) at
VIEW_SIZE off the GUI thread and shows the Turbo colour bar beside it, from no
evidence (near black, then blue) to the strongest (red).
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

from mlcls_gui.gui.widgets.saliency_view import overlay_image
from mlcls_gui.gui.widgets.task_runner import TaskRunner

logger = logging.getLogger(__name__)

VIEW_SIZE = 560  # px, the longer side of the enlarged overlay
BAR_SIZE = (18, 256)  # width, height of the colour bar


def colour_bar() -> QImage:
    """The Turbo colours of ``blend_heatmap`` from 1 (top, strongest) to 0 (bottom, none)."""
    from mlcls_gui.core.inference.saliency import turbo  # torch is loaded by now: a model is open

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
        scale = QVBoxLayout()
        scale.addWidget(QLabel("strongest"))
        scale.addWidget(bar, 1, Qt.AlignmentFlag.AlignHCenter)
        scale.addWidget(QLabel("none"))
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

    def show_map(self, model: Any, path: str, label: str) -> None:
        """Compute ``label``'s map of the image at ``path`` with ``model`` (off the GUI thread) and show it."""
        self.setWindowTitle(f"Saliency of “{label}” — {Path(path).name}")
        self.image.setPixmap(QPixmap())
        self.image.setText("Computing the saliency map…")
        self.note.setText(f"Grad-CAM: where the model found its evidence for “{html.escape(label)}”.")
        self._runner.replace(lambda _job: overlay_image(model, path, label, VIEW_SIZE))
        self.show()
        self.raise_()

    def is_busy(self) -> bool:
        return self._runner.is_busy()

    def shutdown(self, msecs: int = 30_000) -> None:
        self._runner.shutdown(msecs)

    @Slot(object)
    def _on_task_done(self, image: QImage) -> None:
        self.image.setPixmap(QPixmap.fromImage(image))

    @Slot(str, str)
    def _on_task_failed(self, summary: str, details: str) -> None:
        logger.debug("Saliency view failed: %s", details)
        self.image.setText(f"No saliency map: {summary}")
        self.image.setWordWrap(True)
