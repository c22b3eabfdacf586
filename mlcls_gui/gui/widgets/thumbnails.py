"""Small upright thumbnails of image files, safe to make off the GUI thread."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QImage, QImageReader


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
