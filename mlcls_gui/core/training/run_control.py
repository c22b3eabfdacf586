"""Requests from other threads (the window, a signal handler) to a running training run.

Thread-safe flags, read at batch boundaries; with several processes the
strategy makes every process act on a request at the same batch. A run in a
supervised process gets the same requests as signals (``supervised_run``).
Nothing here imports torch: the window makes one before PyTorch is loaded.
"""

from __future__ import annotations

import threading


class RunControl:
    """Stop, skip-the-test, save-a-checkpoint-now and (for a supervised process) end-now requests."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._checkpoint = threading.Event()
        self._end = threading.Event()
        self._skip_test = threading.Event()
        self._lock = threading.Lock()
        self._stop_requests = 0

    def request_stop(self) -> None:
        """Stop at the next batch, writing every output; asked again during the final
        test evaluation (after ``clear_stop``), it skips that evaluation."""
        with self._lock:
            self._stop_requests += 1
        self._stop.set()

    def request_skip_test(self) -> None:
        """The run's end skips the final test evaluation (asked for with a stop, e.g.
        Stop and close): set before the test starts, it is not started at all."""
        self._skip_test.set()

    def request_checkpoint(self) -> None:
        self._checkpoint.set()

    def request_end(self) -> None:
        """End a supervised training process now (the window is closing and the run did
        not stop in time): it is killed; what it saved before stays."""
        self._end.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def stop_requests(self) -> int:
        """How many times a stop was asked for (each one is passed on to a process)."""
        with self._lock:
            return self._stop_requests

    @property
    def skip_test_requested(self) -> bool:
        return self._skip_test.is_set()

    @property
    def end_requested(self) -> bool:
        return self._end.is_set()

    def clear_stop(self) -> None:
        self._stop.clear()

    def take_checkpoint_request(self) -> bool:
        if self._checkpoint.is_set():
            self._checkpoint.clear()
            return True
        return False


class StopRequested(Exception):
    """Raised inside an epoch when a stop request is honoured."""
