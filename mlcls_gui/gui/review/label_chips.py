"""Widgets of the Review tab: a thumbnail that takes an overlay, label chips, one row per image.

A chip stands for one label of the data set. Filled = the image will have
the label; "•" = the label it has now (given); a green border and "★" = the
model suggests it. Clicking a chip toggles the label.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QMouseEvent, QPainter, QPixmap
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from mlcls_gui.gui.widgets.thumbnails import ThumbnailLoader

THUMB_SIZE = 72
__all__ = ["LabelChip", "OverlayThumbnail", "ReviewRow", "ThumbnailLoader"]  # the loader lives in widgets
# One style sheet for the whole list (set on its container), chosen by properties
# and the checked state: a sheet per chip and per row was parsed for each widget
# and cascaded to every child, ~2 ms a row (a page of 100 rows froze the tab 0.3 s).
REVIEW_LIST_STYLE = """
#reviewRow { border: 1px solid #e0e0e0; border-radius: 4px; }
#reviewRow[current="true"] { border: 2px solid #1565c0; }
LabelChip { border: 1px solid #9e9e9e; border-radius: 10px; padding: 2px 8px;
  background: white; color: #212121; }
LabelChip[suggested="true"] { border: 2px solid #2e7d32; }
LabelChip:checked { background: #1565c0; color: white; }
"""


class OverlayThumbnail(QLabel):
    """An image thumbnail; ``set_overlay`` lays a (half-transparent) picture over it,
    e.g. a saliency map, and ``set_overlay(None)`` takes it away."""

    def __init__(self, size: int = THUMB_SIZE, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._size = size
        self._base: QPixmap | None = None
        self._overlay: QPixmap | None = None
        self.setFixedSize(size, size)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setStyleSheet("background: #e6e6e6;")

    def set_image(self, image: QImage | QPixmap | None) -> None:
        if isinstance(image, QImage):
            image = QPixmap.fromImage(image) if not image.isNull() else None
        self._base = image
        self._redraw()

    def set_overlay(self, overlay: QPixmap | None, opacity: float = 0.5) -> None:
        self._overlay = overlay
        self._opacity = opacity
        self._redraw()

    def has_image(self) -> bool:
        return self._base is not None

    def _redraw(self) -> None:
        if self._base is None:
            self.clear()
            return
        shown = self._base.scaled(self._size, self._size, Qt.AspectRatioMode.KeepAspectRatio,
                                  Qt.TransformationMode.SmoothTransformation)
        if self._overlay is not None and not self._overlay.isNull():
            painter = QPainter(shown)
            painter.setOpacity(self._opacity)
            painter.drawPixmap(shown.rect(), self._overlay)
            painter.end()
        self.setPixmap(shown)


class LabelChip(QToolButton):
    """One label of one image: checked = the image will have it."""

    def __init__(self, number: int, label: str, probability: float, *, given: bool, suggested: bool,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = label
        self.given = given
        self.suggested = suggested
        self.setCheckable(True)
        self.setChecked(given)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys go to the list, not to a chip
        key = f"{number} " if number <= 9 else ""
        known = not math.isnan(probability)  # nan: the model has never seen this label
        shown = f"{probability:.2f}" if known else "—"
        self.setText(f"{key}{'• ' if given else ''}{label} {shown}{' ★' if suggested else ''}")
        self.setToolTip(
            (f"{label}: out-of-sample probability {probability:.3f}\n" if known else
             f"{label}: the model does not know this label (no suggestion)\n")
            + f"given: {'yes' if given else 'no'}; suggested: {'yes' if suggested else 'no'}\n"
            + (f"Click or press {number} to toggle it." if number <= 9 else "Click to toggle it."))
        self.setProperty("suggested", suggested)  # REVIEW_LIST_STYLE draws it (and :checked)


class ReviewRow(QFrame):
    """One ranked image: thumbnail, rank/score/name, given → suggested, and a chip per label."""

    labels_changed = Signal(str, object)  # image path, the new label tuple
    activated = Signal(str)  # clicked: make it the current row

    def __init__(self, rank: int, item, labels: Sequence[str], new_labels: Sequence[str],
                 parent: QWidget | None = None, *, title_html: str = "", none_allowed: bool = False) -> None:
        super().__init__(parent)
        self.item = item
        self.none_allowed = none_allowed  # the labelling queue: "none of these labels" is an answer
        self.accepted = False  # the labelling queue: the user confirmed these labels
        self.setObjectName("reviewRow")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.thumbnail = OverlayThumbnail()
        self.chips: list[LabelChip] = []
        chips_row = QHBoxLayout()
        chips_row.setSpacing(4)
        for number, label in enumerate(labels, 1):
            chip = LabelChip(number, label, item.probabilities.get(label, 0.0),
                             given=label in item.given, suggested=label in item.suggested)
            chip.setChecked(label in new_labels)
            chip.toggled.connect(self._on_chip_toggled)
            self.chips.append(chip)
            chips_row.addWidget(chip)
        chips_row.addStretch(1)
        flag = " · <span style='color:#c62828'>flagged by cleanlab</span>" if item.flagged else ""
        self.title = QLabel(title_html or (
            f"<b>#{rank}</b> · score {item.score:.3f}{flag} · {html.escape(Path(item.path).name)} "
            f"<span style='color:#757575'>({html.escape(item.split)})</span><br>"
            f"given <b>{html.escape('+'.join(item.given))}</b> → suggested "
            f"<b>{html.escape('+'.join(item.suggested))}</b>"))
        self.title.setToolTip(item.path)
        self.status = QLabel()
        text = QVBoxLayout()
        text.addWidget(self.title)
        text.addLayout(chips_row)
        text.addWidget(self.status)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.addWidget(self.thumbnail)
        layout.addLayout(text, 1)
        self.set_current(False)
        self._show_status()

    @property
    def path(self) -> str:
        return self.item.path

    def new_labels(self) -> tuple[str, ...]:
        return tuple(chip.label for chip in self.chips if chip.isChecked())

    def is_changed(self) -> bool:
        return set(self.new_labels()) != set(self.item.given)

    def toggle(self, number: int) -> None:
        """Toggle the label with key ``number`` (1-based)."""
        if 1 <= number <= len(self.chips):
            self.chips[number - 1].toggle()

    def set_labels(self, labels: Sequence[str]) -> None:
        for chip in self.chips:
            chip.blockSignals(True)
            chip.setChecked(chip.label in labels)  # :checked restyles it
            chip.blockSignals(False)
        self._on_chip_toggled()

    def set_current(self, current: bool) -> None:
        if self.property("current") == current:
            return
        self.setProperty("current", current)  # REVIEW_LIST_STYLE draws the border
        self.style().unpolish(self)
        self.style().polish(self)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.activated.emit(self.path)
        super().mousePressEvent(event)

    def _on_chip_toggled(self, *_: object) -> None:
        self._show_status()
        self.activated.emit(self.path)
        self.labels_changed.emit(self.path, self.new_labels())

    def set_accepted(self, accepted: bool) -> None:
        self.accepted = accepted
        self._show_status()

    def _show_status(self) -> None:
        new = self.new_labels()
        if self.none_allowed:
            what = html.escape("+".join(new)) if new else "none of the labels"
            self.status.setText(f"<span style='color:#2e7d32'>Accepted: <b>{what}</b>, moved on Apply.</span>"
                                if self.accepted else
                                f"<span style='color:#757575'>Not yet accepted (Enter accepts <b>{what}</b>; "
                                "0: none of the labels).</span>")
        elif not new:
            self.status.setText("<span style='color:#c62828'>No label chosen: every image needs one.</span>")
        elif self.is_changed():
            self.status.setText(f"<span style='color:#1565c0'>Will be labelled <b>{html.escape('+'.join(new))}</b>"
                                " on Apply.</span>")
        else:
            self.status.setText("<span style='color:#757575'>Unchanged.</span>")
