"""Options several commands share, checked once: ``--set FIELD=VALUE`` (one parser
for ``train`` and ``lr-find``, so both read a renamed field and refuse a bad item
alike) and ``--threshold`` (``predict`` and ``evaluate``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    from mlcls_gui.core.config import TrainConfig

SET_HELP_EXAMPLE = "--set n_epochs=20"


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``["n_epochs=20", …]`` → {field: value} in the fields' types; a renamed field
    is read under its present name. ConfigError for an item without '=', an
    unknown field or a value of the wrong type."""
    from mlcls_gui.core.config import current_field_name, parse_field_text
    from mlcls_gui.core.errors import ConfigError

    changes: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep:
            raise ConfigError(f"--set {item!r}: expected FIELD=VALUE, e.g. {SET_HELP_EXAMPLE}.")
        field = current_field_name(name.strip())
        changes[field] = parse_field_text(field, text)
    return changes


def with_overrides(config: "TrainConfig", items: Sequence[str]) -> "TrainConfig":
    """``config`` with the ``--set`` items applied (checked as a whole by ``with_values``)."""
    return config.with_values(**parse_overrides(items))


def check_threshold_option(threshold: float | None) -> None:
    """``--threshold`` of predict and evaluate: one threshold for every label, in (0, 1]."""
    from mlcls_gui.core.errors import ConfigError

    if threshold is not None and not 0 < threshold <= 1:
        raise ConfigError(f"--threshold {threshold}: expected a number in (0, 1].")
