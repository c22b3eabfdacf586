"""Typed errors whose messages a user can act on (name the thing, say the fix)."""

import errno


class MlclsError(Exception):
    """Base of every error caused by the user's input or environment."""


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
