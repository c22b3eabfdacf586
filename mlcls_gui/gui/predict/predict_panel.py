"""Try a model on new images: drop, open or paste them; see per-label confidences.

The model is the run's final model (handed over by the main window) or a
model file the user opens. Loading the model, reading the images and the
inference all run off the GUI thread (``TaskRunner``); one job at a time,
later requests queue. A model chosen while another is still loading wins:
the earlier load is replaced without waiting (its thread finishes on its own,
its result is ignored), so the window never waits for it. Files that are not images,
folders without images and corrupt images are named in the panel's message
area with the reason. Each card can lay a label's saliency map over its
thumbnail (computed in the background: ``saliency_view.CardOverlays``).
"""

from __future__ import annotations

import html
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTemporaryDir, QUrl, Signal, Slot
from PySide6.QtGui import (
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QImage,
    QKeySequence,
    QShortcut,
)
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from mlcls_gui.gui.predict.prediction_card import CARD_MIN_WIDTH, THUMBNAIL_SIZE, PredictionCard
from mlcls_gui.gui.widgets.saliency_view import CardOverlays, saliency_unavailable
from mlcls_gui.gui.widgets.saliency_viewer import SaliencyViewer
from mlcls_gui.gui.widgets.task_runner import TaskRunner
from mlcls_gui.gui.widgets.thumbnails import make_thumbnail
from mlcls_gui.gui.widgets.wheel_guard import guard_wheel

logger = logging.getLogger(__name__)

CHUNK_SIZE = 8
MAX_CARDS = 200
# Exported .onnx files too: Predictor.from_file runs them with onnxruntime.
MODEL_FILE_FILTER = ("Model files (*.pt *.pth *.onnx);;mlcls-gui model (*.pt *.pth);;"
                     "Exported ONNX model (*.onnx);;All files (*)")
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif *.webp *.tif *.tiff);;All files (*)"


@dataclass
class PredictionResult:
    """What one inference job hands back to the GUI thread."""

    predictions: list[Any] = field(default_factory=list)  # core.inference.predict.Prediction
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    thumbnails: dict[str, QImage] = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)
    cancelled: bool = False


def load_predictor(path: str) -> Any:
    """Runs on a background thread (imports torch, reads the weights)."""
    from mlcls_gui.core.inference.predict import Predictor

    return Predictor.from_file(path, device="cpu")


def run_predictions(predictor: Any, inputs: list[str], cancel: threading.Event) -> PredictionResult:
    """Runs on a background thread: expand folders, predict in chunks, make thumbnails."""
    from mlcls_gui.core.inference.predict import expand_image_paths

    images, rejected = expand_image_paths(inputs)
    result = PredictionResult(rejected=list(rejected), labels=list(predictor.labels))
    if len(images) > MAX_CARDS:
        result.rejected.append(
            (f"{len(images) - MAX_CARDS} more image(s)", f"only the first {MAX_CARDS} are shown"))
        images = images[:MAX_CARDS]
    for start in range(0, len(images), CHUNK_SIZE):
        if cancel.is_set():
            result.cancelled = True
            break
        result.predictions.extend(predictor.predict_paths(images[start:start + CHUNK_SIZE]))
    for prediction in result.predictions:
        if prediction.ok:
            result.thumbnails[prediction.path] = make_thumbnail(prediction.path, THUMBNAIL_SIZE)
    return result


