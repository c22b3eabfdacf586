"""Review tab: find likely label mistakes, fix them with the keyboard, apply, undo.

The finder (``core.review.label_review``), Apply and Undo run off the GUI thread on
one ``TaskRunner`` (one at a time: each reads or moves the same files), with
progress and Cancel for the finder. The ranked images show as rows of
thumbnail + label chips; arrows move, number keys toggle the current image's
labels, Enter accepts the suggestion and moves on. Apply moves each changed
image into its new label folder (or rewrites the labels CSV) and journals it;
Undo reverses the last apply. Both emit ``data_changed(root)`` so the data panel rescans.
"""

from __future__ import annotations

import dataclasses
import functools
import html
import logging
import os
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from mlcls_gui.core.review.label_review import ReviewReport
from mlcls_gui.core.review.options import TIME_NOTE, ReviewOptions
from mlcls_gui.gui.review.chip_list import ChipRowList
from mlcls_gui.gui.review.label_chips import ReviewRow
from mlcls_gui.gui.review.review_saliency import ReviewOverlays
from mlcls_gui.gui.widgets.dialogs import show_error
from mlcls_gui.gui.widgets.task_runner import Job, TabJobs

logger = logging.getLogger(__name__)

PAGE_SIZE = 100  # rows per page ("Show more"): thousands of chip rows would slow the tab down
# Rows built per turn of the event loop: a page of 100 at once froze the window
# about 0.3 s when a review ended and after each Apply, Undo or filter change.
CHUNK_SIZE = 20
ALL_LABELS = "All labels"
REVIEW = "review"  # the kind of job that Cancel stops (Apply and Undo run to the end)


def run_review(root: str, model: str | None, options: ReviewOptions, job: Job) -> ReviewReport:
    """Runs on the runner's thread."""
    from mlcls_gui.core.review.label_review import review_labels

    return review_labels(root, model_path=model, options=options, on_progress=job.progress.set,
                         should_stop=job.cancel.is_set)


