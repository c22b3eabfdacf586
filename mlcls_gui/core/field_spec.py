"""What the form, the CLI and the validator know about one config field: its
label, group, help, allowed values and whether it is an advanced setting."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FieldSpec:
    """What the form, the CLI and the validator need to know about one field."""

    label: str
    group: str
    help: str
    minimum: float | None = None
    maximum: float | None = None
    # True when the bound itself is not allowed (e.g. learning_rate > 0).
    exclusive_minimum: bool = False
    choices: tuple[str, ...] | None = None
    pattern: str | None = None
    # "path_dir", "path_file" or "" — lets the GUI offer a picker.
    path_kind: str = ""
    # Shown in the form only when the user wants everything ("advanced").
    advanced: bool = False

    def describe_allowed(self, kind: type) -> str:
        if self.choices:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.pattern:
            return f"text matching {self.pattern}"
        if kind is bool:
            return "true or false"
        if self.minimum is not None or self.maximum is not None:
            low = "(" if self.exclusive_minimum else "["
            lo = _fmt(self.minimum) if self.minimum is not None else "-inf"
            hi = _fmt(self.maximum) if self.maximum is not None else "inf"
            word = "an integer" if kind is int else "a number"
            return f"{word} in {low}{lo}, {hi}]"
        return "an integer" if kind is int else ("a number" if kind is float else "text")


def _fmt(value: float) -> str:
    return f"{value:g}"


def config_field(default: Any, **meta: Any) -> Any:
    """A TrainConfig field with its FieldSpec as metadata."""
    return field(default=default, metadata={"spec": FieldSpec(**meta)})
