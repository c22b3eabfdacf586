"""What exact-match accuracy hides about a dataset: the audit, drawn.

Given scanned splits (``core.data.dataset.scan_data_root``) the view runs
``core.data.audit.audit_dataset`` off the GUI thread (it hashes files to find
duplicates across splits) and shows the label co-occurrence as a heatmap
(diagonal = images per label; a perceptual colour map over the whole range,
with a colour bar, so every count has its own colour), the number of labels per image as a bar chart,
and the audit's warnings (rare labels, strong imbalance, duplicates across
splits) as a list.
"""

from __future__ import annotations

import html
import logging
import threading

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Signal, Slot
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSizePolicy,
    QStyle,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from mlcls_gui.core.data.audit import DatasetAudit
from mlcls_gui.core.data.splits import DatasetSplits
from mlcls_gui.gui.widgets.field_labels import with_form_labels
from mlcls_gui.gui.widgets.task_runner import TaskRunner

logger = logging.getLogger(__name__)

MAX_CELL_TEXT_LABELS = 24  # more labels than this: no count text in the cells
# The heatmap draws the most common labels only: 10,000 labels would be an
# 800 MB float matrix of unreadable cells.
MAX_HEATMAP_LABELS = 60
MAX_TICK_CHARACTERS = 14
MAX_DUPLICATE_GROUPS_SHOWN = 50
HEATMAP_COLORMAP = "viridis"  # perceptual: equal steps in count look like equal steps in colour
LIGHT_CELL = 0.6  # above this share of the top count the cell is light: dark text on it


def run_audit(splits: DatasetSplits, cancel: threading.Event) -> DatasetAudit | None:
    """Runs on a background thread; None when cancelled."""
    from mlcls_gui.core.data.audit import audit_dataset

    audit = audit_dataset(splits, should_stop=cancel.is_set)
    return None if cancel.is_set() else audit


def short_name(label: str, limit: int = MAX_TICK_CHARACTERS) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


