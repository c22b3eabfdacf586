"""Requests from other threads and processes to a running Trainer."""

from __future__ import annotations

import threading


class RunControl:
    """Requests from other threads (GUI, signal handler); thread-safe flags.

    The loop reads them at batch boundaries; with several processes the
    strategy makes every process act on a request at the same batch."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._checkpoint = threading.Event()

    def request_stop(self) -> None:
        self._stop.set()

    def request_checkpoint(self) -> None:
        self._checkpoint.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def clear_stop(self) -> None:
        self._stop.clear()

    def take_checkpoint_request(self) -> bool:
        if self._checkpoint.is_set():
            self._checkpoint.clear()
            return True
        return False


class StopRequested(Exception):
    """Raised inside an epoch when a stop request is honoured."""
