"""One predicted image in the Predict panel: thumbnail, name, and every label's
confidence as a number and a bar, sorted, marked above or below its threshold."""

from __future__ import annotations

import html
import logging
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
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

logger = logging.getLogger(__name__)

THUMBNAIL_SIZE = 96
CARD_MIN_WIDTH = 360  # thumbnail and a table whose four columns show in full


class PredictionCard(QFrame):
    """One image: thumbnail, file name, and its labels sorted by confidence."""

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
        if not thumbnail.isNull():
            self.thumbnail.setPixmap(QPixmap.fromImage(thumbnail))
        else:
            self.thumbnail.setText("no preview")
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

        text = QVBoxLayout()
        text.setSpacing(2)
        text.addWidget(self.title)
        text.addWidget(self.predicted_label)
        text.addWidget(self.table)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.thumbnail, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(text, 1)
        self.set_thresholds(thresholds)

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
