"""One predicted image in the Predict panel: thumbnail, name, and every label's
confidence as a number and a bar, sorted, marked above or below its threshold.

"Saliency for [label]" lays a Grad-CAM map of the chosen label over the
thumbnail; the card asks for it (``saliency_requested``) and the panel
computes it off the GUI thread and hands it back (``show_overlay``)."""

from __future__ import annotations

import html
import logging
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Qt, Signal, Slot
from PySide6.QtGui import QColor, QImage, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from mlcls_gui.gui.widgets.saliency_view import SALIENCY_TOOLTIP
from mlcls_gui.gui.widgets.wheel_guard import guard_wheel

logger = logging.getLogger(__name__)

THUMBNAIL_SIZE = 96
CARD_MIN_WIDTH = 360  # thumbnail and a table whose four columns show in full


class PredictionCard(QFrame):
    """One image: thumbnail, file name, and its labels sorted by confidence."""

    saliency_requested = Signal(str, str)  # image path, label: compute its overlay
    enlarge_requested = Signal(str, str)  # image path, label: its overlay, clicked, to be shown large

    def __init__(self, path: str, probabilities: dict[str, float], thumbnail: QImage,
                 thresholds: dict[str, float], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path = path
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setObjectName("predictionCard")
        self.rows = sorted(probabilities.items(), key=lambda kv: (-kv[1], kv[0]))

        self.thumbnail = QLabel()
        self.thumbnail.setFixedSize(THUMBNAIL_SIZE + 4, THUMBNAIL_SIZE + 4)
        self.thumbnail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.thumbnail.setStyleSheet("background: #eee; border: 1px solid #ccc;")
        self.thumbnail.installEventFilter(self)  # a click on an overlay opens it large
        self._plain = QPixmap.fromImage(thumbnail) if not thumbnail.isNull() else QPixmap()
        self._overlays: dict[str, QPixmap] = {}
        self._shown_overlay = ""  # the label whose overlay the thumbnail shows; "" plain
        self._show_plain()
        self.title = QLabel(f"<b>{html.escape(Path(path).name)}</b>")
        self.title.setToolTip(path)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.predicted_label = QLabel()
        self.predicted_label.setWordWrap(True)

        self.table = QTableWidget(len(self.rows), 4)
        self.table.setHorizontalHeaderLabels(["Label", "Confidence", "", "Decision"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.ResizeToContents)
        self.bars: list[QProgressBar] = []
        for row, (label, probability) in enumerate(self.rows):
            self.table.setItem(row, 0, QTableWidgetItem(label))
            number = QTableWidgetItem(f"{probability:.3f}")
            number.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(row, 1, number)
            bar = QProgressBar()
            bar.setRange(0, 1000)
            bar.setValue(int(round(probability * 1000)))
            bar.setTextVisible(False)
            bar.setMaximumHeight(14)
            self.table.setCellWidget(row, 2, bar)
            self.bars.append(bar)
            self.table.setItem(row, 3, QTableWidgetItem(""))
        self.table.resizeRowsToContents()
        shown = min(len(self.rows), 8)
        row_height = self.table.rowHeight(0) if self.rows else 22
        self.table.setFixedHeight(header.sizeHint().height() + shown * row_height + 4)
        self.table.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

        # Under the thumbnail: the overlay toggle and its label (the most confident first).
        self.saliency_check = QCheckBox("Saliency")
        self.saliency_check.setToolTip(SALIENCY_TOOLTIP)
        self.saliency_check.toggled.connect(self._on_saliency_check_toggled)
        self.saliency_combo = QComboBox()
        self.saliency_combo.addItems([label for label, _ in self.rows])
        self.saliency_combo.setToolTip("The label whose saliency map is laid over the thumbnail.")
        self.saliency_combo.setMaximumWidth(THUMBNAIL_SIZE + 4)
        self.saliency_combo.currentTextChanged.connect(self._on_saliency_combo_current_text_changed)
        guard_wheel(self.saliency_combo)
        self.saliency_status = QLabel()
        self.saliency_status.setWordWrap(True)
        self.saliency_status.setMaximumWidth(THUMBNAIL_SIZE + 4)
        self.saliency_status.setStyleSheet("color: #777; font-size: 8pt;")
        self.saliency_status.hide()
        picture = QVBoxLayout()
        picture.setSpacing(2)
        picture.addWidget(self.thumbnail)
        picture.addWidget(self.saliency_check)
        picture.addWidget(self.saliency_combo)
        picture.addWidget(self.saliency_status)
        picture.addStretch(1)

        text = QVBoxLayout()
        text.setSpacing(2)
        text.addWidget(self.title)
        text.addWidget(self.predicted_label)
        text.addWidget(self.table)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(picture)
        layout.addLayout(text, 1)
        self.set_thresholds(thresholds)

    # ------------------------------------------------------------ saliency
    def saliency_label(self) -> str:
        """The label chosen for the overlay."""
        return self.saliency_combo.currentText()

    def set_saliency(self, on: bool, label: str | None = None) -> None:
        """Show (or hide) the overlay of ``label`` (default: the chosen one), as the user would."""
        if label is not None:
            self.saliency_combo.setCurrentText(label)
        self.saliency_check.setChecked(on)

    def set_saliency_unavailable(self, reason: str) -> None:
        """Saliency cannot be computed with this model (``reason``; "" when it can)."""
        if reason:
            self.saliency_check.setChecked(False)
        self.saliency_check.setEnabled(not reason)
        self.saliency_combo.setEnabled(not reason)
        self.saliency_check.setToolTip(reason or SALIENCY_TOOLTIP)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if (watched is self.thumbnail and event.type() == QEvent.Type.MouseButtonRelease
                and self._shown_overlay):
            self.enlarge_requested.emit(self.path, self._shown_overlay)
            return True
        return super().eventFilter(watched, event)

    def overlay_label(self) -> str:
        """The label whose overlay the thumbnail shows now; "" for the plain thumbnail."""
        return self._shown_overlay

    def show_overlay(self, label: str, image: QImage) -> None:
        """The overlay of ``label`` has been computed: keep it, and show it when wanted."""
        self._overlays[label] = QPixmap.fromImage(image)
        if self.saliency_check.isChecked() and label == self.saliency_label():
            self._update_thumbnail()

    def show_saliency_error(self, label: str, message: str) -> None:
        """The overlay of ``label`` could not be made: say why, back to the plain thumbnail."""
        if label != self.saliency_label():
            return
        self.saliency_status.setText(f"No saliency map: {message}")
        self.saliency_status.setToolTip(message)
        self.saliency_status.show()
        self.saliency_check.setChecked(False)

    def _update_thumbnail(self) -> None:
        label = self.saliency_label()
        if not self.saliency_check.isChecked():
            self._show_plain()
            return
        if label in self._overlays:
            self.thumbnail.setPixmap(self._overlays[label])
            self._shown_overlay = label
            self.saliency_status.hide()
            return
        self._show_plain()
        self.saliency_status.setText("Computing…")
        self.saliency_status.setToolTip("")
        self.saliency_status.show()
        self.saliency_requested.emit(self.path, label)

    def _show_plain(self) -> None:
        self._shown_overlay = ""
        if self._plain.isNull():
            self.thumbnail.setText("no preview")
        else:
            self.thumbnail.setPixmap(self._plain)

    @Slot(bool)
    def _on_saliency_check_toggled(self, checked: bool) -> None:
        # On: a new try, the last error goes; off: an error stays readable, "Computing…" goes.
        if checked or not self.saliency_status.text().startswith("No saliency"):
            self.saliency_status.hide()
        self._update_thumbnail()

    @Slot(str)
    def _on_saliency_combo_current_text_changed(self, label: str) -> None:
        if self.saliency_check.isChecked():
            self._update_thumbnail()

    # ------------------------------------------------------------- labels
    def labels_in_order(self) -> list[str]:
        return [self.table.item(row, 0).text() for row in range(self.table.rowCount())]

    def decisions(self) -> dict[str, bool]:
        return {label: p >= self._thresholds[label] for label, p in self.rows}

    def set_thresholds(self, thresholds: dict[str, float]) -> None:
        """Mark each label above / below its threshold (one value or per label)."""
        self._thresholds = {label: thresholds.get(label, 0.5) for label, _ in self.rows}
        above_brush = QColor("#e3f4e6")
        plain = QColor(Qt.GlobalColor.white)
        predicted = []
        for row, (label, probability) in enumerate(self.rows):
            threshold = self._thresholds[label]
            above = probability >= threshold
            decision = self.table.item(row, 3)
            decision.setText(f"✔ ≥ {threshold:.2f}" if above else f"< {threshold:.2f}")
            decision.setToolTip(f"{label}: confidence {probability:.3f}, threshold {threshold:.3f}")
            decision.setForeground(QColor("#1b5e20") if above else QColor("#777777"))
            for column in (0, 1, 3):
                item = self.table.item(row, column)
                item.setBackground(above_brush if above else plain)
                font = item.font()
                font.setBold(above)
                item.setFont(font)
            self.bars[row].setStyleSheet(
                "QProgressBar::chunk { background: %s; }" % ("#2e7d32" if above else "#90a4ae"))
            if above:
                predicted.append(label)
        if predicted:
            self.predicted_label.setText(f"Predicted: <b>{html.escape(', '.join(predicted))}</b>")
        else:
            self.predicted_label.setText("No label reaches its threshold.")