class ReviewTab(QWidget):
    data_changed = Signal(str)  # the data root, after an apply or an undo changed it
    review_finished = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.options = ReviewOptions()
        self._root = ""
        self._model = ""
        self._locked = False  # a training run reads the data: nothing may move under it
        self._report: ReviewReport | None = None
        self._edits: dict[str, tuple[str, ...]] = {}  # path -> new labels, for changed images
        self._ranks: dict[str, int] = {}  # path -> its rank in the whole report
        self._only: set[str] | None = None  # show_only's images (absolute paths), or None: all
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
        self.model_button.clicked.connect(self._choose_model)
        self.clear_model_button = QPushButton("No model")
        self.clear_model_button.clicked.connect(lambda: self.set_model_path(None))
        self.find_button = QPushButton("Find label issues")
        self.find_button.setObjectName("findIssues")
        self.find_button.clicked.connect(self.start_review)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        # One job at a time: the review, Apply or Undo.
        self._jobs = TabJobs("label-review", self.progress, parent=self)
        self._jobs.failed.connect(self._on_failed)
        self._jobs.finished.connect(self._update_controls)
        self.progress.setTextVisible(True)
        self.status = QLabel("Choose a data folder, then press Find label issues.")
        self.status.setWordWrap(True)
        self.filter_box = QComboBox()
        self.filter_box.currentIndexChanged.connect(self._refill)
        self.flagged_only = QCheckBox("Flagged by cleanlab only")
        self.flagged_only.toggled.connect(self._refill)
        self.list = ChipRowList(self._make_row, page_size=PAGE_SIZE, chunk_size=CHUNK_SIZE,
                                thumbnails="review-thumbnails")
        self.list.rows_built.connect(self._on_rows_built)
        self.list.row_activated.connect(self.setFocus)
        self.list.row_labels_changed.connect(self._on_row_labels_changed)
        self.scroll = self.list.scroll
        self.overlays = ReviewOverlays(self.list.rows, self)
        self.legend = QLabel(
            "Filled chip = label the image will have · • = given · ★ green border = suggested. "
            "Keys: ↑/↓ move, 1–9 toggle a label, Enter accepts the suggestion.")
        self.legend.setWordWrap(True)
        self.only_label = QLabel()
        self.only_label.setStyleSheet("background: #e3f2fd; padding: 3px;")
        self.show_all_button = QPushButton("Show all")
        self.show_all_button.clicked.connect(lambda: self.show_only(None))
        self.more_button = QPushButton("Show more")
        self.more_button.clicked.connect(self.list.show_more)
        self.apply_button = QPushButton("Apply")
        self.apply_button.setObjectName("applyChanges")
        self.apply_button.clicked.connect(self.apply_changes)
        self.undo_button = QPushButton("Undo last apply")
        self.undo_button.clicked.connect(self.undo_last_apply)

        top = QHBoxLayout()
        top.addWidget(self.model_label, 1)
        top.addWidget(self.model_button)
        top.addWidget(self.clear_model_button)
        run = QHBoxLayout()
        run.addWidget(self.find_button)
        run.addWidget(self.progress, 1)
        run.addWidget(self.cancel_button)
        filters = QHBoxLayout()
        filters.addWidget(QLabel("Show:"))
        filters.addWidget(self.filter_box)
        filters.addWidget(self.flagged_only)
        for widget in self.overlays.widgets():
            filters.addWidget(widget)
        filters.addStretch(1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.more_button)
        bottom.addStretch(1)
        bottom.addWidget(self.undo_button)
        bottom.addWidget(self.apply_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.root_label)
        layout.addLayout(top)
        layout.addLayout(run)
        layout.addWidget(self.status)
        layout.addLayout(filters)
        layout.addWidget(self.legend)
        only = QHBoxLayout()
        only.addWidget(self.only_label, 1)
        only.addWidget(self.show_all_button)
        layout.addLayout(only)
        layout.addWidget(self.list, 1)
        layout.addLayout(bottom)

    # ------------------------------------------------------------ public
    def set_data_root(self, root: str) -> None:
        if root != self._root:
            self._root = root
            self._report = None
            self._edits.clear()
            self._only = None
            self._refill()
            undo = _undo_status(root) if root else None
            if undo is not None and undo.reason:
                # A journal that came with the data (or was edited): say so at once, not only on hover.
                self.status.setText(undo.reason)
        self._update_controls()

    def set_model_path(self, path: str | None) -> None:
        self._model = path or ""
        self.overlays.set_model(self._model)
        self._update_controls()

    def data_root(self) -> str:
        return self._root

    def set_locked(self, locked: bool) -> None:
        """While a run trains on the data, Apply and Undo (which move its files) are off."""
        self._locked = locked
        self._update_controls()

    def is_busy(self) -> bool:
        return self._jobs.is_busy()

    def report(self) -> ReviewReport | None:
        return self._report

    def rows(self) -> list[ReviewRow]:
        return self.list.rows()

    def current_row(self) -> ReviewRow | None:
        return self.list.current_row()

    @property
    def _current(self) -> int:
        return self.list.current

    def show_only(self, paths: list[str] | None) -> None:
        """List only these images (e.g. a selection on the Health tab's map); None: all again."""
        self._only = {os.path.abspath(path) for path in paths} if paths is not None else None
        self._refill()

    def pending_changes(self) -> dict[str, tuple[str, ...]]:
        return dict(self._edits)

    def start_review(self) -> None:
        if self.is_busy() or not self._root:
            return
        self.status.setText("Finding label issues…")
        self._run(functools.partial(run_review, self._root, self._model or None, self.options),
                  REVIEW, self._on_review_done)

    def cancel(self) -> None:
        """Stop a running review (Apply and Undo are short and run to the end)."""
        if self._jobs.cancel(REVIEW):
            self.status.setText("Cancelling…")

    def confirm_apply(self, count: int) -> bool:
        """Ask before moving files (the tests replace this)."""
        answer = QMessageBox.question(
            self, "Apply label changes",
            f"Give {count} image(s) their new labels? Label folders: each image is moved (never "
            "copied, deleted or overwritten) into the folder of its new labels; a labels CSV is "
            "rewritten after a backup. Undo last apply reverses it.")
        return answer == QMessageBox.StandardButton.Yes

    def apply_changes(self) -> None:
        changes = {path: labels for path, labels in self._edits.items() if labels}
        if self.is_busy() or self._locked or not changes or not self.confirm_apply(len(changes)):
            return
        from mlcls_gui.core.review.relabel import apply_label_changes

        self.status.setText(f"Applying {len(changes)} label change(s)…")
        root = self._root
        self._run(lambda job: apply_label_changes(root, changes), "relabel", self._on_applied)

    def undo_last_apply(self) -> None:
        if self.is_busy() or self._locked or not self._root:
            return
        from mlcls_gui.core.review.relabel import undo_last_apply

        self.status.setText("Undoing the last apply…")
        root = self._root
        self._run(lambda job: undo_last_apply(root), "relabel-undo", self._on_undone)

    def shutdown(self, msecs: int = 30_000) -> None:
        self._jobs.shutdown(msecs)
        self.list.shutdown(msecs)
        self.overlays.shutdown(msecs)

    # ------------------------------------------------------------ keyboard
    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key in (Qt.Key.Key_Down, Qt.Key.Key_Right):
            self._move(1)
        elif key in (Qt.Key.Key_Up, Qt.Key.Key_Left):
            self._move(-1)
        elif Qt.Key.Key_1 <= key <= Qt.Key.Key_9 and self.current_row() is not None:
            self.current_row().toggle(key - Qt.Key.Key_0)
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.current_row() is not None:
            row = self.current_row()
            row.set_labels(row.item.suggested)
            self._move(1)
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    # ------------------------------------------------------------ running
    def _run(self, work: Callable[[Job], Any], kind: str, on_done: Callable[[Any], None]) -> None:
        if self._jobs.start(work, kind, on_done):
            self._update_controls()

    def _on_review_done(self, report: ReviewReport) -> None:
        if report.cancelled:
            self.status.setText("Cancelled.")
            return
        self._report = report
        self._edits.clear()
        self.overlays.set_labels(report.labels)
        self.filter_box.blockSignals(True)
        self.filter_box.clear()
        self.filter_box.addItems([ALL_LABELS, *report.labels])
        self.filter_box.blockSignals(False)
        notes = "".join(f"<br>{note}" for note in report.notes)
        self.status.setText(
            f"{len(report.items)} images ranked in {report.seconds:.0f} s, most suspicious first; "
            f"cleanlab flags {report.flagged_count}.<br><small>{report.method}{notes}</small>")
        self._refill()
        self.review_finished.emit()

    def _on_applied(self, result) -> None:
        self._take_changes(result.changed)
        renamed = f" ({result.renamed} renamed: the name was taken)" if result.renamed else ""
        backup = f"; backup of the CSV: {result.csv_backup}" if result.csv_backup else ""
        notes = "".join(f"<br><small>{html.escape(note)}</small>" for note in result.notes)
        self.status.setText(f"Relabelled {len(result.changed)} image(s){renamed}{backup}. "
                            f"Undo last apply reverses it.{notes}")
        self.data_changed.emit(self._root)

    def _on_undone(self, result) -> None:
        self._take_changes(result.changed)
        self.status.setText(f"Undone: {len(result.changed)} image(s) have their labels from before.")
        self.data_changed.emit(self._root)

    def _take_changes(self, changed) -> None:
        """Follow the files to their new places so the list stays usable, with the
        current image (or, gone from the filter, the one after it) still current and in view."""
        current = self.current_row()
        keep, keep_index = (current.path, self._current) if current is not None else ("", -1)
        if self._report is not None:
            moved = {c.before: c for c in changed}
            keep = moved[keep].after if keep in moved else keep
            items = []
            for item in self._report.items:
                change = moved.get(item.path)
                if change is not None:
                    item = dataclasses.replace(item, path=change.after, given=change.new_labels)
                items.append(item)
            self._report.items = items
        self._edits.clear()
        self._refill(keep, keep_index)

    @Slot(str, str)
    def _on_failed(self, summary: str, details: str) -> None:
        self.status.setText(f"<span style='color:#c62828'>{summary}</span>")
        self.last_error_box = show_error(self, "Review", summary, details)


    # ------------------------------------------------------------ the list
    def _filtered_items(self) -> list:
        if self._report is None:
            return []
        wanted = self.filter_box.currentText()
        items = self._report.items
        if wanted and wanted != ALL_LABELS:
            items = [i for i in items if wanted in i.given or wanted in i.suggested]
        if self.flagged_only.isChecked():
            items = [i for i in items if i.flagged]
        if self._only is not None:
            items = [i for i in items if os.path.abspath(i.path) in self._only]
        return items

    def _refill(self, keep: str = "", keep_index: int = -1) -> None:
        """Rebuild the list; ``keep``: the image to stay current and in view."""
        self._ranks = {item.path: rank for rank, item in enumerate(self._report.items, 1)} if self._report else {}
        self.list.set_items(self._filtered_items(), keep, keep_index)

    def _make_row(self, _position: int, item) -> ReviewRow:
        labels = self._report.labels if self._report else []
        return ReviewRow(self._ranks[item.path], item, labels, self._edits.get(item.path, item.given))

    @Slot()
    def _on_rows_built(self) -> None:
        self.overlays.refresh()
        self._update_controls()

    @Slot(str, object)
    def _on_row_labels_changed(self, path: str, labels: tuple[str, ...]) -> None:
        row = next((r for r in self.list.rows() if r.path == path), None)
        if row is not None and row.is_changed():
            self._edits[path] = labels
        else:
            self._edits.pop(path, None)
        self._update_controls()

    def _move(self, step: int) -> None:
        self.list.move(step)

    def _update_controls(self) -> None:
        busy = self.is_busy()
        self.root_label.setText(f"<b>Data:</b> {self._root or '(no data folder chosen)'}")
        trained = (f"{self.options.cross_fit} {self.options.train_arch} models are trained, each on "
                   "the images the others score," if self.options.cross_fit >= 2 else
                   f"a {self.options.train_arch} is trained")
        self.model_label.setText(
            f"<b>Model:</b> {self._model}" if self._model else
            f"<b>Model:</b> none — {trained} for the review first ({self.options.train_image_size} px, "
            f"{self.options.train_epochs} epochs). {TIME_NOTE}")
        self.find_button.setEnabled(bool(self._root) and not busy)
        self.cancel_button.setEnabled(busy and self._jobs.kind == REVIEW)
        self.model_button.setEnabled(not busy)
        self.clear_model_button.setEnabled(not busy and bool(self._model))
        changes = sum(1 for labels in self._edits.values() if labels)
        self.apply_button.setText(f"Apply {changes} change(s)" if changes else "Apply")
        self.apply_button.setEnabled(changes > 0 and not busy and not self._locked)
        undo = _undo_status(self._root) if self._root else None
        self.undo_button.setEnabled(not busy and not self._locked and undo is not None and undo.offered)
        locked_tip = "A training run is reading this data; apply or undo when it has finished." if self._locked else ""
        self.apply_button.setToolTip(locked_tip)
        self.undo_button.setToolTip(locked_tip or (undo.reason if undo is not None else ""))
        self.more_button.setVisible(self.list.has_more())
        count = len(self._only or ())
        self.only_label.setText(
            "" if self._only is None else f"Showing {len(self.list.items())} of the {count} images from the map."
            if self._report is not None else
            f"{count} images from the map: press Find label issues first; then only they are shown.")
        self.only_label.setVisible(self._only is not None)
        self.show_all_button.setVisible(self._only is not None)

    def _choose_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Model for the review", str(Path(self._root or ".")),
                                              "Model files (*.pt)")
        if path:
            self.set_model_path(path)


def _undo_status(root: str):
    from mlcls_gui.core.review.relabel import undo_status

    return undo_status(root)
