"""Safe image loading: any common file → an upright 8-bit RGB PIL image.

Handles EXIF orientation, grayscale, palette (with transparency), RGBA,
16-bit and CMYK images, and turns every decoding problem into
``ImageLoadError`` with a short reason, so one bad file never ends a run.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
)
# A truncated file must fail loudly rather than train on half a picture.
ImageFile.LOAD_TRUNCATED_IMAGES = False
# Pixels above which a file is treated as a decompression bomb (Pillow's own
# limit is ~179 M for an error); 100 M pixels is a 10000×10000 photo.
MAX_PIXELS = 100_000_000


class ImageLoadError(Exception):
    """The file could not be turned into an RGB image; ``reason`` says why."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


def is_image_path(path: str | os.PathLike[str]) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def probe_image(path: str | os.PathLike[str]) -> None:
    """Cheap check (header only) that ``path`` is an image Pillow can open."""
    with _open(path) as image:
        _check_size(path, image)


def load_rgb(path: str | os.PathLike[str]) -> Image.Image:
    """Decode ``path`` fully into an upright 8-bit RGB image."""
    with _open(path) as image:
        _check_size(path, image)
        try:
            image.load()
            upright = ImageOps.exif_transpose(image) or image
            return to_rgb(upright)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            raise ImageLoadError(path, _reason(exc)) from None


def load_rgb_resized(path: str | os.PathLike[str], size: int, *, fast_decode: bool = True) -> Image.Image:
    """Decode ``path`` into an upright RGB image of ``size``×``size`` pixels.

    The resize is torchvision's ``Resize((size, size))`` on a PIL image
    (bilinear with antialiasing). With ``fast_decode``, a JPEG is decoded at
    the smallest DCT scale (1/2, 1/4, 1/8) that still covers ``size`` on both
    sides, which skips most of the decoding work for large photos."""
    with _open(path) as image:
        _check_size(path, image)
        try:
            if fast_decode and image.format == "JPEG":
                image.draft(image.mode, (size, size))
            image.load()
            upright = ImageOps.exif_transpose(image) or image
            return to_rgb(upright).resize((size, size), Image.BILINEAR)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            raise ImageLoadError(path, _reason(exc)) from None


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB without clipping or garbage colours."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return _high_depth_to_rgb(image)
    if mode == "P":
        # Palette images may carry transparency: go through RGBA.
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        mode = image.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _high_depth_to_rgb(image: Image.Image) -> Image.Image:
    array = np.asarray(image, dtype=np.float64)
    if image.mode == "F":
        top = float(array.max()) if array.size else 1.0
        scale = 255.0 / top if top > 0 else 1.0
    else:
        # 16-bit data in a 16- or 32-bit container: map 0..65535 to 0..255.
        top = float(array.max()) if array.size else 0.0
        scale = 255.0 / 65535.0 if top <= 65535 else 255.0 / top
    gray = np.clip(array * scale + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(gray, mode="L").convert("RGB")


def _open(path: str | os.PathLike[str]) -> Image.Image:
    try:
        if os.path.getsize(path) == 0:
            raise ImageLoadError(path, "empty file (0 bytes)")
    except OSError as exc:  # also ENAMETOOLONG: a name over 255 or a path over 4096 characters
        raise ImageLoadError(path, f"cannot read file ({exc.strerror or exc})") from None
    except ValueError as exc:  # a NUL byte in the path
        raise ImageLoadError(path, f"cannot read file ({exc})") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageLoadError(path, "image too large (possible decompression bomb)") from None
    except UnidentifiedImageError:
        raise ImageLoadError(path, "not an image Pillow can read") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageLoadError(path, _reason(exc)) from None


def _check_size(path: str | os.PathLike[str], image: Image.Image) -> None:
    width, height = image.size
    if width < 1 or height < 1:
        raise ImageLoadError(path, f"invalid size {width}×{height}")
    if width * height > MAX_PIXELS:
        raise ImageLoadError(
            path, f"image too large ({width}×{height} pixels, limit {MAX_PIXELS:,})"
        )


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if "truncated" in text.lower():
        return "truncated or damaged image data"
    return f"cannot decode image ({text})"
