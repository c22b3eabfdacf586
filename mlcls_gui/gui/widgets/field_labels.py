"""Messages in the window name settings by their form labels, not config field names.

The core marks each setting its messages name (`name` or `name=value`, see
``core.errors.field_ref``), because the CLI and config files use the names.
In the window the user sees the form, so ``with_form_labels`` turns each mark
into the form's label: `pretrained=false` becomes "“ImageNet weights” off",
`weights_file` becomes "“Weights file”". Words that are not marked stay as
they are written, so nothing is guessed from the sentence.
"""

from __future__ import annotations

import re

from mlcls_gui.core.config import field_spec, field_type
from mlcls_gui.core.errors import FIELD_REF


def form_label(name: str) -> str:
    """The form's label of config field ``name`` (the name itself if unknown)."""
    try:
        return field_spec(name).label
    except KeyError:
        return name


def with_form_labels(text: str) -> str:
    """``text`` with its marked settings named by the form's labels, in quotes."""
    return FIELD_REF.sub(_labelled, text) if text else text


def _labelled(match: re.Match[str]) -> str:
    name, value = match.group(1), match.group(2)
    try:
        label = field_spec(name).label
    except KeyError:
        return match.group(0)  # not a setting of this app: left as written
    if value is None:
        return f"“{label}”"
    if field_type(name) is bool and value in ("true", "false"):
        return f"“{label}” {'on' if value == 'true' else 'off'}"
    return f"“{label}” = {field_spec(name).title_of(value)}"
