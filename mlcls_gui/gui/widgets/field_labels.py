"""Messages in the window name settings by their form labels, not config field names.

The core's messages name config fields (``weights_file``, ``pretrained=false``)
because the CLI and JSON files use those names. In the window the user sees
the form, so ``with_form_labels`` rewrites them: ``pretrained=false`` becomes
"ImageNet weights" off, ``weights_file`` becomes "Weights file". Bare names
that are ordinary words (seed, threshold, device…) are rewritten only where
they are clearly the field (``name=…`` or a leading ``name:``).
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache

from mlcls_gui.core.config import field_names, field_spec

logger = logging.getLogger(__name__)

# Field names that are never ordinary English words (safe to replace anywhere).
_JARGON = re.compile(r"_|^(arch|pretrained)$")


def form_label(name: str) -> str:
    """The form's label of config field ``name`` (the name itself if unknown)."""
    try:
        return field_spec(name).label
    except KeyError:
        return name


@lru_cache(maxsize=1)
def _patterns() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str], dict[str, str]]:
    names = sorted(field_names(), key=len, reverse=True)
    labels = {name: form_label(name) for name in names}
    alternatives = "|".join(re.escape(n) for n in names)
    jargon = "|".join(re.escape(n) for n in names if _JARGON.search(n))
    assignment = re.compile(rf"`?\b({alternatives})\s*=\s*([^\s,;`)]+?)`?(?=[\s,;)]|\.(?:\s|$)|$)")
    leading = re.compile(rf"(^|[.;]\s+|\n)({alternatives}):")
    bare = re.compile(rf"`?\b({jargon})\b`?")
    return assignment, leading, bare, labels


def with_form_labels(text: str) -> str:
    """``text`` with config field names replaced by the form's labels, in quotes."""
    if not text:
        return text
    assignment, leading, bare, labels = _patterns()

    def assigned(match: re.Match[str]) -> str:
        label, value = labels[match.group(1)], match.group(2)
        lowered = value.lower()
        if lowered in ("true", "on", "yes"):
            return f"“{label}” on"
        if lowered in ("false", "off", "no"):
            return f"“{label}” off"
        return f"“{label}” = {value}"

    text = assignment.sub(assigned, text)
    text = leading.sub(lambda m: f"{m.group(1)}“{labels[m.group(2)]}”:", text)
    return bare.sub(lambda m: f"“{labels[m.group(1)]}”", text)
