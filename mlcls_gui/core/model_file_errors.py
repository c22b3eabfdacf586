"""One message for every way reading a model file can fail.

``core.checkpoint.load_model_file`` turns the usual failures into a
CheckpointError, but ``torch.load`` on some garbage (e.g. a short text file)
raises other errors (IndexError: pop from empty list). Code that reads a
model file the user chose wraps the read in ``model_file_errors`` so those,
too, become a CheckpointError that names the file."""

from __future__ import annotations

import contextlib
import logging
import traceback
from typing import Iterator

from .errors import CheckpointError, MlclsError

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def model_file_errors(model_path: str) -> Iterator[None]:
    """Re-raise an unforeseen error from inside ``load_model_file`` as a
    CheckpointError that says which file is not a model; anything else passes."""
    try:
        yield
    except MlclsError:
        raise
    except Exception as exc:
        frames = {frame.name for frame in traceback.extract_tb(exc.__traceback__)}
        if "load_model_file" not in frames:
            raise
        raise CheckpointError(
            f"{model_path} is not a readable mlcls-gui model file ({type(exc).__name__}: "
            f"{str(exc)[:120]}). Choose final_model.pt or a checkpoint written by mlcls-gui."
        ) from exc
