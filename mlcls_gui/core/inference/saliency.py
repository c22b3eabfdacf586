"""Grad-CAM saliency maps: where in an image a model looked for one label.

Written with a torch forward hook and ``torch.autograd.grad`` rather than
the ``grad-cam`` package: grad-cam 1.5.7 needs opencv-python-headless (not
opencv-python, so no system libGL) but also matplotlib, scikit-learn, scipy,
ttach and tqdm — well over 100 MB of dependencies for some 40 lines of
arithmetic — and its token (ViT) layouts and the mapping back to a
non-square image would still need code of ours. Here the registry
names each architecture's target block and its layout (``SaliencyTarget``),
so every family is handled the same way.

Grad-CAM: the gradient of the label's logit with respect to the target
block's activations, averaged over the spatial grid, weights the activation
channels; their ReLU'd sum is the map. The model sees the image stretched to
a square (``load_rgb_resized``), so the square map is stretched back to the
image's own width and height: a point of the map lands where it was in the
original picture, whatever its aspect ratio.

Qt-free; safe to call on a background thread while other threads predict
with the same model (the hooks record only their own thread's forward pass
and nothing is written into the model's ``.grad``).
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from mlcls_gui.core.data.images import to_rgb
from mlcls_gui.core.data.loaders import pil_to_uint8_tensor
from mlcls_gui.core.errors import ConfigError, ModelError
from mlcls_gui.core.models.build import saliency_target

if TYPE_CHECKING:
    from mlcls_gui.core.inference.predict import Predictor

logger = logging.getLogger(__name__)


def saliency_map(predictor: "Predictor", image: Image.Image, label: str,
                 *, size: tuple[int, int] | None = None) -> np.ndarray:
    """Grad-CAM map of ``label`` on ``image``: float32 (image.height, image.width)
    in [0, 1], 1 where the evidence for the label is strongest; all zeros when
    nothing in the image speaks for it. ``size`` = (width, height) asks for the
    map at another size of the same aspect ratio (a thumbnail's), which spares
    stretching it over every pixel of a large photo.

    Raises ConfigError for a label the model does not have, ModelError for a
    model without gradients (an exported ONNX file)."""
    width, height = size if size is not None else image.size
    index = _label_index(predictor, label)
    model = getattr(predictor, "model", None)
    if not isinstance(model, torch.nn.Module):
        raise ModelError(
            f"Saliency maps need the PyTorch model file (.pt); {predictor.source} runs without "
            "gradients (an exported model). Use the .pt file it was exported from."
        )
    target = saliency_target(model, predictor.arch)
    square = to_rgb(image).resize((predictor.image_size, predictor.image_size), Image.BILINEAR)
    inputs = predictor.batch_transform(pil_to_uint8_tensor(square)[None], augment=False)
    # A ViT pools its class token: the last block's patch-token outputs reach no logit,
    # so its tokens are taken where they enter that block (as grad-cam's norm1 target).
    activations, gradients = _activations_and_gradients(
        model, target.module, inputs, index, block_input=target.layout == "NLC")
    grid = _to_nchw(activations, target.layout, target.prefix_tokens)
    grads = _to_nchw(gradients, target.layout, target.prefix_tokens)
    weights = grads.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * grid).sum(dim=1, keepdim=True)).float()
    top = float(cam.max())
    if not np.isfinite(top) or top <= 0:
        logger.debug("No positive evidence for %s: an empty saliency map", label)
        return np.zeros((height, width), dtype=np.float32)
    # The square grid stretched to the original aspect ratio (the inverse of the input resize).
    cam = F.interpolate(cam / top, size=(height, width), mode="bilinear", align_corners=False)
    return np.clip(cam[0, 0].cpu().numpy(), 0.0, 1.0).astype(np.float32)


def _label_index(predictor: "Predictor", label: str) -> int:
    try:
        return predictor.labels.index(label)
    except ValueError:
        raise ConfigError(
            f"The model has no label {label!r}; its labels are: {', '.join(predictor.labels)}."
        ) from None


def _activations_and_gradients(
    model: torch.nn.Module, module: torch.nn.Module, inputs: torch.Tensor, index: int,
    *, block_input: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The target block's output (or input) for ``inputs`` and the gradient of
    logit ``index`` with respect to it."""
    me = threading.get_ident()
    captured: list[torch.Tensor] = []

    def record(_module: Any, block_inputs: Any, output: Any) -> None:
        # Another thread may run the same model (the Predict panel): keep only ours.
        if threading.get_ident() == me:
            value = block_inputs if block_input else output
            captured.append(value[0] if isinstance(value, (tuple, list)) else value)

    handle = module.register_forward_hook(record)
    try:
        # The caller may be inside inference_mode (e.g. a predict loop); gradients need it off.
        with torch.inference_mode(False), torch.enable_grad():
            # An input that needs a gradient gives a graph even when the weights are frozen.
            x = inputs.detach().clone().requires_grad_(True)
            logits = model(x)
            if not captured:
                raise ModelError("The saliency target block did not run in the model's forward pass.")
            activation = captured[-1]
            (gradient,) = torch.autograd.grad(logits[0, index], activation)
    finally:
        handle.remove()
    return activation.detach(), gradient.detach()


def _to_nchw(tensor: torch.Tensor, layout: str, prefix_tokens: int) -> torch.Tensor:
    """A block output in ``layout`` → (1, C, h, w)."""
    if layout == "NCHW":
        return tensor
    if layout == "NHWC":
        return tensor.permute(0, 3, 1, 2)
    if layout == "NLC":
        tokens = tensor[:, prefix_tokens:, :]
        side = int(round(tokens.shape[1] ** 0.5))
        if side * side != tokens.shape[1]:
            raise ModelError(f"{tokens.shape[1]} image tokens do not form a square grid; no saliency map.")
        return tokens.reshape(tokens.shape[0], side, side, tokens.shape[2]).permute(0, 3, 1, 2)
    raise ModelError(f"Unknown saliency layout {layout!r}.")
