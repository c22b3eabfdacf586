"""What a model or checkpoint file may hold.

``weights_only=True`` stops a file from running code, but not from holding
values that hurt later: an image size of 100000 (tens of GB), a std of zero
(every probability NaN), a threshold of 7, a string where a list of labels
belongs. Every field is checked here against the same rules as a config, so
an edited or damaged file is refused with one line naming the field.

The checks only look at types, lengths and a few numbers; tensors are never
read beyond ``isinstance`` and their shape, so loading stays fast.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch

from mlcls_gui.core.config import TrainConfig, field_names, validate_field, with_current_names
from mlcls_gui.core.data.labels import RULE as LABEL_RULE
from mlcls_gui.core.data.labels import label_problem
from mlcls_gui.core.errors import ConfigError
from mlcls_gui.core.models import registry

KINDS: tuple[str, ...] = ("best", "last", "manual", "model")
COUNTERS: tuple[str, ...] = (
    "epoch", "best_epoch", "epochs_without_improvement", "global_step", "partial_epoch",
)
_MAX_DETAIL = 300


class FieldProblem(ValueError):
    """One field of a payload breaks a rule; the message starts with its name."""


def check_model_payload(payload: Mapping[str, Any]) -> None:
    """Raise FieldProblem for the first field that breaks its rule.

    Required keys are checked by the caller; absent optional fields pass.
    Unknown keys pass too, so newer files with extra fields still load."""
    for name, check in _CHECKS:
        if name in payload:
            check(name, payload[name], payload)


def _fail(name: str, problem: str) -> None:
    text = f"{name}: {problem}"
    if len(text) > _MAX_DETAIL:
        text = text[: _MAX_DETAIL - 1] + "…"
    raise FieldProblem(text)


def _type_name(value: Any) -> str:
    return type(value).__name__


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# ------------------------------------------------------------------ checks
def _check_kind(name: str, value: Any, _: Mapping[str, Any]) -> None:
    if not isinstance(value, str) or value not in KINDS:
        _fail(name, f"{value!r:.60} is not allowed; expected one of {', '.join(map(repr, KINDS))}.")


def _check_config_field(name: str, value: Any, _: Mapping[str, Any]) -> None:
    """arch, image_size and threshold obey exactly the config's rules."""
    try:
        validate_field(name, value)
    except ConfigError as exc:
        # validate_field's message already starts with the field name.
        raise FieldProblem(str(exc)[:_MAX_DETAIL]) from None


def _check_labels(name: str, value: Any, _: Mapping[str, Any]) -> None:
    if not isinstance(value, (list, tuple)):
        _fail(name, f"expected a list of label names, got {_type_name(value)} {value!r:.60}.")
    if not value:
        _fail(name, "the list is empty; a model needs at least one label.")
    for label in value:
        problem = label_problem(label)
        if problem:
            _fail(name, f"{problem}. {LABEL_RULE}")
    if len(set(value)) != len(value):
        repeated = sorted({label for label in value if value.count(label) > 1})
        _fail(name, f"{', '.join(map(repr, repeated))} appear(s) more than once; labels must be unique.")


def _check_normalisation(name: str, value: Any, _: Mapping[str, Any]) -> None:
    """mean and std: three finite numbers (one per RGB channel); std above 0."""
    positive = name == "std"
    allowed = "3 finite numbers" + (" above 0" if positive else "")
    if not isinstance(value, (list, tuple)) or len(value) != 3:
        _fail(name, f"expected {allowed}, got {_type_name(value)} {value!r:.60}.")
    for number in value:
        if not _is_number(number) or not math.isfinite(number) or (positive and number <= 0):
            _fail(name, f"{number!r:.60} is not allowed; expected {allowed} (one per RGB channel).")


def _check_thresholds(name: str, value: Any, payload: Mapping[str, Any]) -> None:
    count = len(payload["labels"])
    if not isinstance(value, (list, tuple)) or len(value) != count:
        got = len(value) if isinstance(value, (list, tuple)) else _type_name(value)
        _fail(name, f"expected one number in [0, 1] per label ({count}), got {got}.")
    for threshold in value:
        if not _is_number(threshold) or not 0.0 <= threshold <= 1.0:  # NaN fails too
            _fail(name, f"{threshold!r:.60} is not allowed; expected numbers in [0, 1].")


