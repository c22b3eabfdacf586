"""The data-root picker and the summary of the scanned dataset.

The scan (``core.data.dataset.scan_data_root``) reads every image header, which
takes seconds on large folders, so it runs on a background thread; a newer
request replaces the running scan, whose result is then dropped. A folder joins the
Recent list only once it scanned without problems, so Recent never offers a
folder that is missing, empty or cannot train. The root may also be a labels
CSV (the "CSV file…" button, or drop the .csv on the panel).
"""

from __future__ import annotations

import functools
import html
import logging
import os
import weakref
from pathlib import Path
from typing import Any, Callable

import pyqtgraph as pg
from PySide6.QtCore import QUrl, Signal, Slot
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from mlcls_gui.core.data.dataset import scan_data_root
from mlcls_gui.core.data.splits import DatasetSplits, DatasetSummary
from mlcls_gui.gui.widgets.field_labels import with_form_labels
from mlcls_gui.gui.widgets.task_runner import TaskRunner

logger = logging.getLogger(__name__)

MAX_RECENT_ROOTS = 8
MAX_SKIPPED_SHOWN = 500
SPLIT_COLOURS = {"train": "#1e5ac8", "val": "#dc6e00", "test": "#009646"}  # bars and the title's legend


def scan_splits(root: str, val_fraction: float, test_fraction: float, seed: int,
                groups_file: str = "") -> tuple[DatasetSplits, DatasetSummary]:
    """Runs on the scan thread; ``groups_file``: split_groups (the group-aware split training will make)."""
    splits = scan_data_root(root, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed,
                            groups_file=groups_file or None)
    return splits, splits.summary()


def is_data_root(path: str) -> bool:
    """A folder, or a labels CSV file."""
    return os.path.isdir(path) or (path.lower().endswith(".csv") and os.path.isfile(path))


def local_data_roots(urls: list[QUrl]) -> list[str]:
    return [url.toLocalFile() for url in urls if url.isLocalFile() and is_data_root(url.toLocalFile())]


def accept_url_drags(event: Any) -> bool:
    """Accept a drag that carries files; the drop decides what they are."""
    if event.mimeData().hasUrls():
        event.acceptProposedAction()
        return True
    return False


def handle_dropped_root(urls: list[QUrl], chosen: Callable[[str], Any], refused: Callable[[str], Any]) -> None:
    """``chosen`` with the first folder or .csv file among ``urls``, else ``refused``."""
    roots = local_data_roots(urls)
    if roots:
        chosen(roots[0])
    else:
        refused(urls[0].toLocalFile() or urls[0].toString())


