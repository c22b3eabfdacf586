"""Label tab: the data root's unlabelled images, each with the labels a model
suggests, the most useful first; accept with the keyboard, Apply, Undo, train again.

The queue (``core.labelling.queue.build_queue``), Apply and Undo run off the GUI
thread on one ``TabJobs`` (one at a time: each reads or moves the same files).
Rows reuse the Review tab's chips: the suggestion fills them, the confidence
is on each chip. Enter accepts the chips as they are and moves on; 0 accepts
"none of these labels". Only accepted images move on Apply (into their ``+``
folders, ``_no_label/`` for none, or into the labels CSV after a backup),
journaled so that Undo puts them back in ``unlabelled/``.
"""

from __future__ import annotations

import functools
import html
import logging
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
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

from mlcls_gui.core.labelling.ordering import ORDER_TITLES, ORDERS
from mlcls_gui.core.labelling.queue import DEFAULT_ORDER, LabelQueue
from mlcls_gui.gui.review.chip_list import ChipRowList
from mlcls_gui.gui.review.label_chips import ReviewRow
from mlcls_gui.gui.widgets.dialogs import show_error
from mlcls_gui.gui.widgets.task_runner import Job, TabJobs

logger = logging.getLogger(__name__)

QUEUE = "queue"  # the kind of job that Cancel stops (Apply and Undo run to the end)
ROWS_SHOWN = 60  # rows built at a time ("Show more"); the rest wait in the queue
CHUNK_SIZE = 20  # rows built per turn of the event loop


def run_queue(root: str, model: str, order: str, job: Job) -> LabelQueue | None:
    """Runs on the runner's thread; None when cancelled."""
    from mlcls_gui.core.labelling.queue import build_queue
    from mlcls_gui.core.review.label_review import ReviewCancelled

    try:
        return build_queue(root, model=model, order=order, on_progress=job.progress.set,
                           should_stop=job.cancel.is_set)
    except ReviewCancelled:
        return None