class AuditView(QWidget):
    """Co-occurrence heatmap, labels-per-image chart and warnings of one dataset."""

    audit_finished = Signal(str)  # "done", "cancelled" or "failed"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._audit: DatasetAudit | None = None
        self._shown: list[int] = []  # the audit's label indices on the heatmap's axes
        self._runner = TaskRunner("audit", parent=self)
        self._runner.done.connect(self._on_task_done)
        self._runner.failed.connect(self._on_task_failed)
        self._runner.finished.connect(self._on_task_finished)
        self._outcome = "failed"
        self._cell_texts: list[pg.TextItem] = []
        self._last_error = ""

        self.status_label = QLabel("No dataset audited yet.")
        self.status_label.setWordWrap(True)

        self.heatmap = pg.PlotWidget(background="w")
        self.heatmap.setMinimumSize(280, 260)
        self.heatmap.hideButtons()
        self.heatmap.setMouseEnabled(x=False, y=False)
        heat_item = self.heatmap.getPlotItem()
        heat_item.setMenuEnabled(False)
        # Short: the title's width is a minimum of the plot, which also holds the colour bar.
        heat_item.setTitle("Co-occurrence (diagonal: per label)", color="#222", size="9pt")
        heat_item.invertY(True)
        heat_item.setAspectLocked(True)
        heat_item.getViewBox().setDefaultPadding(0.0)
        for side in ("left", "bottom"):
            heat_item.getAxis(side).setStyle(tickLength=0)
            heat_item.getAxis(side).setTextPen("#222")
        self.image_item = pg.ImageItem(axisOrder="row-major")
        heat_item.addItem(self.image_item)
        self.color_bar = pg.ColorBarItem(values=(0, 1), colorMap=pg.colormap.get(HEATMAP_COLORMAP),
                                         interactive=False, width=14, label="images",
                                         pen="#444", colorMapMenu=False)
        self.color_bar.setImageItem(self.image_item, insert_in=heat_item)
        for side in ("left", "right"):
            self.color_bar.getAxis(side).setTextPen("#222")
        self.color_bar.axis.setWidth(34)
        self.heatmap.scene().sigMouseMoved.connect(self._on_heatmap_mouse_moved)
        heat_item.getViewBox().sigResized.connect(self._on_heatmap_view_resized)

        self.cardinality_plot = pg.PlotWidget(background="w")
        self.cardinality_plot.setMinimumSize(220, 160)
        self.cardinality_plot.setMaximumHeight(260)
        self.cardinality_plot.hideButtons()
        self.cardinality_plot.setMouseEnabled(x=False, y=False)
        card_item = self.cardinality_plot.getPlotItem()
        card_item.setMenuEnabled(False)
        card_item.setTitle("Labels per image", color="#222", size="9pt")
        card_item.setLabel("bottom", "labels on the image")
        card_item.setLabel("left", "images")
        card_item.showGrid(y=True, alpha=0.25)
        self.cardinality_bars = pg.BarGraphItem(x=[], height=[], width=0.6, brush=pg.mkBrush(66, 133, 244))
        card_item.addItem(self.cardinality_bars)

        self.warnings_title = QLabel("<b>Warnings</b>")
        self.warnings_list = QListWidget()
        self.warnings_list.setWordWrap(True)
        self.warnings_list.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.warnings_list.setMinimumHeight(80)

        # Stacked: the view lives in the window's narrow left column.
        warnings_box = QVBoxLayout()
        warnings_box.addWidget(self.warnings_title)
        warnings_box.addWidget(self.warnings_list, 1)
        lower = QHBoxLayout()
        lower.addWidget(self.cardinality_plot, 1)
        lower.addLayout(warnings_box, 1)
        body = QVBoxLayout()
        body.addWidget(self.heatmap, 3)
        body.addLayout(lower, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.status_label)
        layout.addLayout(body, 1)

    # -------------------------------------------------------------- public
    def set_splits(self, splits: DatasetSplits) -> None:
        """Audit these splits (in the background); a newer call replaces a running one."""
        self._outcome = "failed"
        self.status_label.setText(f"Auditing {html.escape(splits.root)} …")
        self._runner.replace(lambda job: run_audit(splits, job.cancel))

    def audit(self) -> DatasetAudit | None:
        return self._audit

    def heatmap_values(self) -> np.ndarray:
        """The matrix the heatmap shows (row = label on the left axis)."""
        image = self.image_item.image
        return np.zeros((0, 0)) if image is None else np.asarray(image)

    def warnings(self) -> list[str]:
        return [self.warnings_list.item(row).text() for row in range(self.warnings_list.count())]

    def is_busy(self) -> bool:
        return self._runner.is_busy()

    def last_error(self) -> str:
        return self._last_error

    def shutdown(self, msecs: int = 30_000) -> None:
        self._runner.shutdown(msecs)

    # ------------------------------------------------------------- drawing
    def _show(self, audit: DatasetAudit) -> None:
        self._audit = audit
        shown = audit.most_common_labels(MAX_HEATMAP_LABELS)
        self._shown = shown
        labels = [audit.labels[i] for i in shown]
        matrix = np.asarray(audit.cooccurrence[np.ix_(shown, shown)], dtype=np.float64)
        title = "Co-occurrence (diagonal: per label)" if len(shown) == len(audit.labels) else \
            f"Co-occurrence: top {len(shown)} of {len(audit.labels)} labels"
        self.heatmap.getPlotItem().setTitle(title, color="#222", size="9pt")
        plot_item = self.heatmap.getPlotItem()
        for text in self._cell_texts:
            plot_item.removeItem(text)
        self._cell_texts = []
        n = len(labels)
        if n:
            # The whole range, diagonal included: no colour saturates, so 100
            # and 200 never look the same; the colour bar gives the scale.
            top = max(float(matrix.max()), 1.0)
            self.image_item.setImage(matrix, levels=(0.0, top), autoLevels=False)
            self.color_bar.setLevels((0.0, top))
            self.image_item.setRect(0.0, 0.0, float(n), float(n))
            self._update_ticks()
            self._fit_heatmap()
            if n <= MAX_CELL_TEXT_LABELS:
                for i in range(n):
                    for j in range(n):
                        value = matrix[i, j]
                        light = value / top > LIGHT_CELL  # viridis runs from dark purple to yellow
                        text = pg.TextItem(f"{int(value)}", color="#222" if light else "w", anchor=(0.5, 0.5))
                        text.setPos(j + 0.5, i + 0.5)
                        plot_item.addItem(text)
                        self._cell_texts.append(text)
        else:
            self.image_item.clear()
        counts = sorted(audit.cardinality.items())
        self.cardinality_bars.setOpts(x=[k for k, _ in counts], height=[v for _, v in counts], width=0.6)
        card_item = self.cardinality_plot.getPlotItem()
        card_item.getAxis("bottom").setTicks([[(k, str(k)) for k, _ in counts], []])
        if counts:
            card_item.setXRange(min(k for k, _ in counts) - 0.6, max(k for k, _ in counts) + 0.6, padding=0)
            card_item.setYRange(0, max(v for _, v in counts) * 1.08, padding=0)

        self.warnings_list.clear()
        warning_icon = self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
        for warning in audit.warnings:
            self.warnings_list.addItem(QListWidgetItem(warning_icon, with_form_labels(warning)))
        for group in audit.duplicates[:MAX_DUPLICATE_GROUPS_SHOWN]:
            item = QListWidgetItem("    identical: " + "  =  ".join(group))
            item.setForeground(pg.mkColor("#555"))
            self.warnings_list.addItem(item)
        if len(audit.duplicates) > MAX_DUPLICATE_GROUPS_SHOWN:
            self.warnings_list.addItem(
                f"    … and {len(audit.duplicates) - MAX_DUPLICATE_GROUPS_SHOWN} more groups")
        if not audit.warnings:
            ok = QListWidgetItem(self.style().standardIcon(QStyle.StandardPixmap.SP_DialogApplyButton),
                                 "No warnings: no rare labels, no strong imbalance, no duplicates across splits.")
            self.warnings_list.addItem(ok)
        total = sum(audit.cardinality.values())
        self.status_label.setText(
            f"{total} images, {n} labels, {len(audit.warnings)} warning(s). "
            "Hover a cell for its labels and count.")

    def _update_ticks(self) -> None:
        """Label names on both axes; when the names do not fit under the columns,
        the columns are numbered and the rows carry the numbers too."""
        labels = [self._audit.labels[i] for i in self._shown] if self._audit is not None else []
        plot_item = self.heatmap.getPlotItem()
        if not labels:
            plot_item.getAxis("bottom").setTicks([[], []])
            plot_item.getAxis("left").setTicks([[], []])
            return
        names = [short_name(label) for label in labels]
        metrics = QFontMetrics(plot_item.getAxis("bottom").style.get("tickFont") or self.font())
        cell = plot_item.getViewBox().width() / len(labels)
        widest = max(metrics.horizontalAdvance(name) for name in names)
        numbered = widest + 6 > cell
        columns = [(i + 0.5, str(i + 1) if numbered else name) for i, name in enumerate(names)]
        rows = [(i + 0.5, f"{name}  {i + 1}" if numbered else name) for i, name in enumerate(names)]
        plot_item.getAxis("bottom").setTicks([columns, []])
        plot_item.getAxis("left").setTicks([rows, []])
        bottom = plot_item.getAxis("bottom")
        if numbered:
            bottom.setLabel("labels by number (see the rows)")
        elif bottom.label.isVisible():
            bottom.showLabel(False)

    # --------------------------------------------------------------- slots
    @Slot()
    def _on_heatmap_view_resized(self) -> None:
        self._fit_heatmap()
        self._update_ticks()

    def _fit_heatmap(self) -> None:
        """Show every cell: with the aspect locked, setting the x and then the y
        range would let the last one win and cut the other axis off."""
        if self.image_item.image is not None:
            self.heatmap.getPlotItem().getViewBox().autoRange(padding=0.0)

    @Slot(object)
    def _on_task_done(self, audit: DatasetAudit | None) -> None:
        if audit is None:
            self._outcome = "cancelled"
            return
        self._outcome = "done"
        self._last_error = ""
        self._show(audit)

    @Slot(str, str)
    def _on_task_failed(self, summary: str, details: str) -> None:
        logger.warning("Dataset audit failed: %s", details)
        self._outcome = "failed"
        self._last_error = summary
        self.status_label.setText(f"The audit failed: {html.escape(summary)}")

    @Slot()
    def _on_task_finished(self) -> None:
        self.audit_finished.emit(self._outcome)

    @Slot(object)
    def _on_heatmap_mouse_moved(self, position: QPointF) -> None:
        audit = self._audit
        if audit is None or not audit.labels:
            return
        view = self.heatmap.getPlotItem().getViewBox()
        if not view.sceneBoundingRect().contains(position):
            return
        point = view.mapSceneToView(position)
        column, row = int(np.floor(point.x())), int(np.floor(point.y()))
        n = len(self._shown)
        if not (0 <= row < n and 0 <= column < n):
            QToolTip.hideText()
            return
        row, column = self._shown[row], self._shown[column]
        count = int(audit.cooccurrence[row, column])
        if row == column:
            text = f"{audit.labels[row]}: {count} image(s)"
        else:
            text = f"{audit.labels[row]} and {audit.labels[column]}: {count} image(s) with both"
        global_pos = self.heatmap.mapToGlobal(self.heatmap.mapFromScene(position))
        QToolTip.showText(global_pos, text, self.heatmap)
