"""What happens around the loop, each in one small hook: metrics.csv and the
log line, checkpoints, early stopping, events, and the final outputs.

The loop calls every hook at the same fixed points and does not know their
insides. Hooks that write files or talk to the user run only in the main
process (``default_hooks``); early stopping runs everywhere, on the same
gathered metrics, so every process stops at the same epoch.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any

from mlcls_gui.core.config import TrainConfig, early_stop_limit
from mlcls_gui.core.evaluation.report import EvaluationReport, ImageResult, build_report
from mlcls_gui.core.files.atomic_files import write_json_atomic
from mlcls_gui.core.model_file.checkpoint import save_atomic
from mlcls_gui.core.output_names import EVALUATION_NAME, LAST_CHECKPOINT_NAME, MANUAL_CHECKPOINT_NAME, METRICS_NAME
from mlcls_gui.core.runs.outputs import report_dict, write_metrics_csv
from mlcls_gui.core.training.engine.checkpoints import training_payload
from mlcls_gui.core.training.engine.hook_base import Hook, Outcome, TrainingRun
from mlcls_gui.core.training.engine.reports import EvalResult, finish_message, leak_warning, write_summary
from mlcls_gui.core.training.events import CheckpointSaved, EpochEnd, FinishReason, RunFinished

logger = logging.getLogger(__name__)


def save_training_state(
    run: TrainingRun, path: Path, kind: str, event_reason: str | None, *,
    weights_epoch: int | None = None, extra: dict[str, Any] | None = None,
    weights: dict[str, Any] | None = None,
) -> None:
    payload = training_payload(
        run.state, run.progress, kind, run_id=run.identity.run_id, split=run.split_fingerprint,
        test_held_out=run.identity.test_held_out, weights_epoch=weights_epoch, extra=extra,
        resumable=kind != "model", weights=weights,
    )
    save_atomic(payload, path)
    if event_reason:
        logger.info("Checkpoint saved: %s (%s)", path, event_reason)
        run.emit(CheckpointSaved(str(path), run.progress.epoch, event_reason))


class MetricsLog(Hook):
    """metrics.csv rewritten and one log line per epoch."""

    def on_epoch_end(self, run: TrainingRun, epoch: int, row: dict[str, float], improved: bool) -> None:
        write_metrics_csv(run.output_dir / METRICS_NAME, run.progress.history)
        logger.info(
            "Epoch %d/%d  train loss %.4f acc %.3f | val loss %.4f acc %.3f mAP %.3f F1 %.3f | "
            "lr %.2e | %.1fs %.1f img/s%s%s",
            epoch, run.config.n_epochs, row["train_loss"], row["train_accuracy"], row["val_loss"],
            row["val_accuracy"], row["val_map"], row["val_macro_f1"], row["lr"],
            row["epoch_seconds"], row["images_per_second"], _ema_note(row), "  [best]" if improved else "",
        )


class Checkpoints(Hook):
    """The best epoch's checkpoint, the last epoch's, and one on request."""

    def on_epoch_end(self, run: TrainingRun, epoch: int, row: dict[str, float], improved: bool) -> None:
        if improved:
            # With EMA chosen the best checkpoint's weights are the EMA's (the raw
            # ones ride along for a resume); run.best_state holds the chosen ones.
            weights = run.best_state if row.get("ema_weights") else None
            save_training_state(run, run.output_dir / run.config.checkpoint_name, "best", "improved",
                                weights=weights)
        save_training_state(run, run.output_dir / LAST_CHECKPOINT_NAME, "last", None)

    def on_checkpoint_request(self, run: TrainingRun, epoch: int) -> None:
        save_training_state(run, run.output_dir / MANUAL_CHECKPOINT_NAME, "manual", "requested",
                            weights_epoch=epoch)


class EpochEvents(Hook):
    def on_epoch_end(self, run: TrainingRun, epoch: int, row: dict[str, float], improved: bool) -> None:
        progress = run.progress
        run.emit(EpochEnd(
            epoch=epoch, total_epochs=run.config.n_epochs, metrics=dict(row), improved=improved,
            best_epoch=progress.best_epoch, best_score=progress.best_score,
            epochs_without_improvement=progress.epochs_without_improvement,
            early_stop_limit=early_stop_limit(run.config), weights=weights_name(row),
        ))


class EarlyStopping(Hook):
    def on_epoch_end(self, run: TrainingRun, epoch: int, row: dict[str, float], improved: bool) -> None:
        waited = run.progress.epochs_without_improvement
        if waited >= early_stop_limit(run.config):
            logger.info("Early stop: %d epochs without improvement of %s.", waited, run.config.monitor)
            run.finish_reason = FinishReason.EARLY_STOPPED


class FinalOutputs(Hook):
    """evaluation.json, the final model, summary.json and run.json; then RunFinished."""

    def on_run_end(self, run: TrainingRun, outcome: Outcome) -> None:
        if outcome.reason is FinishReason.FAILED:
            self._after_failure(run, outcome)
            return
        test = outcome.test
        report = _test_report(run, test) if test is not None else None
        if report is not None:
            write_json_atomic(run.output_dir / EVALUATION_NAME, report.to_dict())
        final_path = run.output_dir / run.config.final_model_name
        extra = {"thresholds": run.thresholds,
                 "test_metrics": report_dict(test.report, test.loss) if test else None}
        save_training_state(run, final_path, "model", None, extra=extra)
        message = finish_message(outcome.reason, run.progress, test, held_out=run.identity.test_held_out)
        message += leak_warning(run.split_check_result)
        summary = self._summary(run, outcome, message, final_path, report)
        logger.info("%s", message)
        logger.info("Final model: %s", final_path)
        run.result_summary = summary
        run.emit(RunFinished(
            reason=outcome.reason, message=message, output_dir=str(run.output_dir),
            best_epoch=run.progress.best_epoch, final_model_path=str(final_path), summary=summary,
        ))

    def _after_failure(self, run: TrainingRun, outcome: Outcome) -> None:
        """Nothing the run produced is lost: the best weights become the final model
        (only in a folder this run owns: never over another run's files)."""
        final_path, summary = "", {}
        if run.best_state is not None and run.folder is not None and run.folder.held and run.state:
            try:
                run.state.model.load_state_dict(run.best_state)
                target = run.output_dir / run.config.final_model_name
                save_training_state(run, target, "model", None)
                summary = self._summary(run, outcome, outcome.message, target, None)
                final_path = str(target)
            except Exception as exc:  # noqa: BLE001 - already failing; report the first error
                # One line: the first error is the one the user acts on.
                logger.warning("The final model could not be written either: %s", exc)
                logger.debug("Writing the final model after the failure", exc_info=True)
        run.emit(RunFinished(
            reason=FinishReason.FAILED, message=outcome.message, output_dir=str(run.output_dir or ""),
            best_epoch=run.progress.best_epoch, final_model_path=final_path, summary=summary,
            details=outcome.details,
        ))

    @staticmethod
    def _summary(run: TrainingRun, outcome: Outcome, message: str, final_path: Path,
                 report: EvaluationReport | None) -> dict[str, Any]:
        return write_summary(
            run.output_dir, run.config, reason=outcome.reason, message=message, started=outcome.started,
            progress=run.progress, splits=run.splits, labels=run.labels, thresholds=run.thresholds,
            test=outcome.test, evaluation=report, final_path=final_path,
            device=run.strategy.describe() if run.strategy else run.config.device,
            skipped=run.skipped, identity=run.identity, split_check=run.split_check_result,
        )


def _test_report(run: TrainingRun, test: EvalResult) -> EvaluationReport:
    images = [
        ImageResult(run.splits.test[i].path, run.splits.test[i].labels, tuple(row), run.splits.test[i].unknown)
        for i, row in zip(test.indices.tolist(), test.probabilities.tolist())
    ]
    return build_report(
        run.labels, run.thresholds, images,
        source={"model": str(run.output_dir / run.config.final_model_name),
                "data_root": str(run.splits.root), "split": "test",
                "held_out": run.identity.test_held_out},
    )


def weights_name(row: dict[str, float] | None) -> str:
    """"EMA" or "raw" for a row of a run with EMA on; "" without EMA."""
    if not row or "ema_weights" not in row:
        return ""
    return "EMA" if row["ema_weights"] else "raw"


def _ema_note(row: dict[str, float]) -> str:
    name = weights_name(row)
    if not name:
        return ""
    return f" | EMA mAP {row['val_map_ema']:.3f} raw {row['val_map_raw']:.3f}, {name} kept"


def default_hooks(is_main: bool, cfg: TrainConfig | None = None) -> list[Hook]:
    if not is_main:
        return [EarlyStopping()]
    hooks: list[Hook] = [MetricsLog(), Checkpoints(), EpochEvents(), EarlyStopping(), FinalOutputs()]
    if cfg is not None and cfg.tensorboard:
        hooks.insert(1, _tensorboard_hook())
    return hooks


def _tensorboard_hook() -> Hook:
    # Imported here: the TensorBoard writer (and its optional dependency) is
    # only loaded by runs that ask for it.
    if importlib.util.find_spec(f"{__package__}.tensorboard_log") is None:
        logger.warning("TensorBoard logs are not available in this installation; training without them.")
        return Hook()
    from mlcls_gui.core.training.engine.tensorboard_log import TensorBoardLog
    return TensorBoardLog()
