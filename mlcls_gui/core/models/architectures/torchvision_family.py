"""The torchvision architectures the app started with, by their plain names.

Old config and model files name these (``resnet18``…), so their names,
state-dict keys and behaviour stay exactly as they were.
"""

from __future__ import annotations

import logging
import urllib.error
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import urlparse

import torch
import torchvision
from torch import nn

from mlcls_gui.core.data.imagenet import IMAGENET_MEAN, IMAGENET_STD
from mlcls_gui.core.models.architectures.base import (
    Architecture,
    InputDefaults,
    SaliencyTarget,
    download_failed,
)
from mlcls_gui.core.models.architectures.weights_reach import unreachable_reason

logger = logging.getLogger(__name__)


def _resnet_extractor(model: nn.Module) -> nn.Module:
    return nn.Sequential(
        model.conv1, model.bn1, model.relu, model.maxpool,
        model.layer1, model.layer2, model.layer3, model.layer4,
        model.avgpool, nn.Flatten(1),
    )


def _features_classifier_extractor(model: nn.Module) -> nn.Module:
    # MobileNetV3 / EfficientNet: the classifier's layers before the last Linear
    # (hidden Linear, activation, dropout) belong to the extractor.
    return nn.Sequential(model.features, model.avgpool, nn.Flatten(1), *list(model.classifier)[:-1])


@dataclass(frozen=True)
class _Entry:
    head: str  # dotted path of the Linear that is replaced
    extractor: Callable[[nn.Module], nn.Module]
    saliency: str  # dotted path of the last convolution block


_ENTRIES: dict[str, _Entry] = {
    "resnet18": _Entry("fc", _resnet_extractor, "layer4"),
    "resnet34": _Entry("fc", _resnet_extractor, "layer4"),
    "resnet50": _Entry("fc", _resnet_extractor, "layer4"),
    "mobilenet_v3_small": _Entry("classifier.3", _features_classifier_extractor, "features"),
    "mobilenet_v3_large": _Entry("classifier.3", _features_classifier_extractor, "features"),
    "efficientnet_b0": _Entry("classifier.1", _features_classifier_extractor, "features"),
}
NAMES: tuple[str, ...] = tuple(_ENTRIES)


class TorchvisionArchitecture(Architecture):
    family = "torchvision"

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._entry = _ENTRIES[name]

    def build(self, num_labels: int, *, pretrained: bool, image_size: int | None) -> nn.Module:
        model = self._backbone(pretrained)
        _replace_linear(model, self._entry.head, num_labels)
        return model

    def _backbone(self, pretrained: bool) -> nn.Module:
        if not pretrained:
            return torchvision.models.get_model(self.name, weights=None)
        weights = torchvision.models.get_model_weights(self.name).DEFAULT
        cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(weights.url).path).name
        problem = "" if cached.is_file() else unreachable_reason(weights.url)
        if problem:  # at once, not after urllib's own timeouts
            raise download_failed(self.name, problem)
        try:
            return torchvision.models.get_model(self.name, weights=weights)
        except (urllib.error.URLError, OSError, RuntimeError, ValueError) as exc:
            raise download_failed(self.name, exc) from None

    def head_path(self) -> str:
        return self._entry.head

    def feature_extractor(self, model: nn.Module) -> nn.Module:
        return self._entry.extractor(model)

    def saliency_target(self, model: nn.Module) -> SaliencyTarget:
        block = model.get_submodule(self._entry.saliency)
        return SaliencyTarget(block[-1] if isinstance(block, nn.Sequential) else block)

    def default_input(self) -> InputDefaults:
        # The weights' own evaluation transform (meta only, nothing is downloaded).
        transform = torchvision.models.get_model_weights(self.name).DEFAULT.transforms()
        mean = tuple(float(v) for v in getattr(transform, "mean", IMAGENET_MEAN))
        std = tuple(float(v) for v in getattr(transform, "std", IMAGENET_STD))
        return InputDefaults(int(transform.crop_size[0]), mean, std)  # type: ignore[arg-type]

    def has_pretrained(self) -> bool:
        return True


def _replace_linear(model: nn.Module, path: str, num_labels: int) -> None:
    parent_name, _, child_name = path.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    old = parent[int(child_name)] if child_name.isdigit() else getattr(parent, child_name)
    new = nn.Linear(old.in_features, num_labels)
    if child_name.isdigit():
        parent[int(child_name)] = new
    else:
        setattr(parent, child_name, new)
