"""Explain one image: the label, its probability and its Grad-CAM map, and the map
blended over the picture. ``mlcls-gui explain`` and the window's saliency
overlays (thumbnails on the Predict cards and the Review tab) call these.

The arithmetic, once: the model sees the image stretched to its square
(``square_tensor``, as ``saliency_map`` feeds Grad-CAM), the probabilities
come from that same square, the label is the caller's or the most probable
one, and the map (``core.inference.saliency``) is blended over the picture
at the map's size. Importing this module imports no torch (the window
imports it at start-up).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import torch
    from PIL import Image

DEFAULT_ALPHA = 0.45  # the heatmap's opacity in an overlay


@dataclass(frozen=True)
class Explanation:
    """``heatmap``: float32 (height, width) in [0, 1], 1 where the evidence for
    ``label`` is strongest; ``picture``: the image at that same size (what the
    overlay is drawn on). ``probability``: the model's for ``label`` on this
    image, None when not asked for (``with_probability=False``)."""

    label: str
    probability: float | None
    heatmap: "np.ndarray"
    picture: "Image.Image"


def square_tensor(image: "Image.Image", size: int) -> "torch.Tensor":
    """uint8 (1, 3, size, size): the image stretched to the model's square, as
    Grad-CAM and the Predictor see it."""
    from PIL import Image

    from mlcls_gui.core.data.images import to_rgb
    from mlcls_gui.core.data.loaders import pil_to_uint8_tensor

    return pil_to_uint8_tensor(to_rgb(image).resize((size, size), Image.BILINEAR))[None]


def label_probabilities(predictor: Any, image: "Image.Image") -> dict[str, float]:
    """label -> the model's probability on ``image`` (seen as Grad-CAM sees it)."""
    row = predictor.probabilities(square_tensor(image, predictor.image_size))[0].tolist()
    return dict(zip(predictor.labels, row))


def explain(predictor: Any, image: "Image.Image", label: str | None = None, *,
            size: tuple[int, int] | None = None, with_probability: bool = True) -> Explanation:
    """Grad-CAM of ``label`` (default: the model's most probable label) on ``image``.

    ``size`` = (width, height) makes the map and the picture that size (a
    thumbnail's, same aspect ratio): the model still sees the whole image.
    ``with_probability=False`` spares the forward pass for the probability
    when a label is given (thumbnails do not show it). Raises ConfigError
    for a label the model does not have, ModelError for a model without
    gradients (an exported ONNX file)."""
    from PIL import Image

    from mlcls_gui.core.inference.saliency import saliency_map

    probability = None
    if label is None or with_probability:
        probabilities = label_probabilities(predictor, image)
        if label is None:
            label = max(predictor.labels, key=lambda name: probabilities[name])  # the first of equals
        probability = probabilities.get(label)  # unknown: saliency_map names the labels below
    heatmap = saliency_map(predictor, image, label, size=size)
    shown = (heatmap.shape[1], heatmap.shape[0])
    picture = image.resize(shown, Image.BILINEAR) if shown != image.size else image
    return Explanation(label, probability, heatmap, picture)


def overlay(explanation: Explanation, alpha: float = DEFAULT_ALPHA) -> "Image.Image":
    """The picture with the heatmap coloured over it at opacity ``alpha`` (0 to 1)."""
    from mlcls_gui.core.inference.heatmap import blend_heatmap

    return blend_heatmap(explanation.picture, explanation.heatmap, alpha)
