"""The output folder's earlier runs (previous_runs/): the disk they take, and pruning them.

Each run moves the folder's earlier files into previous_runs/<date-time>/, so
the folder grows with every run. This row beside the output folder says how
many earlier runs there are and how big they are (``outputs.archived_runs``,
walked off the GUI thread), and "Delete earlier runs…" asks first — keeping
the newest N the user chooses, or none — then calls
``outputs.prune_archived_runs``, also off the GUI thread. Only previous_runs/
is touched, never the current run's files; the button is off while a run
trains here, and a folder another process is training into is refused (the
core's rule, ``prune_archived_runs`` refuses it for every client).
"""

from __future__ import annotations

import html
import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from mlcls_gui.core.output_names import ARCHIVE_FOLDER
from mlcls_gui.core.runs.outputs import ArchivedRun, archived_runs, prune_archived_runs
from mlcls_gui.gui.widgets.dialogs import show_error
from mlcls_gui.gui.widgets.task_runner import TaskRunner

logger = logging.getLogger(__name__)

REFRESH_DELAY_MS = 300  # typing an output folder path: count once the typing pauses
DELETE_TIP = (f"Delete old runs from the output folder's {ARCHIVE_FOLDER}/ (asks first and lets you "
              "keep the newest). The current run's files are never touched.")


def format_size(size_bytes: int) -> str:
    if size_bytes >= 10**9:
        return f"{size_bytes / 1e9:.1f} GB"
    if size_bytes >= 10**7:
        return f"{size_bytes / 1e6:.0f} MB"
    return f"{size_bytes / 1e6:.1f} MB"


