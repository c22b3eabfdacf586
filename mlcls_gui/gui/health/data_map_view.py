"""The map of a health report: one point per image (PCA or t-SNE of its features),
coloured by split or by one label; hover previews an image, a click opens it,
"Select" turns dragging into a box selection that can be sent to Review.

One ScatterPlotItem with arrays (pxMode): 20,000 points stay smooth; hover finds
the nearest point with numpy in screen pixels, no per-point Python objects."""

from __future__ import annotations

import html
import logging

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal, Slot
from PySide6.QtGui import QCursor, QPixmap
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QToolTip, QVBoxLayout, QWidget

from mlcls_gui.core.health.report import SPLITS, HealthReport
from mlcls_gui.gui.health.health_rows import THUMB_SIZE, labels_text
from mlcls_gui.gui.widgets.thumbnails import ThumbnailLoader

logger = logging.getLogger(__name__)

BY_SPLIT = "Split"
SPLIT_COLOURS = {"train": "#1f77b4", "val": "#ff7f0e", "test": "#2ca02c"}
HAS_COLOUR, HAS_NOT_COLOUR = "#d62728", "#b0b0b0"
POINT_SIZE = 6
HOVER_PX = 8  # how near (screen pixels) the pointer must be to a point


class SelectViewBox(pg.ViewBox):
    """A ViewBox whose left-button drag selects a box instead of panning, while ``selecting``."""

    box_selected = Signal(QRectF)  # in data coordinates

    def __init__(self) -> None:
        super().__init__()
        self.selecting = False

    def mouseDragEvent(self, ev, axis=None) -> None:  # noqa: N802 - pyqtgraph API
        if not self.selecting or ev.button() != Qt.MouseButton.LeftButton:
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        if ev.isFinish():
            self.rbScaleBox.hide()
            rect = QRectF(pg.Point(ev.buttonDownPos(ev.button())), pg.Point(ev.pos()))
            self.box_selected.emit(self.childGroup.mapRectFromParent(rect).normalized())
        else:
            self.updateScaleBox(ev.buttonDownPos(), ev.pos())


