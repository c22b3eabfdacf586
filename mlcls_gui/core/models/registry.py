"""The architecture registry: one place that knows every model the app can train.

An ``arch`` string names one architecture:

* a torchvision name the app has always had (``resnet18``, ``resnet34``,
  ``resnet50``, ``mobilenet_v3_small``, ``mobilenet_v3_large``,
  ``efficientnet_b0``) — old config and model files keep working;
* ``timm:<name>`` — any timm model (``timm:convnext_atto``,
  ``timm:vit_small_patch16_224``, optionally with a pretrained tag:
  ``timm:convnext_atto.d2_in1k``);
* ``tiny_cnn`` — a few thousand weights, for tests and quick trials.

Each resolves to an ``Architecture`` (see ``architectures/base.py``) that
builds the model and knows its head, feature extractor, saliency target and
default input. This module imports neither torch nor timm: checking a plain
name stays instant (the window validates its form with it); timm is imported
the first time a ``timm:`` name is looked at.
"""

from __future__ import annotations

import difflib
import functools
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlcls_gui.core.errors import ModelError
from mlcls_gui.core.models.architectures.base import TIMM_PREFIX, InputDefaults

if TYPE_CHECKING:
    from mlcls_gui.core.models.architectures.base import Architecture

logger = logging.getLogger(__name__)

TINY_CNN = "tiny_cnn"
TORCHVISION_NAMES: tuple[str, ...] = (
    "resnet18",
    "resnet34",
    "resnet50",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "efficientnet_b0",
)
BUILTIN_NAMES: tuple[str, ...] = TORCHVISION_NAMES + (TINY_CNN,)

# Offered first in a picker: each has ImageNet weights on the Hugging Face Hub.
RECOMMENDED: dict[str, tuple[str, ...]] = {
    "small and fast": ("timm:mobilenetv4_conv_small", "timm:fastvit_t8", "resnet18"),
    "balanced": ("timm:convnext_nano", "timm:efficientnet_b2", "timm:vit_small_patch16_224"),
    "accurate": ("timm:convnext_small", "timm:vit_base_patch16_224"),
}
# The short list a plain choice box shows: the built-in names, then the recommended timm models.
SUGGESTED: tuple[str, ...] = tuple(dict.fromkeys(
    BUILTIN_NAMES + tuple(name for names in RECOMMENDED.values() for name in names)
))


@dataclass(frozen=True)
class ArchitectureInfo:
    """What a picker shows for one architecture."""

    name: str
    family: str  # "torchvision", "timm" or "builtin"
    input_size: int
    has_pretrained: bool
    parameters: int  # with a 2-label head, counted without allocating weights; 0: unknown
    problem: str = ""  # why it cannot be trained (e.g. an unsupported head); "" when it can


def is_timm(arch: str) -> bool:
    return arch.startswith(TIMM_PREFIX)


def validate(arch: str) -> None:
    """Raise ModelError (one line, with a suggestion) unless ``arch`` names an architecture."""
    if not isinstance(arch, str):
        raise ModelError(f"expected an architecture name, got {type(arch).__name__}.")
    if arch in BUILTIN_NAMES:
        return
    if is_timm(arch):
        resolve(arch)
        return
    raise ModelError(_unknown_message(arch))


def _unknown_message(arch: str) -> str:
    hint = ""
    close = difflib.get_close_matches(arch, BUILTIN_NAMES, n=1, cutoff=0.75)
    if close:
        hint = f" Did you mean {close[0]!r}?"
    elif arch and _timm_knows(arch):
        hint = f" Did you mean {TIMM_PREFIX + arch!r}?"
    return (
        f"{arch!r:.80} is not a known architecture.{hint} Choose one of {', '.join(BUILTIN_NAMES)}, "
        f"or a timm model as {TIMM_PREFIX}<name> (e.g. {TIMM_PREFIX}convnext_atto)."
    )


def _timm_knows(name: str) -> bool:
    try:
        import timm
    except ImportError:
        return False
    return bool(timm.is_model(name.partition(".")[0]))


@functools.lru_cache(maxsize=64)
def resolve(arch: str) -> "Architecture":
    """The Architecture for ``arch``; ModelError when there is none."""
    if arch in TORCHVISION_NAMES:
        from mlcls_gui.core.models.architectures.torchvision_family import TorchvisionArchitecture

        return TorchvisionArchitecture(arch)
    if arch == TINY_CNN:
        from mlcls_gui.core.models.architectures.tiny_cnn import TinyCnnArchitecture

        return TinyCnnArchitecture(arch)
    if is_timm(arch):
        try:
            from mlcls_gui.core.models.architectures.timm_family import TimmArchitecture
        except ImportError:
            raise ModelError(
                f"{arch} needs the timm package, which is not installed: pip install timm."
            ) from None
        return TimmArchitecture(arch)
    raise ModelError(_unknown_message(arch))


def default_input(arch: str) -> InputDefaults:
    """(size, mean, std) the architecture's pretrained weights expect: what a run
    uses for normalisation (and a form may offer as the image size)."""
    return resolve(arch).default_input()


def head_path(arch: str) -> str:
    """Dotted module path of the classifier (its weight is ``<path>.weight``)."""
    return resolve(arch).head_path()


def describe(arch: str) -> ArchitectureInfo:
    entry = resolve(arch)
    parameters, problem = _probe(arch)
    return ArchitectureInfo(
        name=arch, family=entry.family, input_size=entry.default_input().size,
        has_pretrained=entry.has_pretrained(), parameters=parameters, problem=problem,
    )


@functools.lru_cache(maxsize=512)
def _probe(arch: str) -> tuple[int, str]:
    """(parameters, why it cannot be trained or ""), from a build on the meta
    device: no memory, no download, tens of milliseconds."""
    import torch

    entry = resolve(arch)
    try:
        with torch.device("meta"):
            model = entry.build(2, pretrained=False, image_size=None)
    except ModelError as exc:
        return 0, str(exc)
    except Exception as exc:  # noqa: BLE001 - a few models compute values at init that meta tensors lack
        logger.debug("Cannot build %s on the meta device: %s", arch, exc)
        return 0, ""
    return sum(p.numel() for p in model.parameters()), ""


def all_names() -> list[str]:
    """Every name ``arch`` accepts (timm's without pretrained tags)."""
    names = list(BUILTIN_NAMES)
    try:
        from mlcls_gui.core.models.architectures.timm_family import model_names
    except ImportError:
        return names
    return names + [TIMM_PREFIX + name for name in model_names()]


def search(text: str, limit: int = 100) -> list[str]:
    """Names containing every word of ``text`` (case-insensitive), recommended ones first."""
    words = text.lower().split()
    recommended = [name for names in RECOMMENDED.values() for name in names]
    ordered = list(dict.fromkeys(recommended + all_names()))
    found = [name for name in ordered if all(word in name.lower() for word in words)]
    return found[:limit]
