"""The Runs tab: every run in the output folder, its previous_runs/ and added folders.

One row per run (the columns of ``mlcls-gui runs``: ``core.runs.TABLE_COLUMNS``).
Selecting runs overlays their loss and accuracy curves; selecting two shows
the settings in which they differ. One selected run's model opens in Predict
or Evaluate (the window connects ``open_in_predict`` / ``open_in_evaluate``),
and its folder in the file manager. Folders are read off the GUI thread: a
folder of many runs on a network drive must not freeze the window.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import QBrush, QColor, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from mlcls_gui.core.runs.listing import (
    TABLE_COLUMNS,
    RunCurves,
    RunRecord,
    cell_text,
    common_root,
    config_diff,
    differing_settings,
    load_runs,
    read_curves,
    short_folder,
    table_row,
)
from mlcls_gui.gui.runs.config_diff_view import ConfigDiffView
from mlcls_gui.gui.runs.run_curves_plot import RunCurvesPlot
from mlcls_gui.gui.widgets.dialogs import open_in_file_manager
from mlcls_gui.gui.widgets.task_runner import TaskRunner

logger = logging.getLogger(__name__)

RECORD_ROLE = Qt.ItemDataRole.UserRole  # the row's index into the loaded records
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
_ENDED_COLOURS = {"failed": "#b00020", "running": "#1e5ac8", "interrupted": "#b35900", "unknown": "#666666",
                  "unreadable": "#b00020"}
REFRESH_DELAY_MS = 300  # typing an output folder path: read it once the typing pauses
_NUMERIC = {"epochs", "best_val", "test_map", "test_exact_match", "test_macro_f1", "wall"}


@dataclass(frozen=True)
class LoadedRuns:
    records: list[RunRecord]
    curves: dict[Path, RunCurves]
    differing: list[str]
    notes: list[str]  # folders that could not be searched


def load_folders(folders: list[str]) -> LoadedRuns:
    """Runs on a background thread: every record and its curves."""
    notes: list[str] = []
    records = load_runs(folders, notes)
    curves = {record.folder: read_curves(record.folder) for record in records}
    return LoadedRuns(records, curves, differing_settings(records), notes)


class _SortItem(QTableWidgetItem):
    """Sorts by SORT_ROLE (numbers, ISO dates) rather than by the shown text."""

    def __lt__(self, other: QTableWidgetItem) -> bool:
        mine, theirs = self.data(SORT_ROLE), other.data(SORT_ROLE)
        if mine is None or theirs is None:
            return (mine is None) > (theirs is None)  # empty cells sort first
        try:
            return mine < theirs
        except TypeError:
            return str(mine) < str(theirs)


class RunsTab(QWidget):
    open_in_predict = Signal(str)  # a final model's path
    open_in_evaluate = Signal(str)
    runs_loaded = Signal()  # a load ended and the table shows it

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._output_folder = ""
        self._extra_folders: list[str] = []
        self._loaded = LoadedRuns([], {}, [], [])
        self._runner = TaskRunner("runs-load", self)
        self._runner.done.connect(self._on_load_task_done)
        self._runner.failed.connect(self._on_load_task_failed)
        self._runner.finished.connect(self._on_load_task_finished)
        self._stale = False  # asked to refresh while hidden: done when the tab is shown
        self.last_opened_folder = ""
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(REFRESH_DELAY_MS)
        self._timer.timeout.connect(self.refresh)

        self.folders_label = QLabel()
        self.folders_label.setWordWrap(True)
        self.add_button = QPushButton("Add folder…")
        self.add_button.setToolTip("Also list the runs in another output folder (or a folder of them).")
        self.add_button.clicked.connect(self._on_add_button_clicked)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh)
        top = QHBoxLayout()
        top.addWidget(self.folders_label, 1)
        top.addWidget(self.add_button)
        top.addWidget(self.refresh_button)

        self.table = QTableWidget(0, len(TABLE_COLUMNS))
        self.table.setObjectName("runsTable")
        self.table.setHorizontalHeaderLabels([header for _key, header in TABLE_COLUMNS])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideLeft)  # a path's end tells runs apart
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.horizontalHeader().setSortIndicator(0, Qt.SortOrder.DescendingOrder)  # newest first
        self.table.setSortingEnabled(True)
        self.table.itemSelectionChanged.connect(self._on_table_item_selection_changed)

        self.status_label = QLabel("No output folder chosen yet.")
        self.status_label.setWordWrap(True)
        self.predict_button = QPushButton("Open in Predict")
        self.evaluate_button = QPushButton("Open in Evaluate")
        self.folder_button = QPushButton("Open folder")
        self.predict_button.clicked.connect(self._on_predict_button_clicked)
        self.evaluate_button.clicked.connect(self._on_evaluate_button_clicked)
        self.folder_button.clicked.connect(self._on_folder_button_clicked)
        actions = QHBoxLayout()
        actions.addWidget(self.status_label, 1)
        for button in (self.predict_button, self.evaluate_button, self.folder_button):
            actions.addWidget(button)

        self.curves = RunCurvesPlot()
        self.diff_view = ConfigDiffView()
        bottom = QSplitter(Qt.Orientation.Horizontal)
        bottom.addWidget(self.curves)
        bottom.addWidget(self.diff_view)
        bottom.setStretchFactor(0, 3)
        bottom.setStretchFactor(1, 2)
        bottom.setSizes([600, 400])  # the diff's values need room from the start
        table_box = QWidget()
        table_layout = QVBoxLayout(table_box)
        table_layout.setContentsMargins(0, 0, 0, 0)
        table_layout.addWidget(self.table, 1)
        table_layout.addLayout(actions)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(table_box)
        self.splitter.addWidget(bottom)
        self.splitter.setSizes([300, 500])
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.splitter, 1)
        self._show_folders()
        self._update_actions()

    # -------------------------------------------------------------- public
    def set_output_folder(self, path: str) -> None:
        """The settings' output folder; its runs are listed first (read once the typing pauses)."""
        path = str(path or "")
        if path != self._output_folder:
            self._output_folder = path
            self._show_folders()
            self._timer.start()

    def add_folder(self, path: str) -> None:
        path = str(path)
        if path and path not in self._extra_folders and path != self._output_folder:
            self._extra_folders.append(path)
            self._show_folders()
            self.refresh()

    def folders(self) -> list[str]:
        return [f for f in [self._output_folder, *self._extra_folders] if f]

    def records(self) -> list[RunRecord]:
        return list(self._loaded.records)

    def is_loading(self) -> bool:
        return self._runner.is_busy()

    def refresh(self) -> None:
        """Read the folders again off the GUI thread (e.g. after a run started or ended);
        while the tab is hidden, only once it is shown."""
        self._timer.stop()
        if not self.isVisible():
            self._stale = True
            return
        self._stale = False
        folders = self.folders()
        if not folders:
            self._runner.abandon()  # a load of folders no longer listed must not show up later
            self._show(LoadedRuns([], {}, [], []))
            return
        self.status_label.setText("Reading the runs…")
        # A load still running is replaced: its (older) result is never shown.
        self._runner.replace(lambda _j: load_folders(folders))

    def select_runs(self, folders: list[Path]) -> None:
        """Select the rows of these run folders (tests, and keeping a selection across a reload)."""
        wanted = {Path(f).resolve() for f in folders}
        self.table.clearSelection()
        mode = self.table.selectionMode()
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.MultiSelection)
        self.table.blockSignals(True)
        for row in range(self.table.rowCount()):
            if self._record_at(row).folder in wanted:
                self.table.selectRow(row)
        self.table.blockSignals(False)
        self.table.setSelectionMode(mode)
        self._on_table_item_selection_changed()

    def record_for_model(self, model_path: str) -> RunRecord | None:
        """The run a model file belongs to (the window takes its data root for Evaluate)."""
        wanted = Path(model_path).resolve()
        return next((r for r in self._loaded.records if r.model_path and r.model_path.resolve() == wanted), None)

    def selected_records(self) -> list[RunRecord]:
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        return [self._record_at(row) for row in rows]

    def open_folder(self, folder: str) -> None:
        """Show a run's folder in the file manager (tests replace this method)."""
        self.last_opened_folder = folder
        problem = open_in_file_manager(folder)
        if problem:
            self.status_label.setText(problem)

    def shutdown(self, msecs: int = 30_000) -> None:
        self._timer.stop()
        self._runner.shutdown(msecs)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        if self._stale:
            self.refresh()

    # ------------------------------------------------------------ internal
    def _record_at(self, row: int) -> RunRecord:
        return self._loaded.records[self.table.item(row, 0).data(RECORD_ROLE)]

    def _show_folders(self) -> None:
        folders = self.folders()
        if not folders:
            self.folders_label.setText("Runs in: — (choose an output folder in the settings)")
            return
        names = [f"<b>{html.escape(folders[0])}</b>" if self._output_folder else html.escape(folders[0])]
        names += [html.escape(f) for f in folders[1:]]
        self.folders_label.setText("Runs in: " + ", ".join(names) + " (with their previous_runs/)")

    def _show(self, loaded: LoadedRuns) -> None:
        kept = [r.folder for r in self.selected_records()] if self._loaded.records else []
        self._loaded = loaded
        self.table.blockSignals(True)  # no selection signals while rows are half filled
        self.table.setSortingEnabled(False)
        self.table.clearContents()
        self.table.setRowCount(len(loaded.records))
        root = common_root([record.folder for record in loaded.records])
        for row, record in enumerate(loaded.records):
            cells = table_row(record, loaded.differing)
            cells["folder"] = short_folder(record.folder, root)  # the whole path is in the tooltip
            self._fill_row(row, record, cells)
        self.table.setSortingEnabled(True)
        self.table.blockSignals(False)
        self.table.resizeColumnsToContents()
        for column, (key, _header) in enumerate(TABLE_COLUMNS):
            if key in ("folder", "data_root", "settings"):
                self.table.setColumnWidth(column, min(self.table.columnWidth(column), 260))
        count = len(loaded.records)
        text = f"{count} run(s)" if count else "No runs found in these folders yet."
        if loaded.notes:
            text += " — " + " ".join(loaded.notes)
        self.status_label.setText(text)
        self.select_runs(kept)

    def _fill_row(self, row: int, record: RunRecord, cells: dict[str, Any]) -> None:
        tip = [str(record.folder)]
        if record.message:
            tip.append(record.message)
        tip += [f"Could not read: {p}" for p in record.problems]
        for column, (key, _header) in enumerate(TABLE_COLUMNS):
            item = _SortItem(cell_text(cells, key))
            item.setData(RECORD_ROLE, row)
            value = cells.get(key)
            item.setData(SORT_ROLE, value if key in _NUMERIC or key == "started" else cell_text(cells, key))
            item.setToolTip("\n".join(tip))
            if key == "ended" and record.ended in _ENDED_COLOURS:
                item.setForeground(QBrush(QColor(_ENDED_COLOURS[record.ended])))
            self.table.setItem(row, column, item)

    def _update_actions(self) -> None:
        selected = self.selected_records()
        one = selected[0] if len(selected) == 1 else None
        has_model = one is not None and one.model_path is not None
        for button in (self.predict_button, self.evaluate_button):
            button.setEnabled(has_model)
            button.setToolTip(
                f"Open {one.model_path}" if has_model else
                "This run has no final model file." if one is not None else "Select one run.")
        self.folder_button.setEnabled(one is not None)

    @staticmethod
    def run_name(record: RunRecord) -> str:
        when = record.started_at.replace("T", " ")[5:16] or "?"
        where = f"{record.folder.parent.parent.name}/…/{record.folder.name}" if record.archived \
            else record.folder.name
        return f"{when} {where}"

    # -------------------------------------------------------------- slots
    @Slot()
    def _on_table_item_selection_changed(self) -> None:
        selected = self.selected_records()
        self.curves.show_runs([(self.run_name(r), self._loaded.curves.get(r.folder, RunCurves([], {})))
                               for r in selected])
        if len(selected) == 2:
            first, second = selected
            self.diff_view.show_pair(self.run_name(first), self.run_name(second), config_diff(first, second))
        else:
            self.diff_view.show_hint()
        self._update_actions()

    @Slot()
    def _on_add_button_clicked(self) -> None:
        start = self._extra_folders[-1] if self._extra_folders else self._output_folder or str(Path.home())
        chosen = QFileDialog.getExistingDirectory(self, "Add a folder of runs", start)
        if chosen:
            self.add_folder(chosen)

    @Slot()
    def _on_predict_button_clicked(self) -> None:
        selected = self.selected_records()
        if len(selected) == 1 and selected[0].model_path is not None:
            self.open_in_predict.emit(str(selected[0].model_path))

    @Slot()
    def _on_evaluate_button_clicked(self) -> None:
        selected = self.selected_records()
        if len(selected) == 1 and selected[0].model_path is not None:
            self.open_in_evaluate.emit(str(selected[0].model_path))

    @Slot()
    def _on_folder_button_clicked(self) -> None:
        selected = self.selected_records()
        if len(selected) == 1:
            self.open_folder(str(selected[0].folder))

    @Slot(object)
    def _on_load_task_done(self, loaded: Any) -> None:
        self._show(loaded)

    @Slot(str, str)
    def _on_load_task_failed(self, summary: str, details: str) -> None:
        logger.warning("Could not read the runs: %s\n%s", summary, details)
        self.status_label.setText(f"Could not read the runs: {summary}")

    @Slot()
    def _on_load_task_finished(self) -> None:
        self.runs_loaded.emit()
