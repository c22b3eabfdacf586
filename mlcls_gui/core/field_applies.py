"""When a config field has an effect: the one rule for the form, the CLI and the README.

A field declares it in its ``FieldSpec.applies_when`` (the ASL settings only
with the asl loss, the LR step only with the step schedule …). The form
disables a field that does not apply and gives this module's reason in its
tooltip; ``mlcls-gui train`` names each changed field the run will not use.
"""

from __future__ import annotations

from typing import Any, Mapping

from mlcls_gui.core.config import TrainConfig, field_default, field_names, field_spec
from mlcls_gui.core.errors import field_ref


def field_applies(name: str, values: Mapping[str, Any]) -> bool:
    """Whether field ``name`` has an effect with these field values."""
    return all(values.get(other) in allowed for other, allowed in field_spec(name).applies_when)


def when_it_applies(name: str) -> str:
    """"Applies only with `loss=asl`." ("" for a field that always applies)."""
    conditions = _conditions(name)
    return f"Applies only with {conditions}." if conditions else ""


def unused_settings(config: TrainConfig) -> list[str]:
    """One sentence per field set away from its default that ``config`` does not use."""
    values = config.to_dict()
    return [f"{field_ref(name, values[name])} is not used: it applies only with {_conditions(name)}."
            for name in field_names()
            if values[name] != field_default(name) and not field_applies(name, values)]


def _conditions(name: str) -> str:
    return " and ".join(" or ".join(field_ref(other, value) for value in allowed)
                        for other, allowed in field_spec(name).applies_when)