class DataMapView(QWidget):
    open_image_requested = Signal(str)
    review_requested = Signal(list)  # absolute paths of the selected images

    def __init__(self, thumbs: ThumbnailLoader, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._thumbs = thumbs
        self._report: HealthReport | None = None
        self._xy = np.zeros((0, 2))
        self._categories = np.zeros(0, dtype=int)  # each point's colour index
        self._selected = np.zeros(0, dtype=int)  # indexes of the box-selected images
        self._hovered = -1
        self.view_box = SelectViewBox()
        self.view_box.box_selected.connect(self.select_rect)
        self.plot = pg.PlotWidget(viewBox=self.view_box, background="w")
        self.plot.setMinimumSize(300, 220)
        plot_item = self.plot.getPlotItem()
        plot_item.setMenuEnabled(False)
        plot_item.hideAxis("left")
        plot_item.hideAxis("bottom")
        self.plot.hideButtons()
        self.legend = plot_item.addLegend(offset=(6, 6), labelTextSize="8pt")
        self.scatter = pg.ScatterPlotItem(size=POINT_SIZE, pen=None, symbol="o", pxMode=True)
        self.selection_marks = pg.ScatterPlotItem(size=POINT_SIZE + 5, pen=pg.mkPen("#111", width=1.2),
                                                  brush=None, symbol="o", pxMode=True)
        self.hover_mark = pg.ScatterPlotItem(size=POINT_SIZE + 8, pen=pg.mkPen("#1565c0", width=2),
                                             brush=None, symbol="o", pxMode=True)
        for item in (self.scatter, self.selection_marks, self.hover_mark):
            plot_item.addItem(item)
        self.plot.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.plot.scene().sigMouseClicked.connect(self._on_mouse_clicked)
        thumbs.loaded.connect(self._show_preview_image)

        self.colour_box = QComboBox()
        self.colour_box.setToolTip("Colour the points by split, or by whether they have one label.")
        self.colour_box.currentIndexChanged.connect(self._recolour)
        self.select_button = QPushButton("Select")
        self.select_button.setCheckable(True)
        self.select_button.setToolTip("On: drag a box to select images. Off: drag to pan, wheel to zoom.")
        self.select_button.toggled.connect(self._on_select_toggled)
        self.selected_label = QLabel("No images selected.")
        self.selected_label.setWordWrap(True)
        self.review_button = QPushButton("Send 0 to Review")
        self.review_button.clicked.connect(self._send_to_review)
        self.clear_button = QPushButton("Clear selection")
        self.clear_button.clicked.connect(lambda: self.set_selection([]))
        self.preview = QLabel()
        self.preview.setFixedSize(THUMB_SIZE, THUMB_SIZE)
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setStyleSheet("background: #e6e6e6;")
        self.preview_text = QLabel("Point at an image to see it; click it to try it in Try the model.")
        self.preview_text.setWordWrap(True)
        self.method_label = QLabel()
        self.method_label.setWordWrap(True)
        side = QVBoxLayout()
        side.addWidget(QLabel("Colour by:"))
        side.addWidget(self.colour_box)
        side.addWidget(self.select_button)
        side.addWidget(self.selected_label)
        side.addWidget(self.review_button)
        side.addWidget(self.clear_button)
        side.addSpacing(8)
        side.addWidget(self.preview)
        side.addWidget(self.preview_text)
        side.addStretch(1)
        side.addWidget(self.method_label)
        side_widget = QWidget()
        side_widget.setLayout(side)
        side_widget.setFixedWidth(200)
        layout = QHBoxLayout(self)
        layout.addWidget(self.plot, 1)
        layout.addWidget(side_widget)
        self._update_selection()

    # ------------------------------------------------------------ public
    def set_report(self, report: HealthReport | None) -> None:
        self._report = report
        self._xy = np.asarray(report.map_xy, dtype=float).reshape(-1, 2) if report else np.zeros((0, 2))
        self._selected = np.zeros(0, dtype=int)
        self._hovered = -1
        self.hover_mark.clear()
        self.colour_box.blockSignals(True)
        self.colour_box.clear()
        if report is not None:
            labels = sorted({label for image in report.images for label in image.labels})
            self.colour_box.addItem(BY_SPLIT)
            self.colour_box.addItems(labels)
        self.colour_box.blockSignals(False)
        self.method_label.setText(f"Map: {report.map_method.upper()} of the image features." if report else "")
        self._recolour()
        self._update_selection()
        if len(self._xy):
            self.plot.getPlotItem().autoRange()

    def point_count(self) -> int:
        return len(self.scatter.data)

    def categories(self) -> np.ndarray:
        """Each point's colour group: a split's index in SPLITS, or 1 = has the label, 0 = has not."""
        return self._categories.copy()

    def colour_by(self, name: str) -> None:
        self.colour_box.setCurrentText(name)

    def selected_paths(self) -> list[str]:
        report = self._report
        return [report.absolute_path(int(i)) for i in self._selected] if report else []

    @Slot(QRectF)
    def select_rect(self, rect: QRectF) -> None:
        """Select the images whose points lie in ``rect`` (data coordinates)."""
        if not len(self._xy):
            return
        x, y = self._xy[:, 0], self._xy[:, 1]
        inside = (x >= rect.left()) & (x <= rect.right()) & (y >= rect.top()) & (y <= rect.bottom())
        self.set_selection(np.flatnonzero(inside))

    def set_selection(self, indexes) -> None:
        self._selected = np.asarray(indexes, dtype=int).reshape(-1)
        self._update_selection()

    def nearest_point(self, scene_pos: QPointF) -> int:
        """The image whose point is within HOVER_PX screen pixels of ``scene_pos``, else -1."""
        if not len(self._xy) or not self.view_box.sceneBoundingRect().contains(scene_pos):
            return -1
        where = self.view_box.mapSceneToView(scene_pos)
        pixel_w, pixel_h = self.view_box.viewPixelSize()
        if not pixel_w or not pixel_h:
            return -1
        dx = (self._xy[:, 0] - where.x()) / pixel_w
        dy = (self._xy[:, 1] - where.y()) / pixel_h
        distances = dx * dx + dy * dy
        nearest = int(np.argmin(distances))
        return nearest if distances[nearest] <= HOVER_PX * HOVER_PX else -1

    def hover(self, index: int) -> None:
        """Preview image ``index`` (-1: none), as the pointer does."""
        if index == self._hovered:
            return
        self._hovered = index
        report = self._report
        if report is None or index < 0:
            self.hover_mark.clear()
            QToolTip.hideText()
            return
        image = report.images[index]
        self.hover_mark.setData(pos=self._xy[index:index + 1])
        text = f"{image.path}\n{image.split} · {labels_text(image.labels)}"
        self.preview_text.setText(f"<b>{html.escape(image.path)}</b><br>{html.escape(image.split)} · "
                                  f"{html.escape(labels_text(image.labels))}")
        self.preview.clear()
        self._show_preview_image()
        if self.plot.underMouse():
            QToolTip.showText(QCursor.pos(), text, self.plot)

    def hovered(self) -> int:
        return self._hovered

    # ------------------------------------------------------------ internal
    @Slot()
    def _recolour(self) -> None:
        report = self._report
        if report is None:
            self.scatter.clear()
            self.legend.clear()
            self._categories = np.zeros(0, dtype=int)
            return
        chosen = self.colour_box.currentText() or BY_SPLIT
        if chosen == BY_SPLIT:
            names = list(SPLITS)
            colours = [SPLIT_COLOURS[name] for name in names]
            self._categories = np.array([SPLITS.index(image.split) for image in report.images], dtype=int)
        else:
            names, colours = [f"not {chosen}", chosen], [HAS_NOT_COLOUR, HAS_COLOUR]
            self._categories = np.array([chosen in image.labels for image in report.images], dtype=int)
        brushes = [pg.mkBrush(colour) for colour in colours]
        per_point = np.array(brushes, dtype=object)[self._categories] if len(self._categories) else []
        self.scatter.setData(pos=self._xy, brush=list(per_point), pen=None, size=POINT_SIZE)
        self.legend.clear()
        counts = np.bincount(self._categories, minlength=len(names)) if len(self._categories) else [0] * len(names)
        for name, brush, count in zip(names, brushes, counts):
            if count:
                sample = pg.ScatterPlotItem(size=8, pen=None, brush=brush, symbol="o")
                self.legend.addItem(sample, f"{name} ({count})")

    @Slot(bool)
    def _on_select_toggled(self, on: bool) -> None:
        self.view_box.selecting = on

    def _update_selection(self) -> None:
        count = len(self._selected)
        self.selection_marks.setData(pos=self._xy[self._selected] if count else np.zeros((0, 2)))
        self.selected_label.setText(f"{count} image(s) selected." if count else
                                    "No images selected: press Select, then drag a box.")
        self.review_button.setText(f"Send {count} to Review")
        self.review_button.setEnabled(count > 0)
        self.clear_button.setEnabled(count > 0)

    def _send_to_review(self) -> None:
        paths = self.selected_paths()
        if paths:
            self.review_requested.emit(paths)

    @Slot(object)
    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        self.hover(self.nearest_point(scene_pos))

    @Slot(object)
    def _on_mouse_clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self._report is None:
            return
        index = self.nearest_point(event.scenePos())
        if index >= 0:
            self.open_image_requested.emit(self._report.absolute_path(index))

    @Slot()
    def _show_preview_image(self) -> None:
        if self._report is None or self._hovered < 0:
            return
        path = self._report.absolute_path(self._hovered)
        image = self._thumbs.get(path)
        if image is None:
            self._thumbs.request([path])
        elif not image.isNull():
            self.preview.setPixmap(QPixmap.fromImage(image))
        else:
            self.preview.setText("unreadable")
