"""TensorBoard event files beside metrics.csv (opt-in: the ``tensorboard`` config field).

Writes, through ``torch.utils.tensorboard``, into ``<output>/tensorboard/<run id>/``
(a resumed run keeps its id, so it continues its own curves; runs into the
same folder stay apart in TensorBoard): the training loss and learning rate per
batch, every number of the epoch's metrics row, per-label precision-recall
curves of the test split, and the run's settings with its final metrics
(TensorBoard's HParams tab). Open them with::

    tensorboard --logdir OUTPUT_FOLDER

Logging is a bonus, never a reason to fail a run: when the tensorboard package
is missing or a write fails, one warning says so and the run goes on without it.
"""

from __future__ import annotations

import logging
import math
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlcls_gui.core.files.safe_paths import is_inside
from mlcls_gui.core.training.engine.hook_base import Hook, Outcome, TrainingRun
from mlcls_gui.core.training.events import FinishReason

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

logger = logging.getLogger(__name__)

TENSORBOARD_FOLDER = "tensorboard"
INSTALL_HINT = "pip install 'mlcls-gui[tensorboard]' (or pip install tensorboard)"


class TensorBoardLog(Hook):
    """One run's TensorBoard events; the writer opens at the first thing to write."""

    def __init__(self) -> None:
        self._writer: SummaryWriter | None = None
        self._disabled = False
        self._batches = 0  # the step when the run does not count its batches itself
        self.log_dir: Path | None = None

    # ------------------------------------------------------------------ hooks
    def on_batch_end(self, run: TrainingRun, epoch: int, batch: int, loss: float, lr: float) -> None:
        self._batches += 1
        step = int(getattr(run.progress, "global_step", 0) or self._batches)
        self._write(run, lambda w: (_scalar(w, "batch/loss", loss, step), _scalar(w, "batch/lr", lr, step)))

    def on_epoch_end(self, run: TrainingRun, epoch: int, row: dict[str, float], improved: bool) -> None:
        def write(writer: "SummaryWriter") -> None:
            for name, value in row.items():
                if name != "epoch":
                    _scalar(writer, f"epoch/{name}", value, epoch)
            writer.flush()  # a TensorBoard watching the folder shows each epoch as it ends

        self._write(run, write)

    def on_run_end(self, run: TrainingRun, outcome: Outcome) -> None:
        # A run that failed before anything was written leaves no empty event file.
        if self._writer is not None or (outcome.reason is not FinishReason.FAILED and not self._disabled):
            self._write(run, lambda writer: self._final(run, outcome, writer))
        self.close()

    def close(self, *, quiet: bool = False) -> None:
        """``quiet``: a failure was already reported; the same one at closing is not news."""
        writer, self._writer = self._writer, None
        if writer is not None:
            try:
                writer.close()
            except Exception as exc:  # noqa: BLE001 - logging must never fail the run
                logger.log(logging.DEBUG if quiet else logging.WARNING,
                           "Could not finish the TensorBoard event files in %s: %s", self.log_dir, exc)

    # --------------------------------------------------------------- internal
    def _write(self, run: TrainingRun, write: Any) -> None:
        if self._disabled or not _is_main(run):
            return
        try:
            writer = self._writer or self._open(run)
            if writer is not None:
                write(writer)
        except Exception as exc:  # noqa: BLE001 - logging must never fail the run
            self._disable(f"TensorBoard logging stopped: writing to {self.log_dir} failed ({exc}). "
                          "The run goes on; metrics.csv has the per-epoch numbers.")

    def _open(self, run: TrainingRun) -> "SummaryWriter | None":
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            self._disable(f"TensorBoard logging is on, but the tensorboard package is not installed: "
                          f"{INSTALL_HINT}. The run goes on without it.")
            return None
        run_id = getattr(getattr(run, "identity", None), "run_id", "") or "run"
        self.log_dir = Path(run.output_dir) / TENSORBOARD_FOLDER / run_id
        if not is_inside(self.log_dir, run.output_dir):
            self._disable(f"TensorBoard logging is off: {Path(run.output_dir) / TENSORBOARD_FOLDER} is a "
                          "symbolic link that leads outside the output folder, and a run writes only inside "
                          "it. Remove the link. The run goes on; metrics.csv has the per-epoch numbers.")
            return None
        _quiet_writer_thread_errors()
        self._writer = SummaryWriter(log_dir=str(self.log_dir))
        logger.info("TensorBoard event files: %s", self.log_dir)
        return self._writer

    def _disable(self, message: str) -> None:
        self._disabled = True
        logger.warning("%s", message)
        self.close(quiet=True)

    def _final(self, run: TrainingRun, outcome: Outcome, writer: "SummaryWriter") -> None:
        epoch = int(getattr(run.progress, "epoch", 0) or 0)
        test = outcome.test
        if test is not None and len(test.targets):
            for index, label in enumerate(run.labels):
                writer.add_pr_curve(f"test_pr/{label}", test.targets[:, index] > 0.5,
                                    test.probabilities[:, index], global_step=epoch)
        metrics = final_metrics(run, outcome)
        if metrics:
            writer.add_hparams(hparams(run), metrics, run_name=".", global_step=epoch)


def _quiet_writer_thread_errors() -> None:
    """tensorboard's writer thread re-raises a failed write, and Python prints its
    traceback; the next write raises it again in the run, where ``_write`` turns
    it into one warning. So that thread's errors go to the debug log only."""
    previous = threading.excepthook
    if getattr(previous, "mlcls_quiet_tensorboard", False):
        return

    def hook(args: threading.ExceptHookArgs) -> None:
        if type(args.thread).__module__.startswith("tensorboard."):
            logger.debug("TensorBoard writer thread: %s", args.exc_value)
        else:
            previous(args)

    hook.mlcls_quiet_tensorboard = True  # type: ignore[attr-defined]
    threading.excepthook = hook


def final_metrics(run: TrainingRun, outcome: Outcome) -> dict[str, float]:
    """The numbers the HParams tab compares runs by (finite ones only)."""
    values: dict[str, Any] = {}
    progress = run.progress
    monitor = getattr(run.config, "monitor", "val_loss")
    values[f"hparams/best_{monitor}"] = getattr(progress, "best_score", None)
    values["hparams/epochs"] = getattr(progress, "epoch", None)
    if outcome.test is not None:
        report = outcome.test.report
        values.update({
            "hparams/test_loss": outcome.test.loss, "hparams/test_map": report.mean_average_precision,
            "hparams/test_exact_match": report.exact_match, "hparams/test_macro_f1": report.macro_f1,
        })
    return {k: float(v) for k, v in values.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


def hparams(run: TrainingRun) -> dict[str, Any]:
    """The run's settings as TensorBoard accepts them (numbers, text, booleans)."""
    settings = run.config.to_dict() if hasattr(run.config, "to_dict") else dict(vars(run.config))
    out: dict[str, Any] = {}
    for name, value in settings.items():
        if isinstance(value, (bool, int, float, str)):
            out[name] = value
        elif value is not None:
            out[name] = str(value)
    return out


def _is_main(run: TrainingRun) -> bool:
    strategy = getattr(run, "strategy", None)
    return strategy is None or bool(strategy.is_main)


def _scalar(writer: "SummaryWriter", tag: str, value: Any, step: int) -> None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        writer.add_scalar(tag, float(value), step)
