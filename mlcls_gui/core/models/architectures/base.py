"""What every architecture family tells the rest of the app.

One ``Architecture`` per name written in a config (``resnet18``,
``timm:convnext_atto``, ``tiny_cnn``): how to build it with one output per
label, where its classifier is, what its feature extractor is, which block a
saliency map looks at, and the input it was pretrained with.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, NamedTuple

from mlcls_gui.core.errors import ModelError, field_ref

if TYPE_CHECKING:  # torch is imported only where a model is really built
    import torch
    from torch import nn


TIMM_PREFIX = "timm:"  # a timm model's name in a config: timm:<model name>


class InputDefaults(NamedTuple):
    """The square input size and RGB normalisation a model was pretrained with."""

    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


@dataclass(frozen=True)
class SaliencyTarget:
    """The last convolution/attention block, for saliency maps.

    ``layout`` is how its output is laid out: "NCHW" (a feature map) or "NLC"
    (tokens; the first ``prefix_tokens`` are class/register tokens, the rest a
    square grid)."""

    module: "nn.Module"
    layout: str = "NCHW"
    prefix_tokens: int = 0


class Architecture(abc.ABC):
    """One buildable architecture. Subclasses are the families."""

    family: str = ""

    def __init__(self, name: str) -> None:
        self.name = name  # as written in configs and model files

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    @abc.abstractmethod
    def build(self, num_labels: int, *, pretrained: bool, image_size: int | None) -> "nn.Module":
        """The network with a new classifier of ``num_labels`` outputs.

        ``pretrained`` loads the family's own pretrained weights (may
        download); ``image_size`` matters only to models whose shape depends
        on it (ViTs' position embeddings)."""

    @abc.abstractmethod
    def head_path(self) -> str:
        """Dotted module path of the classifier, known without building the model
        (the model-file check reads ``<head_path>.weight`` from a state dict)."""

    @abc.abstractmethod
    def feature_extractor(self, model: "nn.Module") -> "nn.Module":
        """Everything before the head, sharing the model's modules:
        ``head(extractor(x)) == model(x)``."""

    @abc.abstractmethod
    def saliency_target(self, model: "nn.Module") -> SaliencyTarget:
        """The last convolution or attention block."""

    @abc.abstractmethod
    def default_input(self) -> InputDefaults:
        """Input size and normalisation of the pretrained weights."""

    @abc.abstractmethod
    def has_pretrained(self) -> bool:
        """Whether the family offers pretrained weights for this name."""

    def installed_weights(self) -> str:
        """A weights file for this name that came with an installed package
        (pretrained weights without a download), or ''."""
        return ""

    def adapt_state_dict(
        self, state: Mapping[str, "torch.Tensor"], model: "nn.Module"
    ) -> dict[str, Any]:
        """A weights file's state dict made to fit ``model`` (e.g. resampled
        position embeddings); the default keeps it as it is."""
        return dict(state)


class WeightsUnavailableError(ModelError):
    """An architecture's pretrained weights cannot be had on this machine.

    Its message gives the ways out. Which apply depends on the run, so
    ``for_frozen_extractor`` gives another message: random weights, the usual
    fallback, are no way out when only the new layer trains on the features."""

    def __init__(self, problem: str, *, weights_file: str = "a local weights file (.pth) for this architecture",
                 offline: bool = True) -> None:
        self.problem, self.weights_file = problem, weights_file
        lead = "Without internet, set" if offline else "Set"
        super().__init__(
            f"{problem} {lead} {field_ref('weights_file')} to {weights_file}, or set "
            f"{field_ref('pretrained', False)} to train from random weights.", field="weights_file")

    def for_frozen_extractor(self, installed: str) -> ModelError:
        """The message for a run with ``freeze_extractor`` (a Quick model), where
        ``installed`` names architectures whose weights need no download."""
        return ModelError(
            f"{self.problem} With {field_ref('freeze_extractor', True)} (as in a Quick model) only the new "
            "layer trains, on the pretrained features, so the weights are needed: connect to the internet "
            f"once, set {field_ref('weights_file')} to {self.weights_file}, or choose an architecture "
            f"whose weights are installed ({installed}).", field="weights_file")


def download_failed(arch: str, exc: BaseException | str, *, weights: str = "ImageNet weights",
                    formats: str = ".pth") -> WeightsUnavailableError:
    """The one error for pretrained weights that could not be fetched."""
    reason = exc if isinstance(exc, str) else short_reason(exc)
    return WeightsUnavailableError(f"Could not get the {weights} for {arch} ({reason}).",
                                   weights_file=f"a local weights file ({formats}) for this architecture")


def short_reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]
