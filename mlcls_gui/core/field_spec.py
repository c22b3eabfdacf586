"""What the form, the CLI and the validator know about one config field: its
label, group, help, allowed values, when it applies and whether the form shows it first."""

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
    # One of the few choices the form shows first (the rest under "All settings").
    essential: bool = False
    # When the field has an effect: every (other field, the values it must have)
    # holds. Otherwise the form disables it and the CLI says a changed one is unused.
    applies_when: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    # Readable names of ``choices``, in their order, for the form; config files keep the values.
    choice_titles: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.choice_titles is not None and len(self.choice_titles) != len(self.choices or ()):
            raise ValueError(f"{self.label}: one title per choice")

    def title_of(self, choice: Any) -> str:
        """The readable name of ``choice`` (the value itself when it has none)."""
        if self.choices and self.choice_titles and choice in self.choices:
            return self.choice_titles[self.choices.index(choice)]
        return str(choice)

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