class DataPanel(QWidget):
    """Choose the data folder; shows what the scan found and whether it can train."""

    root_chosen = Signal(str)  # the user picked / dropped / typed a folder or a CSV
    summary_changed = Signal()  # a scan ended (or the root was cleared)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._root = ""
        self._split_settings: tuple[float, float, int, str] = (0.15, 0.15, 42, "")
        self._summary: DatasetSummary | None = None
        self._splits: DatasetSplits | None = None
        self._error = ""
        self._scan = TaskRunner("scan", self)
        self._scan.done.connect(self._on_scan_done)
        self._scan.failed.connect(self._on_scan_failed)
        self._scan.finished.connect(self._on_scan_finished)
        self._recent: list[str] = []

        self.path_edit = QLineEdit()
        # A drop on the field goes to the panel (as on the chart), which takes it as the
        # root; a QLineEdit would paste the dropped path into its text instead.
        self.path_edit.setAcceptDrops(False)
        self.path_edit.setPlaceholderText("Drop a folder or a labels CSV here, or choose one…")
        self.path_edit.setToolTip(
            "The data folder: one sub-folder per label set, named after its labels joined "
            "by '+' (cat/, dog/, cat+dog/), or train/ val/ test/ folders in that layout. "
            "Or a labels CSV (or a folder holding labels.csv): a path column, and a labels "
            "column (joined by '|') or one 0/1 column per label; empty cells are unknown.")
        self.path_edit.editingFinished.connect(self._on_path_edit_editing_finished)
        self.browse_button = QPushButton("Choose…")
        self.browse_button.clicked.connect(self.choose_folder)
        self.csv_button = QPushButton("CSV file…")
        self.csv_button.setToolTip("Choose a CSV file that lists the images and their labels.")
        self.csv_button.clicked.connect(self._on_csv_button_clicked)
        self.setAcceptDrops(True)
        self.recent_button = QToolButton()
        self.recent_button.setText("Recent")
        self.recent_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.recent_menu = QMenu(self.recent_button)
        self.recent_button.setMenu(self.recent_menu)
        self.rescan_button = QToolButton()
        self.rescan_button.setText("Rescan")
        self.rescan_button.setToolTip("Scan the folder again (after adding or removing images).")
        self.rescan_button.clicked.connect(self._on_rescan_button_clicked)

        picker = QHBoxLayout()
        picker.addWidget(self.path_edit, 1)
        picker.addWidget(self.browse_button)
        picker.addWidget(self.csv_button)
        picker.addWidget(self.recent_button)
        picker.addWidget(self.rescan_button)

        self.status_label = QLabel("No data folder chosen yet.")
        self.status_label.setWordWrap(True)
        self.problems_label = QLabel()
        self.problems_label.setObjectName("problemsLabel")
        self.problems_label.setWordWrap(True)
        self.problems_label.setStyleSheet(
            "color: #b71c1c; background: #fdecea; border: 1px solid #f5c2c0; padding: 4px;")
        self.problems_label.hide()

        self.chart = pg.PlotWidget(background="w")
        self.chart.setMinimumHeight(150)
        self.chart.setMaximumHeight(230)
        self.chart.setMouseEnabled(x=False, y=False)
        self.chart.hideButtons()
        self.chart.setAcceptDrops(False)  # a file dropped on the chart goes to the panel
        chart_item = self.chart.getPlotItem()
        # The title is the legend: a legend box inside the plot would cover the bars.
        chart_item.setTitle("Images per label: " + " ".join(
            f"<span style='color:{SPLIT_COLOURS[split]}'>■</span> {split}" for split in SPLIT_COLOURS),
            color="#222", size="9pt")
        chart_item.showGrid(y=True, alpha=0.25)
        chart_item.setMenuEnabled(False)
        self._bars: list[pg.BarGraphItem] = []

        self.details = QTreeWidget()
        self.details.setHeaderLabels(["What", "Count / reason"])
        self.details.setColumnWidth(0, 230)
        self.details.setRootIsDecorated(True)
        self.details.setAlternatingRowColors(True)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(picker)
        layout.addWidget(self.status_label)
        layout.addWidget(self.problems_label)
        layout.addWidget(self.chart)
        layout.addWidget(self.details, 1)
        self._update_recent_menu()
        self._show_summary()

    # -------------------------------------------------------------- public
    def root(self) -> str:
        return self._root

    def summary(self) -> DatasetSummary | None:
        return self._summary

    def splits(self) -> DatasetSplits | None:
        """The scanned images and their split (for the audit); None until scanned."""
        return self._splits

    def is_scanning(self) -> bool:
        return self._scan.is_busy()

    def blocking_reason(self) -> str:
        """Why training cannot start with this data, or "" when it can."""
        if not self._root:
            return "Choose a data folder."
        if self._scan.is_busy():
            return "Scanning the data folder…"
        if self._error:
            return self._error
        if self._summary is None:
            return "The data folder has not been scanned yet."
        if self._summary.problems:
            return " ".join(self._summary.problems)
        return ""

    def set_root(self, root: str, *, scan: bool = True) -> None:
        """Show ``root`` and scan it (does not emit root_chosen)."""
        self._root = root
        if self.path_edit.text() != root:
            self.path_edit.setText(root)
        if scan:
            self.rescan()

    def set_split_settings(self, val_fraction: float, test_fraction: float, seed: int,
                           groups_file: str = "") -> None:
        """The split depends on these config values; rescan when they change."""
        settings = (val_fraction, test_fraction, seed, groups_file)
        if settings != self._split_settings:
            self._split_settings = settings
            if self._root:
                self.rescan()

    @Slot(str)
    def rescan_if_showing(self, root: str) -> None:
        """Rescan when ``root`` is this panel's folder (Review or Health moved images in it)."""
        if self._root == root:
            self.rescan()

    def rescan(self) -> None:
        if not self._root:
            self._scan.abandon()  # a running scan of the previous root must not show up later
            self._splits, self._summary, self._error = None, None, ""
            self._show_summary()
            self.summary_changed.emit()
            return
        request = (self._root, *self._split_settings)
        # A replaced scan delivers nothing, so an older root's result never lands here.
        self._scan.replace(lambda _j: scan_splits(*request))
        self.status_label.setText(f"Scanning {request[0]} …")
        self.summary_changed.emit()  # blocking_reason is now "Scanning…"

    def recent_roots(self) -> list[str]:
        return list(self._recent)

    def set_recent_roots(self, roots: list[str]) -> None:
        self._recent = [r for r in roots if r and is_data_root(r)][:MAX_RECENT_ROOTS]
        self._update_recent_menu()

    def add_recent_root(self, root: str) -> None:
        root = str(root)
        self._recent = [root] + [r for r in self._recent if r != root]
        del self._recent[MAX_RECENT_ROOTS:]
        self._update_recent_menu()

    def set_locked(self, locked: bool) -> None:
        for widget in (self.path_edit, self.browse_button, self.csv_button, self.recent_button,
                       self.rescan_button):
            widget.setEnabled(not locked)
        self.setAcceptDrops(not locked)

    def wait_for_scan(self, msecs: int = 30_000) -> None:
        """Block until a running scan thread ended (shutdown only)."""
        self._scan.shutdown(msecs)

    # ------------------------------------------------------------- scanning
    @Slot(object)
    def _on_scan_done(self, result: tuple[DatasetSplits, DatasetSummary]) -> None:
        self._splits, self._summary = result
        self._error = ""

    @Slot(str, str)
    def _on_scan_failed(self, message: str, details: str) -> None:
        logger.debug("Scan failed: %s", details)
        self._splits, self._summary, self._error = None, None, message

    @Slot()
    def _on_scan_finished(self) -> None:
        self._update_recent()
        self._show_summary()
        self.summary_changed.emit()

    def _update_recent(self) -> None:
        """Remember a folder that can train; forget one that no longer can."""
        if not self._root:
            return
        if self._summary is not None and not self._error and not self._summary.problems:
            self.add_recent_root(self._root)
        elif self._root in self._recent:
            self._recent.remove(self._root)
            self._update_recent_menu()

    # -------------------------------------------------------------- display
    def _show_summary(self) -> None:
        summary = self._summary
        self.details.clear()
        for bar in self._bars:
            self.chart.removeItem(bar)
        self._bars = []
        # No stale label names under an empty chart after a failed scan.
        self.chart.getPlotItem().getAxis("bottom").setTicks([[]])
        if not self._root:
            self.status_label.setText("No data folder chosen yet. Choose one, or drop it on the field above.")
            self.problems_label.hide()
            return
        if summary is None:
            self.status_label.setText("Could not scan the data folder.")
            self._show_problems(self._error.splitlines())  # one problem a line
            return
        sizes = summary.split_sizes
        unknown = f" · <b>{summary.unknown_cells}</b> unknown label cells" if summary.csv_format else ""
        self.status_label.setText(
            f"<b>{summary.total_images}</b> images, <b>{len(summary.labels)}</b> labels "
            f"({html.escape(summary.layout_text)}) — "
            f"train <b>{sizes.get('train', 0)}</b> · val <b>{sizes.get('val', 0)}</b> · "
            f"test <b>{sizes.get('test', 0)}</b>{unknown}"
            + (f"<br><b>{summary.unlabelled}</b> unlabelled image(s) {html.escape(summary.unlabelled_where)}: "
               "not trained on; the Label tab suggests their labels." if summary.unlabelled else "")
        )
        self._show_problems(list(summary.problems))
        self._draw_chart(summary)
        self._fill_details(summary)

    def _show_problems(self, problems: list[str]) -> None:
        if problems:
            text = "<br>".join(f"• {html.escape(p)}" for p in problems)
            self.problems_label.setText(f"<b>Cannot train with this folder:</b><br>{text}")
            self.problems_label.show()
        else:
            self.problems_label.hide()

    def _draw_chart(self, summary: DatasetSummary) -> None:
        labels = list(summary.labels)
        if not labels:
            return
        width = 0.8 / 3
        for offset, split in enumerate(("train", "val", "test")):
            counts = [summary.label_counts.get(split, {}).get(label, 0) for label in labels]
            xs = [i + (offset - 1) * width for i in range(len(labels))]
            bar = pg.BarGraphItem(x=xs, height=counts, width=width * 0.95, brush=SPLIT_COLOURS[split],
                                  pen=pg.mkPen(None), name=split)
            self.chart.addItem(bar)
            self._bars.append(bar)
        axis = self.chart.getPlotItem().getAxis("bottom")
        axis.setTicks([[(i, _short(label)) for i, label in enumerate(labels)]])
        self.chart.getPlotItem().setXRange(-0.6, len(labels) - 0.4, padding=0)
        top = max(max(summary.label_counts.get(s, {}).values(), default=0) for s in ("train", "val", "test"))
        self.chart.getPlotItem().setYRange(0, max(top, 1) * 1.08, padding=0)

    def _fill_details(self, summary: DatasetSummary) -> None:
        if summary.csv_format:
            unknown_item = QTreeWidgetItem(self.details, [
                f"Unknown label cells ({summary.unknown_cells})",
                f"CSV with {summary.csv_format}; {summary.unknown_images} image(s) with unknown labels"])
            unknown_item.setToolTip(1, "Empty or -1 cells: left out of the loss and the metrics.")
            for label, count in summary.unknown_counts.items():
                if count:
                    QTreeWidgetItem(unknown_item, [label, str(count)])
        labels_item = QTreeWidgetItem(self.details, [f"Labels ({len(summary.labels)})", "train / val / test"])
        for label in summary.labels:
            counts = [summary.label_counts.get(s, {}).get(label, 0) for s in ("train", "val", "test")]
            QTreeWidgetItem(labels_item, [label, " / ".join(str(c) for c in counts)])
        sets_item = QTreeWidgetItem(self.details, [f"Label sets ({len(summary.label_set_counts)})", "images"])
        for name, count in sorted(summary.label_set_counts.items(), key=lambda kv: (-kv[1], kv[0])):
            QTreeWidgetItem(sets_item, [name, str(count)])
        skipped_item = QTreeWidgetItem(self.details, [f"Skipped files ({len(summary.skipped)})", ""])
        for item in summary.skipped[:MAX_SKIPPED_SHOWN]:
            base = os.path.dirname(summary.root) if summary.csv_format else summary.root
            child = QTreeWidgetItem(skipped_item, [_relative(item.path, base), item.reason])
            child.setToolTip(0, item.path)
            child.setToolTip(1, item.reason)
        if len(summary.skipped) > MAX_SKIPPED_SHOWN:
            QTreeWidgetItem(skipped_item, [f"… and {len(summary.skipped) - MAX_SKIPPED_SHOWN} more", ""])
        warnings_item = QTreeWidgetItem(self.details, [f"Warnings ({len(summary.warnings)})", ""])
        for warning in map(with_form_labels, summary.warnings):
            child = QTreeWidgetItem(warnings_item, ["⚠", warning])
            child.setToolTip(1, warning)
        labels_item.setExpanded(True)
        sets_item.setExpanded(len(summary.label_set_counts) <= 12)
        warnings_item.setExpanded(bool(summary.warnings))

    def _update_recent_menu(self) -> None:
        self.recent_menu.clear()
        me = weakref.proxy(self)  # the menu's connections must not own the panel
        for root in self._recent:
            action = self.recent_menu.addAction(root)
            action.triggered.connect(functools.partial(type(self)._choose, me, root))
        self.recent_button.setEnabled(bool(self._recent))

    # ---------------------------------------------------------------- input
    def _choose(self, root: str, *_args: Any) -> None:
        self.set_root(root)
        self.root_chosen.emit(root)

    def choose_folder(self) -> None:
        """Ask for a data folder (the Choose… button and the File menu)."""
        start = self._root or str(Path.home())
        start = os.path.dirname(start) if os.path.isfile(start) else start  # after a CSV root
        chosen = QFileDialog.getExistingDirectory(self, "Choose the data folder", start)
        if chosen:
            self._choose(chosen)

    @Slot()
    def _on_csv_button_clicked(self) -> None:
        start = self._root or str(Path.home())
        start = os.path.dirname(start) if os.path.isfile(start) else start
        chosen, _ = QFileDialog.getOpenFileName(self, "Choose a labels CSV", start,
                                                "CSV files (*.csv *.CSV);;All files (*)")
        if chosen:
            self._choose(chosen)

    def _refuse_drop(self, path: str) -> None:
        self.status_label.setText(
            f"{html.escape(path)} is not a folder or a .csv file. Drop the folder that holds the "
            "label folders, or a labels CSV.")

    # Drops anywhere on the panel (the path field, the chart, the details) choose the root.
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt API
        if not accept_url_drags(event):
            super().dragEnterEvent(event)

    def dragMoveEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        if not accept_url_drags(event):
            super().dragMoveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt API
        urls = event.mimeData().urls()
        if not urls:
            super().dropEvent(event)
            return
        event.acceptProposedAction()
        handle_dropped_root(urls, self._choose, self._refuse_drop)

    @Slot()
    def _on_path_edit_editing_finished(self) -> None:
        text = self.path_edit.text().strip()
        if text != self._root:
            self._choose(text)

    @Slot()
    def _on_rescan_button_clicked(self) -> None:
        self.rescan()


def _short(label: str, limit: int = 12) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _relative(path: str, root: str) -> str:
    try:
        return os.path.relpath(path, root)
    except ValueError:
        return path