class PruneDialog(QDialog):
    """Which earlier runs to delete: all but the newest N (N may be 0)."""

    def __init__(self, folder: str, runs: list[ArchivedRun], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Delete earlier runs")
        self._runs = runs
        total = sum(run.size_bytes for run in runs)
        intro = QLabel(
            f"<b>{html.escape(str(Path(folder) / ARCHIVE_FOLDER))}</b> holds {len(runs)} earlier "
            f"run(s), {format_size(total)} in all. The current run's files (outside "
            f"{ARCHIVE_FOLDER}/) are never touched.")
        intro.setWordWrap(True)
        self.keep_spin = QSpinBox()
        self.keep_spin.setRange(0, len(runs))
        self.keep_spin.setValue(1 if len(runs) > 1 else 0)
        self.keep_spin.setSuffix(" newest")
        keep_row = QHBoxLayout()
        keep_row.addWidget(QLabel("Keep the"))
        keep_row.addWidget(self.keep_spin)
        keep_row.addWidget(QLabel("run(s); 0 deletes them all."))
        keep_row.addStretch(1)
        self.run_list = QListWidget()
        self.run_list.setSelectionMode(QListWidget.SelectionMode.NoSelection)
        self.verdict_label = QLabel()
        self.verdict_label.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.delete_button = self.buttons.addButton("Delete", QDialogButtonBox.ButtonRole.DestructiveRole)
        self.delete_button.clicked.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(keep_row)
        layout.addWidget(self.run_list, 1)
        layout.addWidget(self.verdict_label)
        layout.addWidget(self.buttons)
        self.keep_spin.valueChanged.connect(self._on_keep_spin_value_changed)
        self._on_keep_spin_value_changed(self.keep_spin.value())
        self.resize(520, 380)

    def keep(self) -> int:
        return self.keep_spin.value()

    def deleted(self) -> list[ArchivedRun]:
        return self._runs[self.keep():]

    @Slot(int)
    def _on_keep_spin_value_changed(self, keep: int) -> None:
        self.run_list.clear()
        for index, run in enumerate(self._runs):  # newest first
            fate = "kept" if index < keep else "deleted"
            self.run_list.addItem(f"{run.path.name}    {format_size(run.size_bytes)}    — {fate}")
            if fate == "deleted":
                self.run_list.item(index).setForeground(Qt.GlobalColor.darkRed)
        doomed = self.deleted()
        size = sum(run.size_bytes for run in doomed)
        self.verdict_label.setText(
            f"Deletes {len(doomed)} of {len(self._runs)} earlier run(s), {format_size(size)}; "
            f"keeps {min(keep, len(self._runs))}. This cannot be undone." if doomed
            else "Nothing to delete with this choice.")
        self.delete_button.setEnabled(bool(doomed))


class ArchivePanel(QWidget):
    """'Earlier runs: 3 in previous_runs/, 897 MB  [Delete earlier runs…]'."""

    sizes_shown = Signal()  # a count ended and is shown
    pruned = Signal(int)  # runs deleted

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._folder = ""
        self._runs: list[ArchivedRun] = []
        self._counted_folder = ""
        self._running = False
        self._count_runner = TaskRunner("archive-size", parent=self)
        self._count_runner.done.connect(self._on_count_task_done)
        self._count_runner.failed.connect(self._on_count_task_failed)
        self._count_runner.finished.connect(self._after_task)
        self._prune_runner = TaskRunner("archive-prune", parent=self)
        self._prune_runner.done.connect(self._on_prune_task_done)
        self._prune_runner.failed.connect(self._on_prune_task_failed)
        self._prune_runner.finished.connect(self._on_prune_task_finished)
        self._recount = False
        self._counting_folder = ""
        self.last_error_box: QMessageBox | None = None
        self.size_label = QLabel("—")
        self.size_label.setObjectName("archiveSizeLabel")
        self.size_label.setWordWrap(True)
        self.delete_button = QPushButton("Delete earlier runs…")
        self.delete_button.setToolTip(DELETE_TIP)
        self.delete_button.clicked.connect(self._on_delete_button_clicked)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.size_label, 1)
        layout.addWidget(self.delete_button)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(REFRESH_DELAY_MS)
        self._timer.timeout.connect(self.refresh)
        self._update_button()

    # -------------------------------------------------------------- public
    def set_folder(self, folder: str) -> None:
        """The output folder the form shows; counted once the typing pauses."""
        if folder != self._folder:
            self._folder = folder
            self._timer.start()

    def folder(self) -> str:
        return self._folder

    def set_running(self, running: bool) -> None:
        """No pruning while a run trains; count again when it ends (it archived the earlier files)."""
        was_running, self._running = self._running, running
        self._update_button()
        if was_running and not running:
            self.refresh()

    def runs(self) -> list[ArchivedRun]:
        """The earlier runs last counted (newest first)."""
        return list(self._runs)

    def is_busy(self) -> bool:
        return self._tasks_running() or self._timer.isActive()

    def refresh(self) -> None:
        """Count the earlier runs and their size off the GUI thread."""
        self._timer.stop()
        if self._tasks_running():
            self._recount = True
            return
        folder = self._folder
        if not folder:
            self._show([], "")
            return
        if not self._runs:
            self.size_label.setText("Earlier runs: counting…")
        self._counting_folder = folder
        self._count_runner.start(lambda _job: archived_runs(folder))
        self._update_button()

    def confirm_prune(self, runs: list[ArchivedRun]) -> int | None:
        """Ask how many of the newest to keep; None: cancelled. Tests replace this method."""
        dialog = PruneDialog(self._counted_folder, runs, self)
        return dialog.keep() if dialog.exec() == QDialog.DialogCode.Accepted else None

    def prune(self, keep: int) -> bool:
        """Delete all but the ``keep`` newest earlier runs (off the GUI thread)."""
        if self._running or self._prune_runner.is_busy() or not self._counted_folder:
            return False
        folder = self._counted_folder
        logger.info("Deleting the earlier runs in %s, keeping the newest %d", folder, keep)
        self.size_label.setText("Earlier runs: deleting…")
        self._prune_runner.start(lambda _job: prune_archived_runs(folder, keep))
        self._update_button()
        return True

    def shutdown(self, msecs: int = 30_000) -> None:
        self._timer.stop()
        for runner in (self._count_runner, self._prune_runner):
            runner.shutdown(msecs)

    # ------------------------------------------------------------ internal
    def _show(self, runs: list[ArchivedRun], folder: str) -> None:
        self._runs, self._counted_folder = runs, folder
        if not folder:
            self.size_label.setText("—")
        elif not runs:
            self.size_label.setText(f"Earlier runs: none in {ARCHIVE_FOLDER}/")
        else:
            total = sum(run.size_bytes for run in runs)
            self.size_label.setText(
                f"Earlier runs: <b>{len(runs)}</b> in {ARCHIVE_FOLDER}/, <b>{format_size(total)}</b>")
        self.size_label.setToolTip("\n".join(
            f"{run.path.name}: {format_size(run.size_bytes)}" for run in runs) or "")
        self._update_button()

    def _tasks_running(self) -> bool:
        return self._count_runner.is_busy() or self._prune_runner.is_busy()

    def _update_button(self) -> None:
        idle = not self._tasks_running()
        self.delete_button.setEnabled(idle and not self._running and bool(self._runs))
        self.delete_button.setToolTip("Not while a run trains." if self._running else DELETE_TIP)

    @Slot()
    def _on_delete_button_clicked(self) -> None:
        runs = self.runs()
        if not runs or self._running:
            return
        keep = self.confirm_prune(runs)
        if keep is not None:
            self.prune(keep)

    @Slot(object)
    def _on_count_task_done(self, runs: Any) -> None:
        folder = self._counting_folder
        if folder == self._folder:  # not a folder the user has since moved away from
            self._show(list(runs), folder)
        else:
            self._recount = True

    @Slot(str, str)
    def _on_count_task_failed(self, summary: str, details: str) -> None:
        logger.warning("Could not count the earlier runs: %s", summary)
        self.size_label.setText("Earlier runs: could not be counted")

    @Slot(object)
    def _on_prune_task_done(self, removed: Any) -> None:
        self.pruned.emit(len(removed))

    @Slot(str, str)
    def _on_prune_task_failed(self, summary: str, details: str) -> None:
        self.last_error_box = show_error(self, "Cannot delete the earlier runs", summary, details)

    @Slot()
    def _on_prune_task_finished(self) -> None:
        self._recount = True
        self._after_task()

    @Slot()
    def _after_task(self) -> None:
        if self._recount:
            self._recount = False
            self.refresh()
        else:
            self._update_button()
            self.sizes_shown.emit()