def _check_model_state(name: str, value: Any, payload: Mapping[str, Any]) -> None:
    if not isinstance(value, dict) or not value:
        _fail(name, f"expected a non-empty dict of weight tensors, got {_type_name(value)}.")
    for key, tensor in value.items():
        if not isinstance(key, str) or not isinstance(tensor, torch.Tensor):
            _fail(name, f"entry {key!r:.60} is {_type_name(tensor)}; expected text -> tensor.")
    _check_head(name, value, payload)


def _check_head(name: str, state: Mapping[str, torch.Tensor], payload: Mapping[str, Any]) -> None:
    """The classifier must have one output per label: the model is built from
    the label count before its weights load, so a forged count of millions
    would allocate gigabytes first."""
    arch, labels = payload["arch"], payload["labels"]
    # The registry knows where each architecture's head is without building it.
    key = f"{registry.head_path(arch)}.weight"
    weight = state.get(key)
    if weight is None or weight.dim() != 2:
        _fail(name, f"lacks the classifier weights {key!r} of a {arch} (a 2-D tensor).")
    if weight.shape[0] != len(labels):
        _fail("labels", f"{len(labels)} labels, but the classifier in model_state has "
                        f"{weight.shape[0]} outputs; they must match.")


_CONFIG_FIELDS = frozenset(field_names())


def _check_config(name: str, value: Any, _: Mapping[str, Any]) -> None:
    if not isinstance(value, dict):
        _fail(name, f"expected a dict of training settings, got {_type_name(value)}.")
    # Fields this version does not know (a newer app's) are left out, not refused:
    # the settings it knows must still be valid.
    known = {key: item for key, item in with_current_names(value).items() if key in _CONFIG_FIELDS}
    try:
        TrainConfig.from_dict(known, source=name)
    except ConfigError as exc:
        # from_dict's message starts with source, i.e. "config: ..."; the list
        # of all known fields would drown the one line.
        text = str(exc).split(" Known fields:")[0]
        raise FieldProblem(text[:_MAX_DETAIL]) from None


def _check_dict(name: str, value: Any, _: Mapping[str, Any]) -> None:
    if not isinstance(value, dict):
        _fail(name, f"expected a dict, got {_type_name(value)}.")


def _check_dict_or_none(name: str, value: Any, payload: Mapping[str, Any]) -> None:
    if value is not None:
        _check_dict(name, value, payload)


def _check_count(name: str, value: Any, _: Mapping[str, Any]) -> None:
    if not _is_count(value) or value < 0:
        _fail(name, f"{value!r:.60} is not allowed; expected a whole number >= 0.")


def _check_best_score(name: str, value: Any, _: Mapping[str, Any]) -> None:
    # NaN means "no best score yet"; infinity would never be beaten (or always).
    if not _is_number(value) or math.isinf(value):
        _fail(name, f"{value!r:.60} is not allowed; expected a finite number (or NaN: none yet).")


def _check_history(name: str, value: Any, _: Mapping[str, Any]) -> None:
    if not isinstance(value, list) or not all(isinstance(row, dict) for row in value):
        _fail(name, f"expected a list of per-epoch dicts, got {_type_name(value)}.")


def _check_rng(name: str, value: Any, _: Mapping[str, Any]) -> None:
    if not isinstance(value, dict) or not all(isinstance(v, torch.Tensor) for v in value.values()):
        _fail(name, "expected a dict of random-generator state tensors.")


def _check_text(name: str, value: Any, _: Mapping[str, Any]) -> None:
    if not isinstance(value, str):
        _fail(name, f"expected text, got {_type_name(value)}.")


_Check = Callable[[str, Any, Mapping[str, Any]], None]
# Order matters: labels and arch are checked before the fields that use them.
_CHECKS: tuple[tuple[str, _Check], ...] = (
    ("kind", _check_kind),
    ("arch", _check_config_field),
    ("labels", _check_labels),
    ("model_state", _check_model_state),
    ("image_size", _check_config_field),
    ("mean", _check_normalisation),
    ("std", _check_normalisation),
    ("threshold", _check_config_field),
    ("thresholds", _check_thresholds),
    ("config", _check_config),
    ("optimizer_state", _check_dict),
    ("scheduler_state", _check_dict),
    *((name, _check_count) for name in COUNTERS),
    ("best_score", _check_best_score),
    ("history", _check_history),
    ("rng", _check_rng),
    ("test_metrics", _check_dict_or_none),
    ("saved_at", _check_text),
)
