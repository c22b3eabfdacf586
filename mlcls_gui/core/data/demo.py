"""The built-in demo set: coloured shapes on textured backgrounds, in the seed's layout.

Each image shows one to three shapes; its folder is named after them, joined
by '+' (``circle+square/``). Generated, deterministic for a seed, small enough
to train on a 2-core CPU in about a minute.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from mlcls_gui.core.errors import ConfigError

logger = logging.getLogger(__name__)

DEMO_MARKER = ".mlcls-demo-complete"  # written last: a folder without it is incomplete
DEMO_LABELS: tuple[str, ...] = ("circle", "cross", "square", "triangle")
DEMO_COMBINATIONS: tuple[tuple[str, ...], ...] = (
    ("circle",),
    ("cross",),
    ("square",),
    ("triangle",),
    ("circle", "square"),
    ("circle", "triangle"),
    ("cross", "square"),
    ("cross", "triangle"),
    ("circle", "square", "triangle"),
)
# Where shapes go: one shape per quadrant, so shapes never overlap.
_QUADRANTS = ((0, 0), (1, 0), (0, 1), (1, 1))


def write_demo_dataset(
    folder: str | os.PathLike[str], *, images_per_folder: int = 50, image_size: int = 64,
    seed: int = 0,
) -> Path:
    """Write the demo set into ``folder`` (created) and return its path.

    Only into a new or empty folder: the demo's file names (``circle/circle_000.png``)
    are the kind a user's own data set has, and they are never written over."""
    root = Path(folder).expanduser()
    try:
        occupied = root.is_dir() and any(root.iterdir())
    except OSError as exc:
        raise ConfigError(f"Cannot write the demo data set into {root}: {exc.strerror or exc}.") from None
    if occupied:
        raise ConfigError(f"{root} already holds files; the demo data set is written only into a new or "
                          "empty folder, so nothing there is replaced. Choose another folder.")
    rng = np.random.default_rng(seed)
    for combo in DEMO_COMBINATIONS:
        target = root / "+".join(combo)
        target.mkdir(parents=True, exist_ok=True)
        for index in range(images_per_folder):
            image = draw_demo_image(combo, image_size, rng)
            with open(target / f"{'_'.join(combo)}_{index:03d}.png", "xb") as handle:  # never over a file
                image.save(handle, format="PNG")
    logger.info("Wrote the demo dataset (%d images) to %s", len(DEMO_COMBINATIONS) * images_per_folder, root)
    return root


def draw_demo_image(shapes: tuple[str, ...], size: int, rng: np.random.Generator) -> Image.Image:
    image = _textured_background(size, rng)
    draw = ImageDraw.Draw(image)
    cells = rng.permutation(len(_QUADRANTS))[: len(shapes)]
    half = size / 2
    for shape, cell in zip(shapes, cells):
        qx, qy = _QUADRANTS[int(cell)]
        radius = rng.uniform(0.30, 0.40) * half
        cx = qx * half + half / 2 + rng.uniform(-0.08, 0.08) * half
        cy = qy * half + half / 2 + rng.uniform(-0.08, 0.08) * half
        colour = tuple(int(c) for c in rng.integers(20, 236, size=3))
        _draw_shape(draw, shape, cx, cy, radius, colour, float(rng.uniform(0, math.pi)))
    return image.filter(ImageFilter.GaussianBlur(radius=0.6))


def _textured_background(size: int, rng: np.random.Generator) -> Image.Image:
    base = rng.integers(60, 200, size=3).astype(np.float32)
    noise = rng.normal(0, 12, size=(size, size, 1)).astype(np.float32)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    angle = rng.uniform(0, math.pi)
    waves = 10 * np.sin((xx * math.cos(angle) + yy * math.sin(angle)) / rng.uniform(3, 9))
    pixels = base[None, None, :] + noise + waves[..., None]
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), mode="RGB")


def _draw_shape(draw: ImageDraw.ImageDraw, shape: str, cx: float, cy: float, r: float,
                colour: tuple[int, ...], angle: float) -> None:
    outline = (0, 0, 0)
    if shape == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour, outline=outline)
    elif shape == "square":
        draw.polygon(_regular_polygon(cx, cy, r * 1.15, 4, angle), fill=colour, outline=outline)
    elif shape == "triangle":
        draw.polygon(_regular_polygon(cx, cy, r * 1.2, 3, angle), fill=colour, outline=outline)
    elif shape == "cross":
        width = max(2, int(r * 0.45))
        for offset in (angle, angle + math.pi / 2):
            dx, dy = r * math.cos(offset), r * math.sin(offset)
            draw.line((cx - dx, cy - dy, cx + dx, cy + dy), fill=colour, width=width)
    else:
        raise ValueError(f"unknown demo shape {shape!r}")


def _regular_polygon(cx: float, cy: float, r: float, sides: int, angle: float) -> list[tuple[float, float]]:
    return [
        (cx + r * math.cos(angle + 2 * math.pi * k / sides), cy + r * math.sin(angle + 2 * math.pi * k / sides))
        for k in range(sides)
    ]


def ensure_demo_dataset(folder: Path) -> Path:
    """Write the demo set into ``folder`` unless a complete one is there already."""
    if (folder / DEMO_MARKER).is_file():
        return folder
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    write_demo_dataset(partial)
    (partial / DEMO_MARKER).write_text("complete\n", encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(partial, folder)
    logger.info("Demo dataset written to %s", folder)
    return folder
