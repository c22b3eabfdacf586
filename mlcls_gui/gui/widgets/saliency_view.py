"""Saliency overlays for thumbnails, computed off the GUI thread.

``overlay_image`` is the work (decode, then ``core.ops.explain``'s Grad-CAM and
blend at the thumbnail's size, as ``mlcls-gui explain`` does at full size; a
QImage, which may be made on any thread). ``SaliencyJobs`` queues requests and
runs them in small chunks on one ``TaskRunner`` task at a time, so a list of a hundred
thumbnails never starts a hundred threads; each result arrives on the GUI
thread as ``ready(key, image)`` or ``failed(key, message, model_problem)``
(``model_problem``: no image will get a map from this model, e.g. an
exported ONNX file, so stop asking; otherwise only this image failed). The model is a
loaded Predictor or a model file path (loaded once on the worker thread and
kept for later requests).

Any panel with thumbnails can use it (Predict cards, Evaluate's mistakes, a
Review list)::

    jobs = SaliencyJobs(parent=self)
    jobs.ready.connect(self._on_overlay_ready)        # (key, QImage)
    jobs.request(key, model_path_or_predictor, image_path, label, 96)
    ...
    jobs.shutdown()                                    # when the window closes
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Iterable

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtGui import QImage

from mlcls_gui.gui.widgets.background import summarize_exception
from mlcls_gui.gui.widgets.task_runner import TaskRunner

logger = logging.getLogger(__name__)

CHUNK = 6  # overlays per background task: short enough that a new request waits little
# What core.inference.heatmap.blend_heatmap draws (the Turbo colour map), said as it is.
SALIENCY_TOOLTIP = ("Grad-CAM: where the model found its evidence for the label, in the Turbo colours: "
                    "near black where it found none, through blue, cyan, green and yellow, to red where "
                    "it is strongest. Computed in the background.")
ONNX_SALIENCY_REASON = ("No saliency maps for an .onnx model: an export keeps no layers to look into. "
                        "Open the .pt model file it was exported from.")


def saliency_unavailable(model_path: str) -> str:
    """Why saliency maps cannot be computed with the model at ``model_path`` ("" when they can)."""
    return ONNX_SALIENCY_REASON if model_path.lower().endswith(".onnx") else ""


def overlay_image(predictor: Any, path: str, label: str, size: int) -> QImage:
    """The image at ``path`` with ``label``'s saliency map blended over it, fitted
    into ``size``×``size`` pixels (aspect ratio kept; small images are enlarged,
    as ``make_thumbnail`` does). ``core.ops.explain`` does the work, as for
    ``mlcls-gui explain``. Runs on a background thread; raises MlclsError
    (unknown label, model without gradients) or ImageLoadError."""
    from mlcls_gui.core.data.images import load_rgb
    from mlcls_gui.core.ops.explain import explain, overlay

    image = load_rgb(path)
    scale = size / max(image.width, image.height)
    shown = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    # The model sees the full image; only the map and the picture under it are thumbnail-sized.
    explanation = explain(predictor, image, label, size=shown, with_probability=False)
    return pil_to_qimage(overlay(explanation))


def pil_to_qimage(image: Any) -> QImage:
    """An RGB PIL image → a QImage that owns its pixels."""
    data = image.convert("RGB").tobytes()
    return QImage(data, image.width, image.height, 3 * image.width, QImage.Format.Format_RGB888).copy()


@dataclass(frozen=True)
class _Request:
    key: Hashable
    model: Any  # a Predictor, or a model file path (str)
    path: str
    label: str
    size: int


class ModelCache:
    """Model files loaded on the worker thread, kept for the next request (at most a few);
    a loaded Predictor passes through as it is."""

    LIMIT = 2

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._models: dict[str, Any] = {}

    def get(self, model: Any) -> Any:
        if not isinstance(model, str):
            return model
        with self._lock:
            if model in self._models:
                return self._models[model]
        from mlcls_gui.core.inference.predict import Predictor

        predictor = Predictor.from_file(model, device="cpu")
        with self._lock:
            if len(self._models) >= self.LIMIT:
                self._models.clear()
            self._models[model] = predictor
        return predictor


# key, overlay (None when it failed), error message, whether the model is the problem
ChunkResult = tuple[Hashable, "QImage | None", str, bool]


def run_chunk(requests: list[_Request], models: ModelCache, cancel: threading.Event) -> list[ChunkResult]:
    """Runs on a background thread: one result per request (fewer when cancelled)."""
    from mlcls_gui.core.data.images import ImageLoadError
    from mlcls_gui.core.errors import MlclsError

    results: list[ChunkResult] = []
    for position, request in enumerate(requests):
        if cancel.is_set():
            break
        try:
            predictor = models.get(request.model)
            results.append((request.key, overlay_image(predictor, request.path, request.label,
                                                       request.size), "", False))
        except ImageLoadError as exc:
            results.append((request.key, None, f"cannot read the image ({exc.reason})", False))
        except MlclsError as exc:
            # The model file, or a label or model kind without saliency: every request fails alike.
            message = str(exc)
            results.extend((r.key, None, message, True) for r in requests[position:])
            break
        except Exception as exc:  # noqa: BLE001 - shown beside the thumbnail, never lost
            logger.debug("Saliency for %s failed", request.path, exc_info=True)
            results.append((request.key, None, summarize_exception(exc), False))
    return results


class SaliencyJobs(QObject):
    """A queue of overlay requests, worked off one chunk at a time in the background."""

    ready = Signal(object, QImage)  # key, overlay
    failed = Signal(object, str, bool)  # key, one-line reason, whether the model is the problem
    idle = Signal()  # nothing queued or running any more

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._queue: list[_Request] = []
        self._runner = TaskRunner("saliency", self)
        self._runner.done.connect(self._on_task_done)
        self._runner.failed.connect(self._on_task_failed)
        self._runner.finished.connect(self._on_task_finished)
        self._running_keys: set[Hashable] = set()
        self._models = ModelCache()

    def request(self, key: Hashable, model: Any, path: str, label: str, size: int) -> None:
        """Compute an overlay; ``key`` comes back with it. A key already waiting is not queued twice."""
        if key in self._running_keys or any(r.key == key for r in self._queue):
            return
        self._queue.append(_Request(key, model, str(path), label, int(size)))
        self._start_next()

    def clear(self) -> None:
        """Forget what is queued (the chunk being computed still reports)."""
        self._queue.clear()

    def is_busy(self) -> bool:
        return self._runner.is_busy() or bool(self._queue)

    def shutdown(self, msecs: int = 30_000) -> None:
        self._queue.clear()
        self._runner.shutdown(msecs)  # stops the chunk between images; no later chunk starts

    def _start_next(self) -> None:
        if self._runner.is_busy() or not self._queue:
            return
        chunk, self._queue = self._queue[:CHUNK], self._queue[CHUNK:]
        self._running_keys = {r.key for r in chunk}
        models = self._models
        self._runner.start(lambda job: run_chunk(chunk, models, job.cancel))

    @Slot(object)
    def _on_task_done(self, results: list[ChunkResult]) -> None:
        for key, image, error, model_problem in results:
            if image is not None:
                self.ready.emit(key, image)
            else:
                self.failed.emit(key, error, model_problem)

    @Slot(str, str)
    def _on_task_failed(self, summary: str, details: str) -> None:
        logger.warning("Saliency overlays failed: %s", details)
        for key in self._running_keys:
            self.failed.emit(key, summary, True)

    @Slot()
    def _on_task_finished(self) -> None:
        self._running_keys = set()
        if self._queue:
            self._start_next()
        else:
            self.idle.emit()


class CardOverlays(QObject):
    """Saliency for widgets that each show one image (the Predict cards): a widget
    asks with ``saliency_requested(path, label)`` and gets ``show_overlay(label,
    image)`` or ``show_saliency_error(label, message)`` back. Overlays made with
    a model that has since been replaced are dropped."""

    shown = Signal(str, str)  # image path, label: its overlay reached the widgets

    def __init__(self, widgets: Callable[[], Iterable[Any]], size: int,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._widgets = widgets  # the widgets on screen now (each has a ``path``)
        self.size = size  # of the overlays, in pixels (the widgets' thumbnail size)
        self._predictor: Any = None
        self._generation = 0
        self.jobs = SaliencyJobs(self)
        self.jobs.ready.connect(self._on_jobs_ready)
        self.jobs.failed.connect(self._on_jobs_failed)

    def set_model(self, predictor: Any) -> None:
        """Overlays from now on come from ``predictor``; those still on their way are dropped."""
        self._predictor = predictor
        self._generation += 1
        self.jobs.clear()

    def attach(self, widget: Any) -> None:
        widget.saliency_requested.connect(self._on_widget_saliency_requested)

    def clear(self) -> None:
        self.jobs.clear()

    def is_busy(self) -> bool:
        return self.jobs.is_busy()

    def shutdown(self, msecs: int = 30_000) -> None:
        self.jobs.shutdown(msecs)

    def _matching(self, key: tuple[int, str, str]) -> list[Any]:
        generation, path, _label = key
        if generation != self._generation:
            return []
        return [widget for widget in self._widgets() if widget.path == path]

    @Slot(str, str)
    def _on_widget_saliency_requested(self, path: str, label: str) -> None:
        if self._predictor is not None:
            self.jobs.request((self._generation, path, label), self._predictor, path, label, self.size)

    @Slot(object, QImage)
    def _on_jobs_ready(self, key: tuple[int, str, str], image: QImage) -> None:
        widgets = self._matching(key)
        for widget in widgets:
            widget.show_overlay(key[2], image)
        if widgets:
            self.shown.emit(key[1], key[2])

    @Slot(object, str, bool)
    def _on_jobs_failed(self, key: tuple[int, str, str], message: str, model_problem: bool) -> None:
        logger.info("No saliency map of %s for %s: %s", key[2], key[1], message)
        for widget in self._matching(key):
            widget.show_saliency_error(key[2], message)
