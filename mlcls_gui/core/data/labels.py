"""What a label may be: one rule, checked at scan (folders and CSV), in a model
file, at load and before a relabel.

Labels become folder names (label folders, ``predict --copy-to``), cells of a
CSV and keys of JSON, so a label that is a path (``../../x``), hidden
(``.git``), holds a control character or is longer than a file name can hold
would write outside a folder, vanish from a scan or fail half-way through a
move. The separators of each layout (``+`` between a folder's labels, ``|``
in a CSV ``labels`` cell) are allowed here: a layout that cannot hold one
says so where it writes (``folder_label_problem``).
"""

from __future__ import annotations

import os
import unicodedata
from typing import Iterable

from mlcls_gui.core.errors import DatasetError

# Characters; a label folder's whole name must also fit one file name
# (MAX_NAME_BYTES), which folder_label_problem checks where folders are written.
MAX_LABEL_LENGTH = 100
FOLDER_SEPARATOR = "+"  # between the labels of one label folder: 'cat+dog'
_PATH_SEPARATORS = tuple(dict.fromkeys(s for s in ("/", "\\", os.sep, os.altsep) if s))
# Linux's limit for one name; a folder of several labels must fit it.
MAX_NAME_BYTES = 255


def label_problem(label: object) -> str:
    """Why ``label`` cannot be a label, or '' when it can."""
    if not isinstance(label, str):
        return f"{label!r:.60} is not text"
    if not label.strip():
        return "an empty label"
    if label != label.strip():
        return f"{label!r:.60} starts or ends with a space"
    if label.startswith("."):
        return f"{label!r:.60} starts with '.' (hidden, or a path like '..')"
    if any(s in label for s in _PATH_SEPARATORS):
        return f"{label!r:.60} contains a path separator ('/' or '\\')"
    if any(unicodedata.category(ch).startswith("C") for ch in label):
        return f"{label!r:.60} contains a control character"
    if len(label) > MAX_LABEL_LENGTH:
        return f"{label[:40]!r}… is {len(label)} characters long (at most {MAX_LABEL_LENGTH})"
    return ""


def check_label(label: object, where: str) -> str:
    """``label`` when it is allowed; else DatasetError naming ``where`` (a file or folder)."""
    problem = label_problem(label)
    if problem:
        raise DatasetError(f"{where}: {problem}. {RULE}")
    return label  # type: ignore[return-value]


def check_labels(labels: Iterable[object], where: str) -> tuple[str, ...]:
    return tuple(check_label(label, where) for label in labels)


def folder_label_problem(labels: Iterable[str]) -> str:
    """Why these labels cannot be one label folder's name, or ''."""
    labels = list(labels)
    joined = [label for label in labels if FOLDER_SEPARATOR in label]
    if joined:
        return (f"{joined[0]!r} contains '+', which joins the labels of a label folder; "
                "such a label can only live in a CSV data set")
    name = FOLDER_SEPARATOR.join(labels)
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        return f"the folder name for {len(labels)} labels would be longer than {MAX_NAME_BYTES} bytes"
    return ""


RULE = (f"A label is 1 to {MAX_LABEL_LENGTH} characters, does not start with '.', and holds no "
        "'/', '\\' or control characters.")
