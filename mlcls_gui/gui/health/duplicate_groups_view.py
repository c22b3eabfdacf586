"""The near-duplicate groups of a health report, one row each, with filters."""

from __future__ import annotations

import logging
from typing import Iterable

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from mlcls_gui.core.health.report import DuplicateGroup, HealthReport
from mlcls_gui.gui.health.chunked_list import ChunkedList
from mlcls_gui.gui.health.health_rows import HEALTH_LIST_STYLE, GroupRow, ImageTile
from mlcls_gui.gui.widgets.thumbnails import ThumbnailLoader

logger = logging.getLogger(__name__)


class DuplicateGroupsView(QWidget):
    open_image_requested = Signal(str)  # a member's absolute path (double-clicked)

    def __init__(self, thumbs: ThumbnailLoader, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._thumbs = thumbs
        self._report: HealthReport | None = None
        self._numbers: dict[int, int] = {}  # id(group) -> its number in the report
        self.crossing_only = QCheckBox("Only groups that cross the split")
        self.differing_only = QCheckBox("Only groups whose labels differ")
        self.crossing_only.toggled.connect(self._refill)
        self.differing_only.toggled.connect(self._refill)
        self.count_label = QLabel()
        self.list = ChunkedList(self._make_row, "Check the data health to see its near-duplicates.",
                                HEALTH_LIST_STYLE)
        self.list.rows_built.connect(self._load_thumbnails)
        thumbs.loaded.connect(self._load_thumbnails)
        filters = QHBoxLayout()
        filters.addWidget(self.crossing_only)
        filters.addWidget(self.differing_only)
        filters.addStretch(1)
        filters.addWidget(self.count_label)
        layout = QVBoxLayout(self)
        layout.addLayout(filters)
        layout.addWidget(self.list, 1)

    def set_report(self, report: HealthReport | None) -> None:
        self._report = report
        self._numbers = {id(group): number for number, group in enumerate(report.groups, 1)} if report else {}
        self._refill()

    def shown_groups(self) -> list[DuplicateGroup]:
        return self.list.items()

    def rows(self) -> list[GroupRow]:
        return self.list.rows()  # type: ignore[return-value]

    def tiles(self) -> list[ImageTile]:
        return [tile for row in self.rows() for tile in row.tiles]

    @Slot()
    def _refill(self) -> None:
        report = self._report
        groups: Iterable[DuplicateGroup] = report.groups if report else []
        if self.crossing_only.isChecked():
            groups = [g for g in groups if g.crosses_splits]
        if self.differing_only.isChecked():
            groups = [g for g in groups if g.labels_differ]
        # Leakage first, then label conflicts; otherwise the report's order (surest first).
        groups = sorted(groups, key=lambda g: (not g.crosses_splits, not g.labels_differ))
        if report is None:
            empty, count = "Check the data health to see its near-duplicates.", ""
        else:
            empty = "No near-duplicates found." if not report.groups else "No group matches the filter."
            count = f"{len(groups)} of {len(report.groups)} group(s)"
        self.count_label.setText(count)
        self.list.set_items(groups, empty)

    def _make_row(self, group: DuplicateGroup) -> GroupRow:
        assert self._report is not None
        row = GroupRow(self._numbers.get(id(group), 0), group, self._report)
        for tile in row.tiles:
            tile.open_requested.connect(self.open_image_requested)
        return row

    @Slot()
    def _load_thumbnails(self) -> None:
        missing = []
        for tile in self.tiles():
            if tile.has_image():
                continue
            image = self._thumbs.get(tile.path)
            if image is None:
                missing.append(tile.path)
            else:
                tile.set_image(image)
        self._thumbs.request(missing)