class PredictPanel(QWidget):
    """Drop zone, model choice, threshold and the list of prediction cards."""

    model_loaded = Signal(str)  # the model file now in use
    predictions_shown = Signal()  # a job ended and its cards / messages are shown
    saliency_shown = Signal(str, str)  # image path, label: a card now has that overlay

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self._predictor: Any = None
        self._model_path = ""
        self._loader = TaskRunner("load-model", self)
        self._loader.done.connect(self._on_model_task_done)
        self._loader.failed.connect(self._on_model_task_failed)
        self._loader.finished.connect(self._on_model_task_finished)
        self.saliency = CardOverlays(lambda: self.cards, THUMBNAIL_SIZE, self)
        self.saliency.shown.connect(self.saliency_shown)
        self._jobs = TaskRunner("predict", self)
        self._jobs.done.connect(self._on_job_done)
        self._jobs.failed.connect(self._on_job_failed)
        self._jobs.finished.connect(self._on_job_finished)
        self._queue: list[list[str]] = []
        self._waiting_for_model: list[str] = []
        self._shown_inputs: list[str] = []
        self._messages: list[str] = []
        # Made at the first paste: a folder per window that never pastes was left behind
        # whenever the panel outlived Qt's clean-up (e.g. at interpreter exit).
        self._paste_dir: QTemporaryDir | None = None
        self._paste_count = 0
        self._loading_model_path = ""
        self._job_inputs: list[str] = []
        self._model_thresholds: dict[str, float] = {}
        # The user turned Per-label off: a single threshold, kept for the next model (a run's, say).
        self._single_threshold_chosen = False
        self._loading_thresholds = False
        self.cards: list[PredictionCard] = []
        self._saliency_viewer: SaliencyViewer | None = None  # an overlay opened large, made when first asked for

        self._model_text = "No model yet: train one, or open a model file (.pt, or an exported .onnx)."
        self.model_label = QLabel(self._model_text)
        self.model_label.setWordWrap(True)
        self.open_model_button = QPushButton("Open model…")
        self.open_model_button.setToolTip(
            "Use a model file written by mlcls-gui (final_model.pt or a checkpoint) or exported from it (.onnx).")
        self.open_model_button.clicked.connect(self.open_model)
        self.add_button = QPushButton("Add images…")
        self.add_button.clicked.connect(self._on_add_button_clicked)
        self.paste_button = QPushButton("Paste")
        self.paste_button.setToolTip("Predict an image or image files from the clipboard (Ctrl+V).")
        self.paste_button.clicked.connect(self._on_paste_button_clicked)
        self.clear_button = QPushButton("Clear")
        self.clear_button.clicked.connect(self._on_clear_button_clicked)
        self.threshold_spin = QDoubleSpinBox()
        self.threshold_spin.setRange(0.01, 0.99)
        self.threshold_spin.setSingleStep(0.05)
        self.threshold_spin.setDecimals(2)
        self.threshold_spin.setValue(0.5)
        self.threshold_spin.setToolTip("A label is predicted when its confidence is at least this value.")
        self.threshold_spin.valueChanged.connect(self._on_threshold_spin_value_changed)
        guard_wheel(self.threshold_spin)
        self.per_label_check = QCheckBox("Per-label")
        self.per_label_check.setToolTip(
            "Use the model's own threshold for each label (tuned on the validation images at "
            "the end of training). Off: one threshold for every label.")
        self.per_label_check.setEnabled(False)
        self.per_label_check.toggled.connect(self._on_per_label_check_toggled)

        model_row = QHBoxLayout()
        model_row.addWidget(self.model_label, 1)
        model_row.addWidget(self.open_model_button)
        tools = QHBoxLayout()
        tools.addWidget(self.add_button)
        tools.addWidget(self.paste_button)
        tools.addWidget(self.clear_button)
        tools.addStretch(1)
        # Its own row: one row of six controls made the panel too wide for 1280×720.
        threshold_row = QHBoxLayout()
        threshold_row.addWidget(QLabel("Threshold"))
        threshold_row.addWidget(self.threshold_spin)
        threshold_row.addWidget(self.per_label_check)
        threshold_row.addStretch(1)

        self.status_label = QLabel()
        self.status_label.setStyleSheet("color: #555;")
        self.status_label.setWordWrap(True)  # a long count must not widen the window
        self.message_label = QLabel()
        self.message_label.setObjectName("predictMessages")
        self.message_label.setWordWrap(True)
        self.message_label.setTextFormat(Qt.TextFormat.RichText)  # escaped text: show ' not &#x27;
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message_label.setStyleSheet(
            "color: #8a4b00; background: #fff4e5; border: 1px solid #f3d19c; padding: 4px;")
        self.message_label.hide()

        self.drop_hint = QLabel("Drop images or a folder of images here\n(or use Add images… / Paste)")
        self.drop_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.drop_hint.setStyleSheet(
            "color: #777; border: 2px dashed #bbb; border-radius: 8px; padding: 24px; font-size: 11pt;")
        self.cards_widget = QWidget()
        self.cards_layout = QVBoxLayout(self.cards_widget)
        self.cards_layout.setContentsMargins(0, 0, 0, 0)
        self.cards_layout.addWidget(self.drop_hint)
        self.cards_layout.addStretch(1)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setWidget(self.cards_widget)
        # Never so narrow that a card's decision column is cut off.
        self.scroll.setMinimumWidth(CARD_MIN_WIDTH + self.scroll.verticalScrollBar().sizeHint().width() + 4)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(model_row)
        layout.addLayout(tools)
        layout.addLayout(threshold_row)
        layout.addWidget(self.status_label)
        layout.addWidget(self.message_label)
        layout.addWidget(self.scroll, 1)

        paste = QShortcut(QKeySequence(QKeySequence.StandardKey.Paste), self)
        paste.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        paste.activated.connect(self._on_paste_button_clicked)
        self._update_buttons()

    # -------------------------------------------------------------- public
    def has_model(self) -> bool:
        return self._predictor is not None

    def model_path(self) -> str:
        return self._model_path

    def messages(self) -> list[str]:
        return list(self._messages)

    def is_busy(self) -> bool:
        return self._jobs.is_busy() or self._loader.is_busy() or bool(self._queue)

    @property
    def saliency_viewer(self) -> SaliencyViewer:
        # Made on first use: its colour bar needs the saliency code, which loads
        # PyTorch, and the window must not wait for that at launch.
        if self._saliency_viewer is None:
            self._saliency_viewer = SaliencyViewer(self)
        return self._saliency_viewer

    def show_saliency_large(self, path: str, label: str) -> None:
        """``label``'s saliency map of the image at ``path``, large, with its colour bar."""
        if self._predictor is not None:
            self.saliency_viewer.show_map(self._predictor, path, label)

    def is_computing_saliency(self) -> bool:
        return self.saliency.is_busy()

    def threshold(self) -> float:
        return self.threshold_spin.value()

    def thresholds(self) -> dict[str, float]:
        """The threshold each label is judged by now."""
        if self.per_label_check.isChecked() and self._model_thresholds:
            return dict(self._model_thresholds)
        labels = self._predictor.labels if self._predictor is not None else []
        return {label: self.threshold() for label in labels}

    def set_model_file(self, path: str) -> None:
        """Load ``path`` in the background; the panel uses it once loaded.

        Never waits: a load still running goes on beside the new one (a load
        cannot stop early), and its result is ignored."""
        if self._loader.is_busy():
            logger.info("Model load of %s abandoned: another model was chosen", self._loading_model_path)
        self.model_label.setText(f"Loading model {html.escape(path)} …")
        # Only the current load delivers, so the path it loads is kept here.
        self._loading_model_path = path
        # load_predictor is looked up at run time (tests replace it).
        self._loader.replace(lambda _j: load_predictor(path), overlap=True)
        self._update_buttons()

    def add_paths(self, paths: list[str]) -> None:
        """Predict these files / folders (what a drop, Open and Paste all call)."""
        paths = [str(p) for p in paths if str(p)]
        if not paths:
            return
        if self._predictor is None:
            self._waiting_for_model.extend(paths)
            if not self._loader.is_busy():
                self._set_messages(["No model yet: train one, or open a model file first. "
                                    f"{len(paths)} item(s) will be predicted once a model is loaded."])
            return
        self._queue.append(paths)
        self._start_next_job()

    def clear(self) -> None:
        for card in self.cards:
            self.cards_layout.removeWidget(card)
            card.deleteLater()
        self.cards = []
        self._shown_inputs = []
        self.saliency.clear()
        self._set_messages([])
        self.status_label.setText("")
        self.drop_hint.show()

    def shutdown(self, msecs: int = 30_000) -> None:
        """Cancel queued work and wait for the running threads (window closing)."""
        self._queue.clear()
        self._jobs.cancel()
        self.saliency.shutdown(msecs)
        if self._saliency_viewer is not None:
            self._saliency_viewer.shutdown(msecs)
        for runner in (self._jobs, self._loader):
            runner.shutdown(msecs)

    # ------------------------------------------------------------ drag/drop
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt API
        mime = event.mimeData()
        if mime.hasUrls() or mime.hasImage():
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt API
        mime = event.mimeData()
        event.acceptProposedAction()
        if mime.hasUrls():
            self.add_paths(_local_paths(mime.urls()))
        elif mime.hasImage():
            self._add_clipboard_image(QImage(mime.imageData()))

    # ---------------------------------------------------------------- jobs
    def _start_next_job(self) -> None:
        if self._jobs.is_busy() or not self._queue or self._predictor is None:
            self._update_buttons()
            return
        inputs = self._queue.pop(0)
        predictor = self._predictor  # the closure must not hold the panel
        self.status_label.setText(f"Predicting {len(inputs)} item(s) …")
        self._job_inputs = inputs
        self._jobs.start(lambda job: run_predictions(predictor, inputs, job.cancel))
        self._update_buttons()

    @Slot(object)
    def _on_job_done(self, result: PredictionResult) -> None:
        inputs = self._job_inputs
        messages = [
            f"<b>{html.escape(Path(path).name or path)}</b>: {html.escape(reason)}"
            for path, reason in result.rejected
        ]
        shown = 0
        new_cards = []
        for prediction in result.predictions:
            if not prediction.ok:
                messages.append(
                    f"<b>{html.escape(Path(prediction.path).name)}</b>: {html.escape(prediction.error)}")
                continue
            card = PredictionCard(prediction.path, prediction.probabilities,
                                  result.thumbnails.get(prediction.path, QImage()),
                                  {**{label: self.threshold() for label in prediction.probabilities},
                                   **self.thresholds()})
            self.saliency.attach(card)
            card.set_saliency_unavailable(saliency_unavailable(self._model_path))
            card.enlarge_requested.connect(self.show_saliency_large)
            new_cards.append(card)
            shown += 1
        for index, card in enumerate(new_cards):
            self.cards_layout.insertWidget(index, card)
        self.cards = new_cards + self.cards
        for path in inputs:
            if path not in self._shown_inputs:
                self._shown_inputs.append(path)
        if self.cards:
            self.drop_hint.hide()
        self._set_messages(messages)
        skipped = len(messages)
        # Counts what is on screen, not only the images just given (a drop, Add or Paste): earlier cards stay.
        text = f"{len(self.cards)} image(s) shown"
        if shown != len(self.cards) or skipped:
            text += f" — just now: {shown} predicted" + (f", {skipped} not used (see above)" if skipped else "")
        if result.cancelled:
            text += " — cancelled"
        self.status_label.setText(text + ".")
        self.scroll.verticalScrollBar().setValue(0)

    @Slot(str, str)
    def _on_job_failed(self, summary: str, details: str) -> None:
        logger.warning("Prediction failed: %s", details)
        self._set_messages([f"Prediction failed: {html.escape(summary)}"])
        self.status_label.setText("")

    @Slot()
    def _on_job_finished(self) -> None:
        if self._queue:
            self._start_next_job()
        else:
            self._update_buttons()
            self.predictions_shown.emit()

    @Slot(object)
    def _on_model_task_done(self, predictor: Any) -> None:
        path = self._loading_model_path
        self._predictor = predictor
        self._model_path = path
        self.saliency.set_model(predictor)
        for card in self.cards:
            card.set_saliency_unavailable(saliency_unavailable(path))
        meta = predictor.metadata or {}
        epoch = meta.get("best_epoch") or meta.get("epoch")
        extra = f", best epoch {epoch}" if epoch else ""
        self.model_label.setText(
            f"Model: <b>{html.escape(Path(path).name)}</b> — {html.escape(predictor.arch)}, "
            f"{len(predictor.labels)} labels, {predictor.image_size}px{extra}")
        self._model_text = self.model_label.text()
        self.model_label.setToolTip(f"{path}\nLabels: {', '.join(predictor.labels)}")
        per_label = list(getattr(predictor, "thresholds", []) or [])
        self._model_thresholds = (dict(zip(predictor.labels, per_label))
                                  if len(per_label) == len(predictor.labels) else {})
        distinct = bool(self._model_thresholds) and any(
            abs(t - predictor.threshold) > 1e-9 for t in self._model_thresholds.values())
        self._loading_thresholds = True
        try:
            if not self._single_threshold_chosen:
                self.threshold_spin.setValue(min(max(predictor.threshold, 0.01), 0.99))
            self.per_label_check.setEnabled(distinct)
            self.per_label_check.setChecked(distinct and not self._single_threshold_chosen)
        finally:
            self._loading_thresholds = False
        self.threshold_spin.setEnabled(not self.per_label_check.isChecked())
        logger.info("Prediction model loaded: %s", path)
        redo = list(self._shown_inputs) + self._waiting_for_model
        self._waiting_for_model = []
        if redo:
            # The cards showed the previous model's answers: predict them again.
            for card in self.cards:
                self.cards_layout.removeWidget(card)
                card.deleteLater()
            self.cards = []
            self._shown_inputs = []
            self._queue.append(redo)
        self.model_loaded.emit(path)

    @Slot(str, str)
    def _on_model_task_failed(self, summary: str, details: str) -> None:
        path = self._loading_model_path
        logger.warning("Could not load model %s: %s", path, summary)
        self.model_label.setText(self._model_text)
        self._set_messages([f"Could not load the model: {html.escape(summary)}"])

    @Slot()
    def _on_model_task_finished(self) -> None:
        self._start_next_job()
        if not self._jobs.is_busy():
            self.predictions_shown.emit()

    # ------------------------------------------------------------- helpers
    def _set_messages(self, messages: list[str]) -> None:
        self._messages = [_plain(m) for m in messages]
        if messages:
            self.message_label.setText("<br>".join(messages))
            self.message_label.show()
        else:
            self.message_label.hide()

    def _update_buttons(self) -> None:
        self.clear_button.setEnabled(not self._jobs.is_busy())

    def _add_clipboard_image(self, image: QImage) -> None:
        if image.isNull():
            self._set_messages(["The clipboard holds no image or image files."])
            return
        if self._paste_dir is None:
            self._paste_dir = QTemporaryDir()
        if not self._paste_dir.isValid():
            self._set_messages(["Could not keep the pasted image (no temporary folder could be made)."])
            return
        self._paste_count += 1
        target = os.path.join(self._paste_dir.path(), f"pasted-{self._paste_count}.png")
        if not image.save(target, "PNG"):
            self._set_messages(["Could not keep the pasted image (temporary folder not writable)."])
            return
        self.add_paths([target])

    # -------------------------------------------------------------- slots
    def open_model(self) -> None:
        """Ask for a model file (.pt or .onnx) and load it (the button and the File menu)."""
        path, _ = QFileDialog.getOpenFileName(
            self, "Open a model file", self._model_path or str(Path.home()),
            MODEL_FILE_FILTER)
        if path:
            self.set_model_file(path)

    @Slot()
    def _on_add_button_clicked(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Choose images", str(Path.home()), IMAGE_FILTER)
        if paths:
            self.add_paths(paths)

    @Slot()
    def _on_paste_button_clicked(self) -> None:
        mime = QGuiApplication.clipboard().mimeData()
        if mime is not None and mime.hasUrls():
            self.add_paths(_local_paths(mime.urls()))
        elif mime is not None and mime.hasImage():
            self._add_clipboard_image(QImage(QGuiApplication.clipboard().image()))
        elif mime is not None and mime.hasText() and os.path.exists(mime.text().strip()):
            self.add_paths([mime.text().strip()])
        else:
            self._set_messages(["The clipboard holds no image or image files."])

    @Slot()
    def _on_clear_button_clicked(self) -> None:
        self.clear()

    @Slot(float)
    def _on_threshold_spin_value_changed(self, value: float) -> None:
        self._apply_thresholds()

    @Slot(bool)
    def _on_per_label_check_toggled(self, checked: bool) -> None:
        if not self._loading_thresholds:
            self._single_threshold_chosen = not checked
        self.threshold_spin.setEnabled(not checked)
        self._apply_thresholds()

    def _apply_thresholds(self) -> None:
        thresholds = self.thresholds()
        for card in self.cards:
            card.set_thresholds({**{label: self.threshold() for label, _ in card.rows}, **thresholds})


def _local_paths(urls: list[QUrl]) -> list[str]:
    return [url.toLocalFile() if url.isLocalFile() else url.toString() for url in urls]


def _plain(text: str) -> str:
    """Rich text → the plain message (for tests and logs)."""
    from PySide6.QtGui import QTextDocumentFragment

    return QTextDocumentFragment.fromHtml(text).toPlainText()
