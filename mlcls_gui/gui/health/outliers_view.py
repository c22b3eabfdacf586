"""The outlier ranking of a health report (most unusual first), each image with an
"exclude" box; Apply and Undo buttons under it (the tab runs them)."""

from __future__ import annotations

import logging

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from mlcls_gui.core.health.report import HealthReport, Outlier
from mlcls_gui.gui.health.chunked_list import ChunkedList
from mlcls_gui.gui.health.health_rows import HEALTH_LIST_STYLE, OutlierRow
from mlcls_gui.gui.widgets.thumbnails import ThumbnailLoader

logger = logging.getLogger(__name__)


class OutliersView(QWidget):
    open_image_requested = Signal(str)
    checked_changed = Signal(int)  # how many images are marked "exclude"

    def __init__(self, thumbs: ThumbnailLoader, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._thumbs = thumbs
        self._report: HealthReport | None = None
        self._checked: set[str] = set()  # absolute paths marked "exclude" (kept across pages)
        self._hidden: set[str] = set()  # excluded since the check: no longer in the data set
        self._ranks: dict[int, int] = {}
        self.flagged_only = QCheckBox("Only images Datalab flags as outliers")
        self.flagged_only.toggled.connect(self._refill)
        self.legend = QLabel("Most unusual first (lowest Datalab outlier score). Mark images to take "
                             "out of the data set; they are moved, never deleted.")
        self.legend.setWordWrap(True)
        self.list = ChunkedList(self._make_row, "Check the data health to rank its outliers.", HEALTH_LIST_STYLE)
        self.list.rows_built.connect(self._load_thumbnails)
        thumbs.loaded.connect(self._load_thumbnails)
        self.apply_button = QPushButton("Apply: exclude 0 images")
        self.apply_button.setObjectName("applyExclusions")
        self.undo_button = QPushButton("Undo last apply")
        top = QHBoxLayout()
        top.addWidget(self.flagged_only)
        top.addStretch(1)
        bottom = QHBoxLayout()
        bottom.addStretch(1)
        bottom.addWidget(self.undo_button)
        bottom.addWidget(self.apply_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.legend)
        layout.addWidget(self.list, 1)
        layout.addLayout(bottom)

    def set_report(self, report: HealthReport | None) -> None:
        self._report = report
        self._checked.clear()
        self._hidden.clear()
        self._ranks = {o.image: rank for rank, o in enumerate(report.outliers, 1)} if report else {}
        self._refill()
        self.checked_changed.emit(0)

    def checked_paths(self) -> list[str]:
        return sorted(self._checked)

    def set_checked(self, path: str, checked: bool) -> None:
        for row in self.rows():
            if row.path == path:
                row.exclude_box.setChecked(checked)  # its signal updates the set
                return
        self._on_exclude_toggled(path, checked)

    def hide_paths(self, paths: set[str]) -> None:
        """These images left the data set (excluded): no more rows for them."""
        self._hidden |= paths
        self._checked -= paths
        self._refill()
        self.checked_changed.emit(len(self._checked))

    def show_paths(self, paths: set[str]) -> None:
        """These images are back (an undo)."""
        if self._hidden & paths:
            self._hidden -= paths
            self._refill()

    def rows(self) -> list[OutlierRow]:
        return self.list.rows()  # type: ignore[return-value]

    @Slot()
    def _refill(self) -> None:
        report = self._report
        items: list[Outlier] = []
        if report is not None:
            items = list(report.outliers)
            if self._hidden:
                items = [o for o in items if report.absolute_path(o.image) not in self._hidden]
            if self.flagged_only.isChecked():
                items = [o for o in items if o.flagged]
        self.list.set_items(items, "Check the data health to rank its outliers." if report is None
                            else "No image matches the filter.")

    def _make_row(self, outlier: Outlier) -> OutlierRow:
        assert self._report is not None
        path = self._report.absolute_path(outlier.image)
        row = OutlierRow(self._ranks.get(outlier.image, 0), outlier, self._report, path in self._checked)
        row.exclude_toggled.connect(self._on_exclude_toggled)
        row.tile.open_requested.connect(self.open_image_requested)
        return row

    @Slot(str, bool)
    def _on_exclude_toggled(self, path: str, checked: bool) -> None:
        if checked:
            self._checked.add(path)
        else:
            self._checked.discard(path)
        self.checked_changed.emit(len(self._checked))

    @Slot()
    def _load_thumbnails(self) -> None:
        missing = []
        for row in self.rows():
            if row.tile.has_image():
                continue
            image = self._thumbs.get(row.path)
            if image is None:
                missing.append(row.path)
            else:
                row.tile.set_image(image)
        self._thumbs.request(missing)
