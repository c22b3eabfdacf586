"""Rows of the Health tab: an image tile (thumbnail + split and labels), a group of
near copies, an outlier with its "exclude" box.

Every row takes its look from HEALTH_LIST_STYLE, set once on the list's container."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QMouseEvent, QPixmap
from PySide6.QtWidgets import QCheckBox, QFrame, QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from mlcls_gui.core.health.report import DuplicateGroup, HealthReport, Outlier

THUMB_SIZE = 72
TILES_PER_LINE = 6  # a group's tiles wrap: the row never needs more width than 1024 px windows have
MAX_TILES = 12  # a bigger group says "+N more"
LEAK_COLOUR = "#c62828"
CONFLICT_COLOUR = "#e65100"
HEALTH_LIST_STYLE = f"""
#healthRow {{ border: 1px solid #e0e0e0; border-radius: 4px; }}
#imageTile {{ border: 1px solid transparent; }}
#imageTile:hover {{ border: 1px solid #1565c0; }}
QLabel[chip="leak"] {{ background: {LEAK_COLOUR}; color: white; border-radius: 8px; padding: 1px 8px; }}
QLabel[chip="conflict"] {{ background: {CONFLICT_COLOUR}; color: white; border-radius: 8px; padding: 1px 8px; }}
QLabel[chip="flagged"] {{ background: {LEAK_COLOUR}; color: white; border-radius: 8px; padding: 1px 8px; }}
"""


def labels_text(labels: Sequence[str]) -> str:
    return "+".join(labels) or "(no label)"


def chip(text: str, kind: str) -> QLabel:
    label = QLabel(text)
    label.setProperty("chip", kind)
    return label


class ImageTile(QFrame):
    """One image: its thumbnail, captioned with split and labels; a double-click opens it."""

    open_requested = Signal(str)  # the image's absolute path

    def __init__(self, path: str, relative: str, split: str, labels: Sequence[str],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path = path
        self.setObjectName("imageTile")
        self.thumbnail = QLabel()
        self.thumbnail.setFixedSize(THUMB_SIZE, THUMB_SIZE)
        self.thumbnail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.thumbnail.setStyleSheet("background: #e6e6e6;")
        self.caption = QLabel(f"{html.escape(split)}<br><b>{html.escape(labels_text(labels))}</b>")
        self.caption.setFixedWidth(THUMB_SIZE + 24)
        self.caption.setWordWrap(True)
        self.caption.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        self.setToolTip(f"{relative}\n{split} · {labels_text(labels)}\nDouble-click: try it in Try the model.")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(2)
        layout.addWidget(self.thumbnail, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addWidget(self.caption)
        self._has_image = False

    def set_image(self, image: QImage) -> None:
        self._has_image = True
        if not image.isNull():
            self.thumbnail.setPixmap(QPixmap.fromImage(image))
        else:
            self.thumbnail.setText("unreadable")

    def has_image(self) -> bool:
        return self._has_image

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        self.open_requested.emit(self.path)
        event.accept()


def tile_for(report: HealthReport, index: int) -> ImageTile:
    image = report.images[index]
    return ImageTile(report.absolute_path(index), image.path, image.split, image.labels)


class GroupRow(QFrame):
    """One group of near copies: its flags, sureness and members."""

    def __init__(self, number: int, group: DuplicateGroup, report: HealthReport,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.group = group
        self.setObjectName("healthRow")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        header = QHBoxLayout()
        header.addWidget(QLabel(f"<b>Group {number}</b> · {len(group.images)} images · "
                                f"sureness {group.sureness:.2f}"))
        if group.crosses_splits:
            header.addWidget(chip("crosses the split", "leak"))
        if group.labels_differ:
            header.addWidget(chip("labels differ", "conflict"))
        header.addStretch(1)
        grid = QGridLayout()
        grid.setSpacing(4)
        self.tiles: list[ImageTile] = []
        for place, index in enumerate(group.images[:MAX_TILES]):
            tile = tile_for(report, index)
            self.tiles.append(tile)
            grid.addWidget(tile, place // TILES_PER_LINE, place % TILES_PER_LINE)
        grid.setColumnStretch(TILES_PER_LINE, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.addLayout(header)
        layout.addLayout(grid)
        hidden = group.images[MAX_TILES:]
        if hidden:
            more = QLabel(f"+{len(hidden)} more")
            more.setToolTip("\n".join(report.images[index].path for index in hidden))
            layout.addWidget(more)


class OutlierRow(QFrame):
    """One ranked image: rank, score, Datalab's flag, split and labels, and "exclude"."""

    exclude_toggled = Signal(str, bool)  # absolute path, checked

    def __init__(self, rank: int, outlier: Outlier, report: HealthReport, checked: bool,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("healthRow")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        image = report.images[outlier.image]
        self.tile = tile_for(report, outlier.image)
        self.path = self.tile.path
        self.exclude_box = QCheckBox("exclude")
        self.exclude_box.setChecked(checked)
        self.exclude_box.toggled.connect(lambda on: self.exclude_toggled.emit(self.path, on))
        title = QLabel(f"<b>#{rank}</b> · score {outlier.score:.3f} · {html.escape(Path(image.path).name)}"
                       f" <span style='color:#757575'>({html.escape(image.split)})</span><br>"
                       f"labels <b>{html.escape(labels_text(image.labels))}</b>")
        title.setToolTip(image.path)
        text = QVBoxLayout()
        line = QHBoxLayout()
        line.addWidget(title)
        if outlier.flagged:
            line.addWidget(chip("outlier (Datalab)", "flagged"), 0, Qt.AlignmentFlag.AlignTop)
        line.addStretch(1)
        text.addLayout(line)
        text.addWidget(self.exclude_box)
        text.addStretch(1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.addWidget(self.tile)
        layout.addLayout(text, 1)
        self.flagged = outlier.flagged
