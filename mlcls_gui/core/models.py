"""torchvision architectures by name, with the classifier head replaced.

Pretrained weights come from torchvision's weights API (downloaded once into
the torch hub cache) or from a local file; a failed download becomes a
``ModelError`` that suggests ``weights_file`` or ``pretrained=false``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import urllib.error
from pathlib import Path
from typing import Iterator

import torch
import torchvision
from torch import nn

from .errors import ModelError

logger = logging.getLogger(__name__)

# Dotted path of the final Linear layer that gets replaced, per architecture.
HEAD_MODULES: dict[str, str] = {
    "resnet18": "fc",
    "resnet34": "fc",
    "resnet50": "fc",
    "mobilenet_v3_small": "classifier.3",
    "mobilenet_v3_large": "classifier.3",
    "efficientnet_b0": "classifier.1",
}


def build_model(
    arch: str,
    num_labels: int,
    *,
    pretrained: bool = False,
    weights_file: str = "",
    freeze_extractor: bool = False,
) -> nn.Module:
    """The architecture with one output per label; weights as requested."""
    if arch not in HEAD_MODULES:
        raise ModelError(f"Unknown architecture {arch!r}; choose one of {', '.join(HEAD_MODULES)}.")
    if num_labels < 1:
        raise ModelError("A model needs at least one label.")
    model = _backbone(arch, pretrained=pretrained and not weights_file)
    if pretrained and weights_file:
        load_backbone_weights(model, arch, weights_file)
    replace_head(model, arch, num_labels)
    set_extractor_frozen(model, arch, freeze_extractor)
    return model


def _backbone(arch: str, *, pretrained: bool) -> nn.Module:
    if not pretrained:
        return torchvision.models.get_model(arch, weights=None)
    weights = torchvision.models.get_model_weights(arch).DEFAULT
    try:
        return torchvision.models.get_model(arch, weights=weights)
    except (urllib.error.URLError, OSError, RuntimeError, ValueError) as exc:
        raise ModelError(
            f"Could not get the ImageNet weights for {arch} ({_short(exc)}). Without internet, "
            "set weights_file to a local weights file (.pth) for this architecture, "
            "or set pretrained=false to train from random weights."
        ) from None


def load_backbone_weights(model: nn.Module, arch: str, weights_file: str | os.PathLike[str]) -> None:
    """Load a local state dict; a head of another size (e.g. ImageNet's 1000) is dropped."""
    path = Path(weights_file).expanduser()
    if not path.is_file():
        raise ModelError(f"Weights file {path} does not exist. Choose a .pth file or turn pretrained off.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure means "not a weights file"
        raise ModelError(
            f"{path} is not a readable weights file ({_short(exc)}). It must be a PyTorch "
            f"state dict for {arch}."
        ) from None
    if isinstance(state, dict) and isinstance(state.get("model_state"), dict):
        state = state["model_state"]  # one of our own checkpoints or model files
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(f"{path} does not hold a state dict of tensors for {arch}.")
    own = model.state_dict()
    head = HEAD_MODULES[arch] + "."
    usable = {k: v for k, v in state.items() if not (k.startswith(head) and own.get(k, v).shape != v.shape)}
    result = model.load_state_dict(usable, strict=False)
    missing = [k for k in result.missing_keys if not k.startswith(head)]
    if missing or result.unexpected_keys:
        raise ModelError(
            f"{path} does not match {arch}: {len(missing)} missing and "
            f"{len(result.unexpected_keys)} unexpected weights (e.g. "
            f"{(missing + list(result.unexpected_keys))[:3]}). Choose weights for {arch}."
        )
    logger.info("Loaded %s weights from %s", arch, path)


def head_module(model: nn.Module, arch: str) -> nn.Linear:
    return model.get_submodule(HEAD_MODULES[arch])


def replace_head(model: nn.Module, arch: str, num_labels: int) -> None:
    parent_name, _, child_name = HEAD_MODULES[arch].rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    old = getattr(parent, child_name) if not child_name.isdigit() else parent[int(child_name)]
    new = nn.Linear(old.in_features, num_labels)
    if child_name.isdigit():
        parent[int(child_name)] = new
    else:
        setattr(parent, child_name, new)


def feature_extractor(model: nn.Module, arch: str) -> nn.Module:
    """Everything before the head, sharing the model's modules (no copy):
    ``head_module(model, arch)(feature_extractor(model, arch)(x)) == model(x)``."""
    if arch.startswith("resnet"):
        return nn.Sequential(
            model.conv1, model.bn1, model.relu, model.maxpool,
            model.layer1, model.layer2, model.layer3, model.layer4,
            model.avgpool, nn.Flatten(1),
        )
    if arch.startswith(("mobilenet_v3", "efficientnet")):
        return nn.Sequential(model.features, model.avgpool, nn.Flatten(1), *list(model.classifier)[:-1])
    raise ModelError(f"No feature extractor defined for {arch!r}.")


def set_extractor_frozen(model: nn.Module, arch: str, frozen: bool) -> None:
    head = head_module(model, arch)
    head_params = {id(p) for p in head.parameters()}
    for param in model.parameters():
        param.requires_grad = (id(param) in head_params) or not frozen


def set_train_mode(model: nn.Module, arch: str, frozen: bool) -> None:
    """model.train(), except a frozen extractor stays in eval mode so its
    BatchNorm running statistics (and dropout) do not change."""
    if frozen:
        model.eval()
        head_module(model, arch).train()
    else:
        model.train()


@contextlib.contextmanager
def batchnorm_frozen(model: nn.Module, active: bool = True) -> Iterator[None]:
    """BatchNorm layers in eval mode for the duration (running statistics used
    and left unchanged), then back to the mode each had."""
    layers = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training]
    if not active or not layers:
        yield
        return
    for layer in layers:
        layer.eval()
    try:
        yield
    finally:
        for layer in layers:
            layer.train()


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]
