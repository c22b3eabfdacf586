"""The rule each field of a model file obeys, one function per kind of value.

``weights_only=True`` stops a file from running code, but not from holding
values that hurt later: an image size of 100000 (tens of GB), a std of zero
(every probability NaN), a threshold of 7, a string where a list of labels
belongs. ``contents.ModelFile`` names each field's rule beside the field, so an
edited or damaged file is refused with one line naming the field.

A rule gets the field's name, its stored value and the whole stored dict (for
the fields it depends on, declared before it); it returns what is wrong, one
line starting with the field's name, or None. It looks only at types, lengths
and a few numbers; tensors are never read beyond their type and shape, so
loading stays fast. Nothing here imports torch at import time: the window
imports ``contents``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from mlcls_gui.core.config import TrainConfig, field_names, validate_field, with_current_names
from mlcls_gui.core.data.labels import RULE as LABEL_RULE
from mlcls_gui.core.data.labels import label_problem
from mlcls_gui.core.errors import ConfigError
from mlcls_gui.core.models import registry

Rule = Callable[[str, Any, Mapping[str, Any]], str | None]
KINDS: tuple[str, ...] = ("best", "last", "manual", "model")


def _problem(name: str, text: str) -> str:
    return f"{name}: {text}"


def _type_name(value: Any) -> str:
    return type(value).__name__


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_tensor(value: Any) -> bool:
    import torch  # only a file being read reaches here, and reading it imported torch

    return isinstance(value, torch.Tensor)


def kind(name: str, value: Any, _: Mapping[str, Any]) -> str | None:
    if isinstance(value, str) and value in KINDS:
        return None
    return _problem(name, f"{value!r:.60} is not allowed; expected one of {', '.join(map(repr, KINDS))}.")


def config_field(name: str, value: Any, _: Mapping[str, Any]) -> str | None:
    """arch, image_size and threshold obey exactly the config's rules."""
    try:
        validate_field(name, value)
    except ConfigError as exc:
        return str(exc)  # it starts with the field's name already
    return None


def model_state(name: str, value: Any, stored: Mapping[str, Any]) -> str | None:
    """Weight tensors, with the classifier of the file's architecture (``arch``).

    The registry knows where each architecture's head is without building it."""
    if not isinstance(value, dict) or not value:
        return _problem(name, f"expected a non-empty dict of weight tensors, got {_type_name(value)}.")
    problem = weights(name, value, stored)
    if problem:
        return problem
    key = f"{registry.head_path(stored['arch'])}.weight"
    head = value.get(key)
    if head is None or head.dim() != 2:
        return _problem(name, f"lacks the classifier weights {key!r} of a {stored['arch']} (a 2-D tensor).")
    return None


def weights(name: str, value: Any, _: Mapping[str, Any]) -> str | None:
    """A state dict: text -> tensor."""
    if not isinstance(value, dict):
        return _problem(name, f"expected a dict of weight tensors, got {_type_name(value)}.")
    for key, tensor in value.items():
        if not isinstance(key, str) or not _is_tensor(tensor):
            return _problem(name, f"entry {key!r:.60} is {_type_name(tensor)}; expected text -> tensor.")
    return None


def labels(name: str, value: Any, stored: Mapping[str, Any]) -> str | None:
    """Unique, valid label names, one per output of the classifier in
    ``model_state`` when the file has weights: the model is built from the label
    count before its weights load, so a forged count of millions would
    allocate gigabytes first."""
    if not isinstance(value, (list, tuple)):
        return _problem(name, f"expected a list of label names, got {_type_name(value)} {value!r:.60}.")
    if not value:
        return _problem(name, "the list is empty; a model needs at least one label.")
    for label in value:
        problem = label_problem(label)
        if problem:
            return _problem(name, f"{problem}. {LABEL_RULE}")
    if len(set(value)) != len(value):
        repeated = sorted({label for label in value if value.count(label) > 1})
        return _problem(name, f"{', '.join(map(repr, repeated))} appear(s) more than once; labels must be unique.")
    if "model_state" in stored:
        outputs = stored["model_state"][f"{registry.head_path(stored['arch'])}.weight"].shape[0]
        if outputs != len(value):
            return _problem(name, f"{len(value)} labels, but the classifier in model_state has "
                                  f"{outputs} outputs; they must match.")
    return None


