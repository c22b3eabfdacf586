"""Work around a reference-count bug of PySide6 6.12 on Python < 3.12.

PySide6 6.12.0 (abi3 wheels) returns ``None`` from every void-returning or
``None``-returning Qt call without taking a new reference. On Python 3.12+
``None`` is immortal and nothing happens; on 3.10/3.11 each such call takes one
reference away, and after some tens of thousands of calls (a few seconds of
plotting) CPython aborts with "Fatal Python error: none_dealloc".

``protect_singletons`` detects the bug with a few harmless calls and, only
then, gives ``None``, ``True`` and ``False`` so many references that they can
never reach zero (they live for the whole process anyway).
"""

from __future__ import annotations

import ctypes
import logging
import sys

logger = logging.getLogger(__name__)

_EXTRA_REFERENCES = 1 << 60
_applied = False


def leaks_none_references() -> bool:
    """True when void Qt calls take references from ``None`` (the bug)."""
    from PySide6.QtCore import QObject

    probe = QObject()
    before = sys.getrefcount(None)
    for _ in range(8):
        probe.setObjectName("probe")
    return sys.getrefcount(None) < before - 4


def protect_singletons() -> bool:
    """Apply the work-around if this PySide6 needs it; True when applied."""
    global _applied
    if _applied:
        return True
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False
    if not leaks_none_references():
        return False
    for singleton in (None, True, False):
        # ob_refcnt is the first field of every CPython object.
        refcount = ctypes.c_ssize_t.from_address(id(singleton))
        refcount.value += _EXTRA_REFERENCES
    _applied = True
    logger.debug("PySide6 None-reference bug detected: None/True/False protected")
    return True
