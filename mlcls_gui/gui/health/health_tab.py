"""Health tab: check a data folder for near copies across the split (leakage), near
copies with other labels, and outliers; exclude outliers (journaled, with Undo);
a map of the data whose box selection goes to Review; save the report and use it
for the split (``split_groups``).

The check (``core.health.check``), the exclusion and its undo run off the GUI thread
on one ``TaskRunner`` (one at a time: each reads or moves the same files); the
check has progress and Cancel. Apply and Undo emit ``data_changed(root)`` so the
data panel rescans, and mark the report stale."""

from __future__ import annotations

import dataclasses
import functools
import html
import logging
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from mlcls_gui.core.errors import MlclsError
from mlcls_gui.core.health.check import HealthOptions
from mlcls_gui.core.health.report import HealthReport
from mlcls_gui.gui.health.data_map_view import DataMapView
from mlcls_gui.gui.health.duplicate_groups_view import DuplicateGroupsView
from mlcls_gui.gui.health.health_rows import LEAK_COLOUR
from mlcls_gui.gui.health.health_text import default_report_path, run_check, summary_html, undo_status_of
from mlcls_gui.gui.health.outliers_view import OutliersView
from mlcls_gui.gui.widgets.dialogs import ask_save_file, show_error
from mlcls_gui.gui.widgets.task_runner import Job, TabJobs
from mlcls_gui.gui.widgets.thumbnails import ThumbnailLoader

logger = logging.getLogger(__name__)

CHECK = "check"  # the kind of job that Cancel stops (exclusion and its undo run to the end)
NO_FOLDER_TIP = "Choose a data folder in the Data tab first."
STALE_TEXT = "Check again: the data changed since this report."


