"""Typed errors whose messages a user can act on (name the thing, say the fix)."""


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
