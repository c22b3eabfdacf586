"""Requests from other threads and processes to a running Trainer (``run_control``)."""

from mlcls_gui.core.training.run_control import RunControl, StopRequested

__all__ = ["RunControl", "StopRequested"]
