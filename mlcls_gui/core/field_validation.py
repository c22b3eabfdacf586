"""Whether one config field's value is allowed: its type, its range or choices,
its pattern, and the output file names that must not collide.

Each check is given the field's name, type (``kind``) and ``FieldSpec``, so this
module needs no config class: ``config.py`` looks a field up by its name and
asks here (``coerce_field``, ``parse_field_text``, ``validate_field``), and
``TrainConfig`` checks every field with these when it is built. Every error
names the field (``ConfigError.field``), so the form can mark it.
"""

from __future__ import annotations

import itertools
import math
import os
import re
from typing import Any, Sequence

from mlcls_gui.core.errors import ConfigError, ModelError, field_ref
from mlcls_gui.core.field_spec import FieldSpec
from mlcls_gui.core.models import registry
from mlcls_gui.core.output_names import FIXED_OUTPUT_NAMES

# The fields that name a file inside the output folder.
OUTPUT_NAME_FIELDS: tuple[str, ...] = ("final_model_name", "checkpoint_name", "log_name")


def coerce_value(name: str, kind: type, spec: FieldSpec, value: Any) -> Any:
    """Return ``value`` as the field's type, or raise naming the field.

    Ints are accepted for float fields; nothing else is silently converted
    (``"16"`` for an int field is a wrong type in JSON)."""
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
    if not ok:
        raise field_error(name, f"expected {spec.describe_allowed(kind)}, got {type(value).__name__} {value!r}.")
    return value


def parse_text(name: str, kind: type, spec: FieldSpec, text: str) -> Any:
    """Parse ``text`` (from ``--set`` or a form) into the field's type."""
    raw = text.strip()
    try:
        if kind is bool:
            lowered = raw.lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if kind is int:
            return int(raw)
        if kind is float:
            value = float(raw)
            if not math.isfinite(value):
                raise ValueError
            return value
    except ValueError:
        raise field_error(name, f"{text!r} is not valid; expected {spec.describe_allowed(kind)}.") from None
    return text


def check_value(name: str, kind: type, spec: FieldSpec, default: Any, value: Any) -> None:
    """Raise ConfigError if ``value`` (already of the field's type) is not allowed;
    ``default`` is the example a bad output file name is offered."""
    allowed = spec.describe_allowed(kind)
    if name == "arch":
        _check_arch(value)
        return
    if spec.choices is not None and value not in spec.choices:
        raise field_error(name, f"{value!r} is not allowed; expected {allowed}.")
    if spec.pattern is not None and not re.match(spec.pattern, value):
        raise field_error(name, f"{value!r} is not allowed; expected {allowed}.")
    if kind in (int, float):
        if kind is float and not math.isfinite(value):
            raise field_error(name, f"{value!r} is not allowed; expected {allowed}.")
        too_low = spec.minimum is not None and (
            value <= spec.minimum if spec.exclusive_minimum else value < spec.minimum
        )
        too_high = spec.maximum is not None and value > spec.maximum
        if too_low or too_high:
            raise field_error(name, f"{value:g} is out of range; expected {allowed}.")
    if kind is str and name in OUTPUT_NAME_FIELDS:
        if not value.strip() or os.sep in value or (os.altsep and os.altsep in value):
            raise field_error(name, f"{value!r} must be a plain file name (no folders), e.g. {default!r}.")


def check_output_names(names: Sequence[str], defaults: Sequence[str]) -> None:
    """The final model, checkpoint and log names (``OUTPUT_NAME_FIELDS``' values, in
    that order) must not overwrite each other or another output (config.json, metrics.csv, …)."""
    for field_name, name, default in zip(OUTPUT_NAME_FIELDS, names, defaults):
        if name.casefold() in {fixed.casefold() for fixed in FIXED_OUTPUT_NAMES}:
            raise field_error(field_name, f"{name!r} is the name of another output of the run; choose "
                              f"another name, e.g. {default!r}.")
    for (first, a), (second, b) in itertools.combinations(zip(OUTPUT_NAME_FIELDS, names), 2):
        if a.casefold() == b.casefold():
            raise ConfigError(
                f"{field_ref(first)} and {field_ref(second)} are both {a!r}: one file would overwrite "
                "the other. Give them different names.", field=second)


def field_error(name: str, detail: str) -> ConfigError:
    """An error about one field's value: "`name`: detail"."""
    return ConfigError(f"{field_ref(name)}: {detail}", field=name)


def _check_arch(value: str) -> None:
    """Any architecture the registry knows; the field's choices are only suggestions."""
    try:
        registry.validate(value)
    except ModelError as exc:
        raise field_error("arch", str(exc)) from None