def per_channel(*, positive: bool) -> Rule:
    """mean and std: three finite numbers, one per RGB channel (std: above 0)."""
    allowed = "3 finite numbers" + (" above 0" if positive else "")

    def check(name: str, value: Any, _: Mapping[str, Any]) -> str | None:
        if not isinstance(value, (list, tuple)) or len(value) != 3:
            return _problem(name, f"expected {allowed}, got {_type_name(value)} {value!r:.60}.")
        for number in value:
            if not _is_number(number) or not math.isfinite(number) or (positive and number <= 0):
                return _problem(name, f"{number!r:.60} is not allowed; expected {allowed} (one per RGB channel).")
        return None

    return check


def thresholds(name: str, value: Any, stored: Mapping[str, Any]) -> str | None:
    count = len(stored["labels"])
    if not isinstance(value, (list, tuple)) or len(value) != count:
        got = len(value) if isinstance(value, (list, tuple)) else _type_name(value)
        return _problem(name, f"expected one number in [0, 1] per label ({count}), got {got}.")
    for threshold in value:
        if not _is_number(threshold) or not 0.0 <= threshold <= 1.0:  # NaN fails too
            return _problem(name, f"{threshold!r:.60} is not allowed; expected numbers in [0, 1].")
    return None


_CONFIG_FIELDS = frozenset(field_names())


def config(name: str, value: Any, _: Mapping[str, Any]) -> str | None:
    if not isinstance(value, dict):
        return _problem(name, f"expected a dict of training settings, got {_type_name(value)}.")
    # Fields this version does not know (a newer app's) are left out, not refused:
    # the settings it knows must still be valid.
    known = {key: item for key, item in with_current_names(value).items() if key in _CONFIG_FIELDS}
    try:
        TrainConfig.from_dict(known, source=name)
    except ConfigError as exc:
        # from_dict's message starts with source, i.e. "config: ..."; the list
        # of all known fields would drown the one line.
        return str(exc).split(" Known fields:")[0]
    return None


def mapping(name: str, value: Any, _: Mapping[str, Any]) -> str | None:
    return None if isinstance(value, dict) else _problem(name, f"expected a dict, got {_type_name(value)}.")


def mapping_or_none(name: str, value: Any, stored: Mapping[str, Any]) -> str | None:
    return None if value is None else mapping(name, value, stored)


def count(name: str, value: Any, _: Mapping[str, Any]) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return None
    return _problem(name, f"{value!r:.60} is not allowed; expected a whole number >= 0.")


def best_score(name: str, value: Any, _: Mapping[str, Any]) -> str | None:
    # NaN means "no best score yet"; infinity would never be beaten (or always).
    if _is_number(value) and not math.isinf(value):
        return None
    return _problem(name, f"{value!r:.60} is not allowed; expected a finite number (or NaN: none yet).")


def history(name: str, value: Any, _: Mapping[str, Any]) -> str | None:
    if isinstance(value, list) and all(isinstance(row, dict) for row in value):
        return None
    return _problem(name, f"expected a list of per-epoch dicts, got {_type_name(value)}.")


def random_state(name: str, value: Any, _: Mapping[str, Any]) -> str | None:
    if isinstance(value, dict) and all(_is_tensor(v) for v in value.values()):
        return None
    return _problem(name, "expected a dict of random-generator state tensors.")


def text(name: str, value: Any, _: Mapping[str, Any]) -> str | None:
    return None if isinstance(value, str) else _problem(name, f"expected text, got {_type_name(value)}.")


def flag(name: str, value: Any, _: Mapping[str, Any]) -> str | None:
    return None if isinstance(value, bool) else _problem(name, f"expected true or false, got {value!r:.60}.")
