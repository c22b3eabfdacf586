"""Small upright thumbnails of image files, safe to make off the GUI thread, and a
loader that makes them in the background for lists of image rows."""

from __future__ import annotations

import functools
from typing import Sequence

from PySide6.QtCore import QObject, QSize, Qt, Signal, Slot
from PySide6.QtGui import QImage, QImageReader

from mlcls_gui.gui.widgets.background import BackgroundTask

THUMB_CHUNK = 50
MAX_CACHED_THUMBNAILS = 3000


def make_thumbnail(path: str, size: int) -> QImage:
    """At most ``size``×``size`` pixels, EXIF orientation applied; a null
    QImage when the file cannot be read. (QImage, unlike QPixmap, may be made
    on any thread.) Large files are decoded at a reduced size when the format allows."""
    reader = QImageReader(path)
    reader.setAutoTransform(True)
    original = reader.size()
    if original.isValid() and original.width() > 0 and original.height() > 0:
        reader.setScaledSize(original.scaled(QSize(size, size), Qt.AspectRatioMode.KeepAspectRatio))
    image = reader.read()
    if image.isNull():
        return QImage()
    if image.width() > size or image.height() > size:
        image = image.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio,
                             Qt.TransformationMode.SmoothTransformation)
    return image


def _make_thumbnails(paths: list[str], size: int) -> dict[str, QImage]:
    return {path: make_thumbnail(path, size) for path in paths}


class ThumbnailLoader(QObject):
    """Thumbnails decoded off the GUI thread, one chunk at a time, kept in a bounded
    cache (a null QImage for an unreadable file, so it is not tried again)."""

    loaded = Signal()  # a chunk arrived: look in the cache again

    def __init__(self, parent: QObject | None = None, *, size: int = 72, name: str = "review-thumbnails") -> None:
        super().__init__(parent)
        self._size = size
        self._name = name
        self._cache: dict[str, QImage] = {}
        self._task: BackgroundTask | None = None

    def get(self, path: str) -> QImage | None:
        return self._cache.get(path)

    def request(self, paths: Sequence[str]) -> None:
        wanted = [path for path in dict.fromkeys(paths) if path not in self._cache][:THUMB_CHUNK]
        if not wanted or self._task is not None:
            return  # the running chunk's ``loaded`` makes the caller ask again
        if len(self._cache) > MAX_CACHED_THUMBNAILS:
            self._cache.clear()
        task = BackgroundTask(functools.partial(_make_thumbnails, wanted, self._size), name=self._name, parent=self)
        task.done.connect(self._on_done)
        task.finished.connect(self._on_finished)
        self._task = task
        task.start()

    def forget(self) -> None:
        """Drop the cache (the files moved or changed)."""
        self._cache.clear()

    def shutdown(self, msecs: int = 30_000) -> None:
        if self._task is not None:
            self._task.wait(msecs)

    @Slot(object)
    def _on_done(self, images: dict[str, QImage]) -> None:
        self._cache.update(images)

    @Slot()
    def _on_finished(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.deleteLater()
        self.loaded.emit()
