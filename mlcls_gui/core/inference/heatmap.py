"""A saliency map drawn over its image in the Turbo colour map. No torch: the window's
colour bars use ``turbo`` before PyTorch is loaded, and ``saliency`` computes the maps."""

from __future__ import annotations

import numpy as np
from PIL import Image

from mlcls_gui.core.data.images import to_rgb


def blend_heatmap(image: Image.Image, heatmap: np.ndarray, alpha: float = 0.45) -> Image.Image:
    """``image`` (RGB) with ``heatmap`` coloured (turbo: near black where cold,
    through blue and green to red where hot) laid over it at opacity ``alpha``,
    so what the model ignored is dimmed; the same size as ``image``."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    if heatmap.shape != (image.height, image.width):
        raise ValueError(f"heatmap shape {heatmap.shape} does not match the image "
                         f"({image.height}, {image.width})")
    base = np.asarray(to_rgb(image), dtype=np.float32)
    colours = turbo(np.asarray(heatmap, dtype=np.float32)) * 255.0
    mixed = (1.0 - alpha) * base + alpha * colours
    return Image.fromarray(np.clip(mixed + 0.5, 0, 255).astype(np.uint8), mode="RGB")


def turbo(values: np.ndarray) -> np.ndarray:
    """Google's Turbo colour map (its published polynomial fit): values in
    [0, 1] → RGB in [0, 1], shape (..., 3). Jet's look, perceptually smoother."""
    x = np.clip(values, 0.0, 1.0)[..., None]
    powers = np.concatenate([np.ones_like(x), x, x**2, x**3, x**4, x**5], axis=-1)
    return np.clip(powers @ _TURBO_COEFFICIENTS, 0.0, 1.0)


# Rows: the coefficients of 1, x … x^5; columns: red, green, blue.
_TURBO_COEFFICIENTS = np.array([
    [0.13572138, 0.09140261, 0.10667330],
    [4.61539260, 2.19418839, 12.64194608],
    [-42.66032258, 4.84296658, -60.58204836],
    [132.13108234, -14.18503333, 110.36276771],
    [-152.94239396, 4.27729857, -89.90310912],
    [59.28637943, 2.82956604, 27.34824973],
], dtype=np.float32)
