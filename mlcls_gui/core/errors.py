"""Typed errors whose messages a user can act on (name the thing, say the fix).

A message names a setting with ``field_ref``: `name` or `name=value` between
backticks, which is what ``--set`` and config files take. The mark survives
``str()``, logs, events from training processes and summary files, and lets
each client name the setting its own way: the CLI prints it as it is, the
window shows the form's label ("“ImageNet weights” off"), and nothing has to
guess which words of a sentence are settings.
"""

from __future__ import annotations

import errno
import re

# `name` or `name=value`: a config field named in a message (see field_ref).
FIELD_REF = re.compile(r"`([a-z][a-z0-9_]*)(?:=([^`]*))?`")


def field_ref(name: str, *value: object) -> str:
    """Config field ``name`` (with ``value``, when given) marked in a message."""
    if not value:
        return f"`{name}`"
    (shown,) = value
    if isinstance(shown, bool):
        shown = "true" if shown else "false"
    return f"`{name}={shown}`"


def fields_in(message: str) -> list[str]:
    """The config fields a message names, in order of appearance."""
    return [match.group(1) for match in FIELD_REF.finditer(message)]


class MlclsError(Exception):
    """Base of every error caused by the user's input or environment.

    ``field`` is the setting the error is about (the form marks its row); by
    default the first field the message names, "" when it names none."""

    def __init__(self, message: str = "", *, field: str = "") -> None:
        super().__init__(message)
        self.field = field or next(iter(fields_in(message)), "")


class ConfigError(MlclsError):
    """A config value, file or field is not acceptable."""


class DatasetError(MlclsError):
    """The data root cannot be used for training."""


class ModelError(MlclsError):
    """The model cannot be built or its weights cannot be loaded."""


class CheckpointError(MlclsError):
    """A checkpoint or model file cannot be read, written or used."""


class DeviceError(MlclsError):
    """The requested device is not available."""


class TrainingError(MlclsError):
    """Training cannot go on (e.g. the loss became NaN, out of memory)."""


class RunFolderBusyError(MlclsError):
    """Another training run owns the output folder."""


class DataFolderBusyError(MlclsError):
    """Labels cannot change now: a run reads the data, or another change is being applied."""


def os_reason(exc: BaseException) -> str:
    """A short reason for a failed file-system call, e.g. 'Permission denied'."""
    if isinstance(exc, OSError) and exc.errno == errno.ENAMETOOLONG:
        return "path too long: a name over 255 characters or a path over 4096"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
