"""What a model file or checkpoint holds: one typed definition, used both ways.

Each stored field of ``ModelFile`` is declared once, with its rule
(``field_rules``) and how a stored value becomes the typed one. Reading
(``read_model_file``) checks every field by its rule, then gives the typed
object; writing builds one (the trainer, ``save_thresholds``) and stores its
``to_payload()`` with ``checkpoint.save_atomic``. The trainer's resume, the
resume plan the window and the CLI show, prediction and export read a file
through it, never through the stored dict's string keys.

A final model (kind "model") holds the weights and what prediction needs; a
checkpoint ("best", "last", "manual") also the optimiser, schedule, EMA and
random state to continue exactly. This module imports no torch (the window
reads resume plans with it); reading a file does.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import MISSING, dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable, Mapping

from mlcls_gui.core.config import with_current_names
from mlcls_gui.core.errors import MlclsError
from mlcls_gui.core.model_file import field_rules as rule

if TYPE_CHECKING:
    import torch

# What each kind is, in words (the resume dialog, the CLI's resume notes).
KIND_NAMES: dict[str, str] = {
    "best": "the best checkpoint",
    "last": "the checkpoint of the last completed epoch",
    "manual": "a checkpoint saved on request, mid-epoch",
    "model": "a final model",
}
# Longer problems are cut, so that a forged value cannot flood the message.
_MAX_DETAIL = 300


@dataclass(frozen=True)
class _Stored:
    rule: rule.Rule
    read: Callable[[Any], Any]  # a stored (or already typed) value -> the typed one
    required: bool


def _same(value: Any) -> Any:
    return value


def _stored(check: rule.Rule, read: Callable[[Any], Any] = _same, *, required: bool = False,
            default: Any = MISSING, factory: Any = MISSING) -> Any:
    """A field kept in the file under its own name: its rule, how it reads and,
    unless required, its value when absent (a field at that value is not written)."""
    return field(default=default, default_factory=factory, metadata={"stored": _Stored(check, read, required)})


def _texts(value: Any) -> tuple[str, ...]:
    return tuple(str(item) for item in value)


def _numbers(value: Any) -> tuple[float, ...]:
    return tuple(float(item) for item in value)


def _optional_numbers(value: Any) -> tuple[float, ...] | None:
    return None if value is None else _numbers(value)


def _settings(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(with_current_names(value))


def _no_settings() -> Mapping[str, Any]:
    return MappingProxyType({})


def _rows(value: Any) -> tuple[Mapping[str, float], ...]:
    return tuple(dict(row) for row in value)


def _optional_dict(value: Any) -> dict[str, Any] | None:
    return None if value is None else dict(value)


@dataclass(frozen=True, kw_only=True)
class ModelFile:
    """A model file or checkpoint (see the module's docstring). Stored fields are
    checked in the order declared here: a rule may use the fields above it."""

    path: str = ""  # where it was read from; not stored
    kind: str = _stored(rule.kind, str, default="")  # "best", "last", "manual", "model"; "" before kinds
    arch: str = _stored(rule.config_field, str, required=True)
    model_state: Mapping[str, torch.Tensor] = _stored(rule.model_state, required=True)
    labels: tuple[str, ...] = _stored(rule.labels, _texts, required=True)
    image_size: int = _stored(rule.config_field, int, required=True)
    mean: tuple[float, ...] = _stored(rule.per_channel(positive=False), _numbers, required=True)
    std: tuple[float, ...] = _stored(rule.per_channel(positive=True), _numbers, required=True)
    threshold: float = _stored(rule.config_field, float, default=0.5)  # the config's, for labels without a tuned one
    # Tuned per label on validation (final models).
    thresholds: tuple[float, ...] | None = _stored(rule.thresholds, _optional_numbers, default=None)
    # The training settings, under the fields' present names.
    config: Mapping[str, Any] = _stored(rule.config, _settings, factory=_no_settings)
    optimizer_name: str = _stored(rule.text, str, default="")
    optimizer_state: Mapping[str, Any] | None = _stored(rule.mapping, default=None)  # checkpoints only
    scheduler_state: Mapping[str, Any] | None = _stored(rule.mapping, default=None)  # checkpoints only
    epoch: int = _stored(rule.count, int, default=0)  # epochs completed (a best checkpoint: its epoch)
    best_epoch: int = _stored(rule.count, int, default=0)
    epochs_without_improvement: int = _stored(rule.count, int, default=0)
    global_step: int = _stored(rule.count, int, default=0)
    partial_epoch: int = _stored(rule.count, int, default=0)  # a mid-epoch checkpoint's epoch (0: none)
    best_score: float = _stored(rule.best_score, float, default=math.nan)
    history: tuple[Mapping[str, float], ...] = _stored(rule.history, _rows, default=())
    # The torch, loader and augmentation generators' states (checkpoints only).
    rng: Mapping[str, torch.Tensor] | None = _stored(rule.random_state, default=None)
    test_metrics: Mapping[str, Any] | None = _stored(rule.mapping_or_none, _optional_dict, default=None)
    saved_at: str = _stored(rule.text, str, default="")
    run_id: str = _stored(rule.text, str, default="")
    # The split's fingerprint (resume.split_fingerprint).
    split: Mapping[str, Any] | None = _stored(rule.mapping_or_none, _optional_dict, default=None)
    test_held_out: bool = _stored(rule.flag, bool, default=True)
    # A best checkpoint whose EMA weights won holds the model's own beside them.
    raw_model_state: Mapping[str, torch.Tensor] | None = _stored(rule.weights, default=None)
    ema_state: Mapping[str, torch.Tensor] | None = _stored(rule.weights, default=None)
    # Fields this version does not know (a newer one's): kept, so a rewrite loses nothing.
    other_fields: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        # Built from a stored dict or by the trainer (lists), each field holds its typed value.
        for item in _STORED:
            object.__setattr__(self, item.name, _spec(item).read(getattr(self, item.name)))

    @classmethod
    def from_payload(cls, stored: Mapping[str, Any], path: str | os.PathLike[str] = "") -> ModelFile:
        """The typed view of a stored dict whose fields obey their rules."""
        known = {item.name for item in _STORED}
        return cls(path=str(path), **{key: value for key, value in stored.items() if key in known},
                   other_fields={key: value for key, value in stored.items() if key not in known})

    def to_payload(self) -> dict[str, Any]:
        """The dict to store: plain lists and dicts (what ``weights_only`` loads and
        older versions check); a field at its absent value is left out."""
        payload = dict(self.other_fields)
        for item in _STORED:
            value = getattr(self, item.name)
            if not _is_absent(item, value):
                payload[item.name] = _plain(value)
        return payload

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


_STORED: tuple[dataclasses.Field, ...] = tuple(
    item for item in dataclasses.fields(ModelFile) if "stored" in item.metadata)


def _spec(item: dataclasses.Field) -> _Stored:
    return item.metadata["stored"]


def _is_absent(item: dataclasses.Field, value: Any) -> bool:
    if item.default is not MISSING:
        return value is item.default or value == item.default
    return item.default_factory is not MISSING and value == item.default_factory()


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    return dict(value) if isinstance(value, MappingProxyType) else value


def missing_fields(stored: Mapping[str, Any]) -> list[str]:
    return [item.name for item in _STORED if _spec(item).required and item.name not in stored]


def field_problem(stored: Mapping[str, Any]) -> str | None:
    """The first field of ``stored`` that breaks its rule, in one line; absent
    fields pass (``missing_fields`` says which are required), unknown ones too."""
    for item in _STORED:
        if item.name in stored:
            problem = _spec(item).rule(item.name, stored[item.name], stored)
            if problem:
                return problem if len(problem) <= _MAX_DETAIL else problem[: _MAX_DETAIL - 1] + "…"
    return None


def read_model_file(path: str | os.PathLike[str]) -> ModelFile:
    """Load ``path`` safely (no code runs) and check every field by its rule.
    Whatever goes wrong, a CheckpointError names the file and the problem."""
    from mlcls_gui.core.model_file import checkpoint  # torch: only when a file is read

    source = Path(path).expanduser()
    try:
        stored = checkpoint.load_stored(source)
        missing = missing_fields(stored)
        if missing:
            raise checkpoint.refusal(source, f"lacks {', '.join(missing)}; it is incomplete.")
        problem = field_problem(stored)
        if problem:
            raise checkpoint.refusal(source, f"is not a usable model file: {problem}")
        return ModelFile.from_payload(stored, path)
    except MlclsError:
        raise
    except Exception as exc:  # noqa: BLE001 - a forged value can trip a rule or a conversion unforeseen
        raise checkpoint.unreadable(source, exc) from exc