class HealthTab(QWidget):
    open_image_requested = Signal(str)  # an image to try in Try the model
    review_requested = Signal(list)  # absolute image paths selected on the map
    data_changed = Signal(str)  # the data root, after images were excluded or the exclusion undone
    split_groups_chosen = Signal(str)  # a saved report to set as the training's split_groups
    check_finished = Signal()  # a check ended with a report

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.options = HealthOptions()
        self._root = ""
        self._model = ""
        self._model_chosen = False  # the user picked a model (or the extractor): Predict's no longer follows
        self._locked = False
        self._report: HealthReport | None = None
        self._stale = False
        self._saved_path = ""  # where this report was last saved
        self._checking_root = ""  # the folder the running check reads
        self.thumbs = ThumbnailLoader(self, name="health-thumbnails")
        self.last_error_box: QMessageBox | None = None
        self._build()
        self._update_controls()

    # ------------------------------------------------------------ layout
    def _build(self) -> None:
        self.root_label = QLabel()
        self.root_label.setWordWrap(True)
        self.model_label = QLabel()
        self.model_label.setWordWrap(True)
        self.model_button = QPushButton("Model…")
        self.model_button.setToolTip("Use a trained .pt model's features (and check the split it trained on).")
        self.model_button.clicked.connect(self._choose_model)
        self.extractor_button = QPushButton("Pretrained extractor")
        self.extractor_button.setToolTip("Use a pretrained ImageNet feature extractor (no download).")
        self.extractor_button.clicked.connect(lambda: self.choose_model(""))
        self.check_button = QPushButton("Check data health")
        self.check_button.setObjectName("checkHealth")
        self.check_button.clicked.connect(self.start_check)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        # One job at a time: the check, Apply or Undo.
        self._jobs = TabJobs("data-health", self.progress, parent=self)
        self._jobs.failed.connect(self._on_failed)
        self._jobs.finished.connect(self._update_controls)
        self.progress.setTextVisible(True)
        self.status = QLabel("Choose a data folder, then press Check data health.")
        self.status.setWordWrap(True)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.stale_label = QLabel(STALE_TEXT)
        self.stale_label.setStyleSheet("background: #fff3e0; color: #e65100; padding: 3px;")
        self.stale_label.hide()
        self.groups_view = DuplicateGroupsView(self.thumbs)
        self.outliers_view = OutliersView(self.thumbs)
        self.map_view = DataMapView(self.thumbs)
        self.inner_tabs = QTabWidget()
        self.inner_tabs.addTab(self.groups_view, "Near-duplicates")
        self.inner_tabs.addTab(self.outliers_view, "Outliers")
        self.inner_tabs.addTab(self.map_view, "Map")
        for view in (self.groups_view, self.outliers_view, self.map_view):
            view.open_image_requested.connect(self.open_image_requested)
        self.map_view.review_requested.connect(self.review_requested)
        self.outliers_view.checked_changed.connect(lambda _count: self._update_controls())
        self.outliers_view.apply_button.clicked.connect(self.apply_exclusions)
        self.outliers_view.undo_button.clicked.connect(self.undo_last_apply)
        self.save_button = QPushButton("Save report…")
        self.save_button.clicked.connect(lambda: self.save_report())
        self.use_button = QPushButton("Use for the split")
        self.use_button.setToolTip("Save the report and set the training's split_groups to it: each group of "
                                   "near copies then stays in one split.")
        self.use_button.clicked.connect(self.use_for_split)

        top = QHBoxLayout()
        top.addWidget(self.model_label, 1)
        top.addWidget(self.model_button)
        top.addWidget(self.extractor_button)
        run = QHBoxLayout()
        run.addWidget(self.check_button)
        run.addWidget(self.progress, 1)
        run.addWidget(self.cancel_button)
        bottom = QHBoxLayout()
        bottom.addStretch(1)
        bottom.addWidget(self.save_button)
        bottom.addWidget(self.use_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.root_label)
        layout.addLayout(top)
        layout.addLayout(run)
        layout.addWidget(self.status)
        layout.addWidget(self.summary)
        layout.addWidget(self.stale_label)
        layout.addWidget(self.inner_tabs, 1)
        layout.addLayout(bottom)

    # ------------------------------------------------------------ public
    def set_data_root(self, root: str) -> None:
        if root != self._root:
            self._root = root
            self.show_report(None)
            self.status.setText("Press Check data health." if root else
                                "Choose a data folder, then press Check data health.")
        self._update_controls()

    def data_root(self) -> str:
        return self._root

    def set_model_path(self, path: str | None) -> None:
        """The model opened in Predict: used unless the user chose one here."""
        if not self._model_chosen:
            self._model = path or ""
            self._update_controls()

    def choose_model(self, path: str) -> None:
        """The user's choice: a .pt model, or "" for the pretrained extractor."""
        self._model_chosen = True
        self._model = path
        self._update_controls()

    def model_path(self) -> str:
        return self._model

    def set_split_settings(self, val_fraction: float, test_fraction: float, seed: int) -> None:
        """The seeded split the check looks for leakage in (the Settings tab's)."""
        self.options = dataclasses.replace(self.options, val_fraction=val_fraction,
                                           test_fraction=test_fraction, seed=seed)

    def set_locked(self, locked: bool) -> None:
        """While a run trains on the data, Apply and Undo (which move its files) are off."""
        self._locked = locked
        self._update_controls()

    def is_busy(self) -> bool:
        return self._jobs.is_busy()

    def report(self) -> HealthReport | None:
        return self._report

    def is_stale(self) -> bool:
        return self._stale

    def start_check(self) -> None:
        if self.is_busy() or not self._root:
            return
        self.status.setText("Checking the data health…")
        options = dataclasses.replace(self.options, model=self._model)
        self._checking_root = self._root
        self._run(functools.partial(run_check, self._root, options), CHECK, self._on_checked)

    def cancel(self) -> None:
        if self._jobs.cancel(CHECK):
            self.status.setText("Cancelling…")

    def confirm_apply(self, count: int) -> bool:
        """Ask before moving files (the tests replace this)."""
        answer = QMessageBox.question(
            self, "Exclude images",
            f"Take {count} image(s) out of the data set? Label folders: each is moved into the folder "
            "excluded/ in the data folder; a labels CSV: its rows move into excluded_<its name> beside it. "
            "Nothing is deleted; Undo last apply brings them back.")
        return answer == QMessageBox.StandardButton.Yes

    def apply_exclusions(self) -> None:
        paths = self.outliers_view.checked_paths()
        if self.is_busy() or self._locked or not paths or not self.confirm_apply(len(paths)):
            return
        from mlcls_gui.core.review.exclude import exclude_images

        self.status.setText(f"Excluding {len(paths)} image(s)…")
        root = self._root
        self._run(lambda job: exclude_images(root, paths), "exclude", self._on_excluded)

    def undo_last_apply(self) -> None:
        if self.is_busy() or self._locked or not self._root:
            return
        from mlcls_gui.core.review.relabel import undo_last_apply

        self.status.setText("Undoing the last apply…")
        root = self._root
        self._run(lambda job: undo_last_apply(root), "exclude-undo", self._on_undone)

    def ask_report_path(self) -> str:
        """Where to save the report ("" = cancelled); the tests replace this."""
        assert self._report is not None
        return ask_save_file(self, "Save the health report", self._saved_path or default_report_path(
            self._report.root), "Health reports (*.json);;All files (*)")

    def save_report(self, path: str = "") -> str:
        """Write the report as JSON (asking where without ``path``); the path, or "" if not saved."""
        if self._report is None:
            return ""
        path = path or self.ask_report_path()
        if not path:
            return ""
        try:
            self._report.write_json(path)
        except MlclsError as exc:
            self._show_failure("Save the health report", str(exc), "")
            return ""
        self._saved_path = path
        self.status.setText(f"Report saved: {html.escape(path)}")
        return path

    def use_for_split(self) -> None:
        """Save the report if it is not yet, then name it as the training's split_groups."""
        path = self._saved_path or self.save_report()
        if path:
            self.split_groups_chosen.emit(path)

    def shutdown(self, msecs: int = 30_000) -> None:
        self._jobs.shutdown(msecs)
        self.thumbs.shutdown(msecs)

    # ------------------------------------------------------------ running
    def _run(self, work: Callable[[Job], Any], kind: str, on_done: Callable[[Any], None]) -> None:
        if self._jobs.start(work, kind, on_done):
            self._update_controls()

    def _on_checked(self, report: HealthReport | None) -> None:
        if report is None:
            self.status.setText("Cancelled.")
            return
        if self._checking_root != self._root:
            self.status.setText("The data folder changed during the check: press Check data health again.")
            return
        self.show_report(report)
        self.status.setText(f"Checked {len(report.images)} images. Double-click a thumbnail to try it in "
                            "Try the model.")
        self.check_finished.emit()

    def show_report(self, report: HealthReport | None) -> None:
        """Show ``report`` (a check's, or one made elsewhere); None clears the tab."""
        self._report = report
        self._stale = False
        self._saved_path = ""
        self.summary.setText(summary_html(report) if report else "")
        self.stale_label.hide()
        self.groups_view.set_report(report)
        self.outliers_view.set_report(report)
        self.map_view.set_report(report)
        if report is not None:
            self.inner_tabs.setTabText(0, f"Near-duplicates ({len(report.groups)})")
            flagged = sum(1 for outlier in report.outliers if outlier.flagged)
            self.inner_tabs.setTabText(1, f"Outliers ({flagged} flagged)")
        else:
            self.inner_tabs.setTabText(0, "Near-duplicates")
            self.inner_tabs.setTabText(1, "Outliers")
        self._update_controls()

    def _on_excluded(self, result) -> None:
        self.outliers_view.hide_paths({change.before for change in result.changed})
        notes = "".join(f"<br><small>{html.escape(note)}</small>" for note in result.notes)
        self.status.setText(f"Excluded {len(result.changed)} image(s) (moved, not deleted). "
                            f"Undo last apply brings them back.{notes}")
        self._data_changed()

    def _on_undone(self, result) -> None:
        back = {change.after for change in result.changed} | {change.before for change in result.changed}
        self.outliers_view.show_paths(back)
        self.status.setText(f"Undone: {len(result.changed)} image(s) are as before the last apply.")
        self._data_changed()

    def _data_changed(self) -> None:
        self.mark_stale()
        self.data_changed.emit(self._root)

    def mark_stale(self) -> None:
        """The data changed (an exclusion here, a relabel in Review): the report is out of date."""
        self.thumbs.forget()
        if self._report is not None:
            self._stale = True
            self.stale_label.show()

    @Slot(str, str)
    def _on_failed(self, summary: str, details: str) -> None:
        self._show_failure("Data health", summary, details)

    def _show_failure(self, title: str, summary: str, details: str) -> None:
        self.status.setText(f"<span style='color:{LEAK_COLOUR}'>{html.escape(summary)}</span>")
        self.last_error_box = show_error(self, title, summary, details)


    def _update_controls(self) -> None:
        busy = self.is_busy()
        self.root_label.setText(f"<b>Data:</b> {html.escape(self._root) or '(no data folder chosen)'}")
        self.model_label.setText(
            f"<b>Features:</b> {html.escape(self._model)}" if self._model else
            "<b>Features:</b> a pretrained ImageNet extractor (or choose a trained .pt model).")
        self.check_button.setEnabled(bool(self._root) and not busy)
        self.check_button.setToolTip("" if self._root else NO_FOLDER_TIP)
        self.cancel_button.setEnabled(busy and self._jobs.kind == CHECK)
        self.model_button.setEnabled(not busy)
        self.extractor_button.setEnabled(not busy and (bool(self._model) or not self._model_chosen))
        count = len(self.outliers_view.checked_paths())
        apply = self.outliers_view.apply_button
        apply.setText(f"Apply: exclude {count} image{'s' if count != 1 else ''}")
        apply.setEnabled(count > 0 and not busy and not self._locked)
        undo = undo_status_of(self._root) if self._root else None
        undo_button = self.outliers_view.undo_button
        undo_button.setText(undo.action if undo is not None and undo.offered and undo.action else "Undo last apply")
        undo_button.setEnabled(not busy and not self._locked and undo is not None and undo.offered)
        locked_tip = "A training run is reading this data; apply or undo when it has finished." if self._locked else ""
        apply.setToolTip(locked_tip)
        undo_button.setToolTip(locked_tip or (undo.reason if undo is not None else ""))
        has_report = self._report is not None and not busy
        self.save_button.setEnabled(has_report)
        self.use_button.setEnabled(has_report)

    def _choose_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Model for the health check", str(Path(self._root or ".")),
                                              "Model files (*.pt)")
        if path:
            self.choose_model(path)
