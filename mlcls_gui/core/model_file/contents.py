"""What a model file or checkpoint holds, as one typed object.

``read_model_file`` loads a file safely and checks every field
(``checkpoint.load_model_file`` and ``rules``), then gives this view: the
trainer's resume, the resume plan the window and the CLI show, prediction and
export read a file through it, never through the stored dict's string keys.
``payload`` keeps the stored dict for the few jobs that write a file back or
hand state to torch (optimiser, schedule, random state).

A final model (kind "model") holds the weights and what prediction needs; a
checkpoint ("best", "last", "manual") also the optimiser, schedule, EMA and
random state to continue exactly. This module imports no torch (the window
reads resume plans with it); reading a file does.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Mapping

from mlcls_gui.core.config import with_current_names

if TYPE_CHECKING:
    import torch

# What each kind is, in words (the resume dialog, the CLI's resume notes).
KIND_NAMES: dict[str, str] = {
    "best": "the best checkpoint",
    "last": "the checkpoint of the last completed epoch",
    "manual": "a checkpoint saved on request, mid-epoch",
    "model": "a final model",
}


@dataclass(frozen=True)
class ModelFile:
    """A checked model file or checkpoint (see the module's docstring)."""

    path: str
    kind: str  # "best", "last", "manual" or "model"; "" in files from before kinds
    arch: str
    labels: tuple[str, ...]
    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    threshold: float  # the config's, for labels without a tuned one
    thresholds: tuple[float, ...] | None  # tuned per label on validation (final models)
    config: Mapping[str, Any]  # the training settings, under the fields' present names
    model_state: Mapping[str, torch.Tensor]
    epoch: int  # epochs completed (a best checkpoint: its epoch)
    partial_epoch: int  # the epoch a mid-epoch checkpoint was saved in (0: none)
    best_epoch: int
    best_score: float
    epochs_without_improvement: int
    global_step: int
    history: tuple[Mapping[str, float], ...]
    run_id: str
    split: Mapping[str, Any] | None  # the split's fingerprint (resume.split_fingerprint)
    test_held_out: bool
    payload: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any], path: str | os.PathLike[str] = "") -> ModelFile:
        """The typed view of a payload that ``load_model_file`` has checked."""
        config = payload.get("config")
        thresholds = payload.get("thresholds")
        best_score = payload.get("best_score")
        return cls(
            path=str(path), kind=str(payload.get("kind") or ""), arch=str(payload["arch"]),
            labels=tuple(str(label) for label in payload["labels"]), image_size=int(payload["image_size"]),
            mean=tuple(float(v) for v in payload["mean"]), std=tuple(float(v) for v in payload["std"]),
            threshold=float(payload.get("threshold", 0.5)),
            thresholds=None if thresholds is None else tuple(float(t) for t in thresholds),
            config=MappingProxyType(with_current_names(config) if isinstance(config, dict) else {}),
            model_state=payload["model_state"],
            epoch=int(payload.get("epoch") or 0), partial_epoch=int(payload.get("partial_epoch") or 0),
            best_epoch=int(payload.get("best_epoch") or 0),
            best_score=math.nan if best_score is None else float(best_score),
            epochs_without_improvement=int(payload.get("epochs_without_improvement") or 0),
            global_step=int(payload.get("global_step") or 0),
            history=tuple(dict(row) for row in payload.get("history") or ()),
            run_id=str(payload.get("run_id") or ""),
            split=payload.get("split") if isinstance(payload.get("split"), dict) else None,
            test_held_out=bool(payload.get("test_held_out", True)),
            payload=MappingProxyType(dict(payload)),
        )

    @property
    def kind_name(self) -> str:
        return KIND_NAMES.get(self.kind, "a checkpoint")

    @property
    def holds_best_weights(self) -> bool:
        """Its own weights are the best epoch's (a best checkpoint or a final model)."""
        return self.kind in ("best", "model")

    @property
    def monitor(self) -> str:
        return str(self.config.get("monitor") or "score")

    @property
    def checkpoint_name(self) -> str:
        """The best checkpoint's file name in the run that wrote this file."""
        return str(self.config.get("checkpoint_name") or "checkpoint.pt")



def read_model_file(path: str | os.PathLike[str]) -> ModelFile:
    """Load ``path`` safely (no code runs; every field checked) as a ModelFile;
    CheckpointError names the file and the problem."""
    from mlcls_gui.core.model_file.checkpoint import load_model_file  # torch: only when a file is read

    return ModelFile.from_payload(load_model_file(path), path)