class LabellingTab(QWidget):
    data_changed = Signal(str)  # the data root, after an apply or an undo moved images
    train_requested = Signal(str)  # start a run on the new labels, warm-started from this model ("" none)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._root = ""
        self._model = ""
        self._locked = False
        self._queue: LabelQueue | None = None
        self._accepted: dict[str, tuple[str, ...]] = {}  # path -> the labels the user accepted
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
        self.order_box = QComboBox()
        for order in ORDERS:
            self.order_box.addItem(ORDER_TITLES[order], order)
        self.order_box.setCurrentIndex(ORDERS.index(DEFAULT_ORDER))
        self.order_box.setToolTip("Which image to ask about first. Measured with a simulated labeller "
                                  "(bench_labelling.py): most different first reached the best test mAP "
                                  "after 50, 100 and 200 labels, so it is the default.")
        self.load_button = QPushButton("Suggest labels")
        self.load_button.setObjectName("loadQueue")
        self.load_button.clicked.connect(self.load_queue)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self._jobs = TabJobs("labelling", self.progress, parent=self)
        self._jobs.failed.connect(self._on_failed)
        self._jobs.finished.connect(self._update_controls)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.legend = QLabel(
            "Filled chip = the label the image will get · ★ green border = suggested; each chip shows the "
            "model's confidence. Keys: ↑/↓ move, 1–9 toggle a label, Enter accepts the chips and moves on, "
            "0 = none of these labels.")
        self.legend.setWordWrap(True)
        self.list = ChipRowList(self._make_row, page_size=ROWS_SHOWN, chunk_size=CHUNK_SIZE,
                                thumbnails="labelling-thumbnails")
        self.list.rows_built.connect(self._update_controls)
        self.list.row_activated.connect(self.setFocus)
        self.list.row_labels_changed.connect(self._on_row_labels_changed)
        self.scroll = self.list.scroll
        self.accept_button = QPushButton("Accept")
        self.accept_button.setToolTip("Accept the current image's chips as they are and go to the next (Enter).")
        self.accept_button.clicked.connect(lambda: self.accept_current())
        self.none_button = QPushButton("None of these labels")
        self.none_button.setToolTip("The current image shows none of the labels (0).")
        self.none_button.clicked.connect(lambda: self.accept_current(none=True))
        self.more_button = QPushButton("Show more")
        self.more_button.clicked.connect(self.list.show_more)
        self.undo_button = QPushButton("Undo last apply")
        self.undo_button.clicked.connect(self.undo_last_apply)
        self.apply_button = QPushButton("Apply")
        self.apply_button.setObjectName("applyLabels")
        self.apply_button.clicked.connect(self.apply_accepted)
        self.train_button = QPushButton("Train on the new labels")
        self.train_button.setObjectName("trainOnNewLabels")
        self.train_button.clicked.connect(self._request_training)

        top = QHBoxLayout()
        top.addWidget(self.model_label, 1)
        top.addWidget(self.model_button)
        top.addWidget(self.clear_model_button)
        run = QHBoxLayout()
        run.addWidget(QLabel("Order:"))
        run.addWidget(self.order_box)
        run.addWidget(self.load_button)
        run.addWidget(self.progress, 1)
        run.addWidget(self.cancel_button)
        answer = QHBoxLayout()
        answer.addWidget(self.accept_button)
        answer.addWidget(self.none_button)
        answer.addWidget(self.more_button)
        answer.addStretch(1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.undo_button)
        bottom.addStretch(1)
        bottom.addWidget(self.apply_button)
        bottom.addWidget(self.train_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.root_label)
        layout.addLayout(top)
        layout.addLayout(run)
        layout.addWidget(self.status)
        layout.addWidget(self.legend)
        layout.addWidget(self.list, 1)
        layout.addLayout(answer)
        layout.addLayout(bottom)

    # ------------------------------------------------------------ public
    def set_data_root(self, root: str) -> None:
        if root != self._root:
            self._root = root
            self._queue = None
            self._accepted.clear()
            self._refill()
            self.status.setText("Press Suggest labels to list the images of unlabelled/ with suggested labels."
                                if root else "Choose a data folder in the Data tab first.")
        self._update_controls()

    def set_model_path(self, path: str | None) -> None:
        """The model whose suggestions fill the chips; a new one (a run on the new labels
        just finished) refreshes a loaded queue, keeping what was accepted."""
        path = path or ""
        changed = path != self._model
        self._model = path
        self._update_controls()
        if changed and self._queue is not None and not self.is_busy():
            self.load_queue()

    def set_locked(self, locked: bool) -> None:
        """While a run trains on the data, Apply and Undo (which move its files) are off."""
        self._locked = locked
        self._update_controls()

    def is_busy(self) -> bool:
        return self._jobs.is_busy()

    def queue(self) -> LabelQueue | None:
        return self._queue

    def rows(self) -> list[ReviewRow]:
        return self.list.rows()

    def current_row(self) -> ReviewRow | None:
        return self.list.current_row()

    def accepted(self) -> dict[str, tuple[str, ...]]:
        return dict(self._accepted)

    def load_queue(self) -> None:
        if self.is_busy() or not self._root:
            return
        self.status.setText("Suggesting labels…")
        order = self.order_box.currentData()
        self._run(functools.partial(run_queue, self._root, self._model, order), QUEUE, self._on_queue_done)

    def cancel(self) -> None:
        if self._jobs.cancel(QUEUE):
            self.status.setText("Cancelling…")

    def accept_current(self, *, none: bool = False) -> None:
        row = self.current_row()
        if row is None:
            return
        if none:
            row.set_labels(())
        self._accepted[row.path] = row.new_labels()
        row.set_accepted(True)
        self.list.move(1)
        self._update_controls()

    def confirm_apply(self, count: int) -> bool:
        """Ask before moving files (the tests replace this)."""
        answer = QMessageBox.question(
            self, "Apply labels",
            f"Move {count} accepted image(s) out of unlabelled/ into the folders of their labels "
            "(_no_label/ for none of the labels; a labels CSV is rewritten after a backup)? "
            "Nothing is copied, deleted or overwritten; Undo last apply puts them back.")
        return answer == QMessageBox.StandardButton.Yes

    def apply_accepted(self) -> None:
        changes = dict(self._accepted)
        if self.is_busy() or self._locked or not changes or not self.confirm_apply(len(changes)):
            return
        from mlcls_gui.core.review.relabel import apply_label_changes

        self.status.setText(f"Applying {len(changes)} label(s)…")
        root = self._root
        self._run(lambda job: apply_label_changes(root, changes), "label-apply", self._on_applied)

    def undo_last_apply(self) -> None:
        if self.is_busy() or self._locked or not self._root:
            return
        from mlcls_gui.core.review.relabel import undo_last_apply

        self.status.setText("Undoing the last apply…")
        root = self._root
        self._run(lambda job: undo_last_apply(root), "label-undo", self._on_undone)

    def shutdown(self, msecs: int = 30_000) -> None:
        self._jobs.shutdown(msecs)
        self.list.shutdown(msecs)

    # ------------------------------------------------------------ keyboard
    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        row = self.current_row()
        if key in (Qt.Key.Key_Down, Qt.Key.Key_Right):
            self.list.move(1)
        elif key in (Qt.Key.Key_Up, Qt.Key.Key_Left):
            self.list.move(-1)
        elif Qt.Key.Key_1 <= key <= Qt.Key.Key_9 and row is not None:
            row.toggle(key - Qt.Key.Key_0)
        elif key == Qt.Key.Key_0 and row is not None:
            self.accept_current(none=True)
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and row is not None:
            self.accept_current()
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    # ------------------------------------------------------------ running
    def _run(self, work: Callable[[Job], Any], kind: str, on_done: Callable[[Any], None]) -> None:
        if self._jobs.start(work, kind, on_done):
            self._update_controls()

    def _on_queue_done(self, queue: LabelQueue | None) -> None:
        if queue is None:
            self.status.setText("Cancelled.")
            return
        self._queue = queue
        waiting = {item.path for item in queue.items}
        self._accepted = {path: labels for path, labels in self._accepted.items() if path in waiting}
        unreadable = (f" {len(queue.unreadable)} file(s) could not be read and are left where they are "
                      f"(e.g. {html.escape(Path(next(iter(queue.unreadable))).name)}: "
                      f"{html.escape(next(iter(queue.unreadable.values())))})." if queue.unreadable else "")
        self.status.setText(
            f"{len(queue.items)} unlabelled image(s), {html.escape(ORDER_TITLES[queue.order].lower())}; "
            f"suggestions from {html.escape(queue.source)}.{unreadable}")
        self._refill()

    def _on_applied(self, result) -> None:
        moved = {c.before for c in result.changed}
        self._accepted = {p: labels for p, labels in self._accepted.items() if p not in moved}
        if self._queue is not None:
            self._queue.items = [item for item in self._queue.items if item.path not in moved]
        backup = f"; backup of the CSV: {result.csv_backup}" if result.csv_backup else ""
        self.status.setText(f"Labelled {len(result.changed)} image(s){backup}. Undo last apply puts them back; "
                            "Train on the new labels trains a model that knows them.")
        self._refill()
        self.data_changed.emit(self._root)

    def _on_undone(self, result) -> None:
        self.status.setText(f"Undone: {len(result.changed)} image(s) are back where they were. "
                            "Press Suggest labels to list them again.")
        self.data_changed.emit(self._root)

    @Slot(str, str)
    def _on_failed(self, summary: str, details: str) -> None:
        self.status.setText(f"<span style='color:#c62828'>{html.escape(summary)}</span>")
        self.last_error_box = show_error(self, "Label", summary, details)

    def _request_training(self) -> None:
        if not self.is_busy() and not self._locked and self._root:
            self.train_requested.emit(self._model if self._model.endswith(".pt") else "")

    # ------------------------------------------------------------ the list
    def _refill(self) -> None:
        self.list.set_items(self._queue.items if self._queue else [])

    def _make_row(self, rank: int, item) -> ReviewRow:
        queue = self._queue
        probabilities = dict(zip(queue.labels, item.confidences))
        view = SimpleNamespace(path=item.path, probabilities=probabilities, given=(), suggested=item.suggested,
                               flagged=False, score=item.margin, split="unlabelled")
        sure = ", ".join(f"{label} {p:.2f}" for label, p in probabilities.items() if not math.isnan(p)
                         and label in item.suggested)
        title = (f"<b>#{rank}</b> · {html.escape(Path(item.path).name)}<br>suggested "
                 f"<b>{html.escape('+'.join(item.suggested) or 'none of the labels')}</b>"
                 + (f" <span style='color:#757575'>({html.escape(sure)})</span>" if sure else ""))
        accepted = self._accepted.get(item.path)
        row = ReviewRow(rank, view, queue.labels, item.suggested if accepted is None else accepted,
                        title_html=title, none_allowed=True)
        row.set_accepted(accepted is not None)
        row.title.setToolTip(item.path)
        return row

    @Slot(str, object)
    def _on_row_labels_changed(self, path: str, labels: tuple[str, ...]) -> None:
        if path in self._accepted:  # changed after accepting: the new chips are the answer
            self._accepted[path] = labels

    def _update_controls(self) -> None:
        from mlcls_gui.core.review.relabel import undo_status

        busy = self.is_busy()
        self.root_label.setText(f"<b>Data:</b> {html.escape(self._root or '(no data folder chosen)')}")
        self.model_label.setText(
            f"<b>Suggestions from:</b> {html.escape(self._model)}" if self._model else
            "<b>Suggestions from:</b> no model yet — a linear probe on pretrained features over the images "
            "labelled so far (seconds; no training).")
        self.load_button.setEnabled(bool(self._root) and not busy)
        self.cancel_button.setEnabled(busy and self._jobs.kind == QUEUE)
        self.model_button.setEnabled(not busy)
        self.clear_model_button.setEnabled(not busy and bool(self._model))
        has_row = self.current_row() is not None
        self.accept_button.setEnabled(has_row)
        self.none_button.setEnabled(has_row)
        count = len(self._accepted)
        self.apply_button.setText(f"Apply {count} label(s)" if count else "Apply")
        self.apply_button.setEnabled(count > 0 and not busy and not self._locked)
        undo = undo_status(self._root) if self._root else None
        self.undo_button.setEnabled(not busy and not self._locked and undo is not None and undo.offered)
        locked_tip = "A training run is reading this data; apply or undo when it has finished." if self._locked else ""
        self.apply_button.setToolTip(locked_tip)
        self.undo_button.setToolTip(locked_tip or (undo.reason if undo is not None else ""))
        self.train_button.setEnabled(bool(self._root) and not busy and not self._locked)
        self.train_button.setToolTip(
            locked_tip or ("Start a run on the data as it is now, warm-started from "
                           f"{Path(self._model).name} (its weights; a new label gets a new classifier row)."
                           if self._model.endswith(".pt") else
                           "Start a run on the data as it is now, with the Settings tab's settings."))
        self.more_button.setVisible(self.list.has_more())

    def _choose_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Model for the suggestions", str(Path(self._root or ".")),
                                              "Model files (*.pt *.onnx)")
        if path:
            self.set_model_path(path)
