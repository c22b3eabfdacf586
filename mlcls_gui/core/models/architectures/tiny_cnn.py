"""``tiny_cnn``: three conv + BatchNorm blocks and a linear head (about 6,000
weights), for tests and quick trials: it trains in seconds on a CPU and has
the same shape of parts (extractor with BatchNorm, head) as the real ones.
It has no pretrained weights."""

from __future__ import annotations

from torch import nn

from mlcls_gui.core.data.imagenet import IMAGENET_MEAN, IMAGENET_STD
from mlcls_gui.core.models.architectures.base import (
    Architecture,
    InputDefaults,
    SaliencyTarget,
    WeightsUnavailableError,
)

NAME = "tiny_cnn"
_WIDTHS = (8, 16, 32)


class TinyCNN(nn.Module):
    def __init__(self, num_labels: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for width in _WIDTHS:
            layers.append(nn.Sequential(
                nn.Conv2d(channels, width, 3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
            ))
            channels = width
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)
        self.fc = nn.Linear(channels, num_labels)

    def forward(self, x):  # type: ignore[no-untyped-def]
        return self.fc(self.flatten(self.pool(self.features(x))))


class TinyCnnArchitecture(Architecture):
    family = "builtin"

    def build(self, num_labels: int, *, pretrained: bool, image_size: int | None) -> nn.Module:
        if pretrained:
            raise WeightsUnavailableError(f"{NAME} has no ImageNet weights to download.",
                                          weights_file="a file saved from a tiny_cnn", offline=False)
        return TinyCNN(num_labels)

    def head_path(self) -> str:
        return "fc"

    def feature_extractor(self, model: nn.Module) -> nn.Module:
        return nn.Sequential(model.features, model.pool, model.flatten)

    def saliency_target(self, model: nn.Module) -> SaliencyTarget:
        return SaliencyTarget(model.features[-1])

    def default_input(self) -> InputDefaults:
        return InputDefaults(64, IMAGENET_MEAN, IMAGENET_STD)

    def has_pretrained(self) -> bool:
        return False
