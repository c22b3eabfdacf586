"""Trainer: the seed's multi-label training loop as a headless, observable engine.

Read ``Trainer.run`` top to bottom: prepare (folder, data, run state), fit
epoch by epoch (train, validate, let the hooks checkpoint, log and decide on
early stopping), then test the best weights and let the hooks write the
final model and the reports. Where the run executes — one device or several
processes — is the strategy's business (``strategy.py``).

Other threads talk to a running Trainer only through ``RunControl`` (stop,
save a checkpoint now), honoured at the next batch boundary; the Trainer
talks back only through events (see ``events.py``), from the main process.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
import traceback
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from mlcls_gui.core.config import TrainConfig
from mlcls_gui.core.data.dataset import scan_data_root
from mlcls_gui.core.data.loaders import Batch, batch_count
from mlcls_gui.core.data.splits import DatasetSplits, SkippedFile
from mlcls_gui.core.errors import ConfigError, DatasetError, MlclsError, TrainingError, field_ref
from mlcls_gui.core.evaluation.metrics import compute_metrics, exact_match_count
from mlcls_gui.core.evaluation.thresholds import tune_thresholds
from mlcls_gui.core.output_names import CONFIG_NAME
from mlcls_gui.core.training.engine.checkpoints import restore
from mlcls_gui.core.training.engine.failures import as_user_error
from mlcls_gui.core.training.engine.head_probe import probe_head
from mlcls_gui.core.training.engine.hook_base import Hook, Outcome
from mlcls_gui.core.training.engine.hooks import EpochEvents, default_hooks, save_training_state
from mlcls_gui.core.training.engine.output_folder import OwnedFolder, check_apart
from mlcls_gui.core.training.engine.reports import EvalResult, RunIdentity
from mlcls_gui.core.training.engine.resume_checks import (
    check_processes_agree,
    check_same_labels,
    check_same_split,
    take_from_plan,
)
from mlcls_gui.core.training.engine.run_state import Progress, RunState, build_run_state, concat_or_empty, is_better
from mlcls_gui.core.training.engine.strategy import Strategy, strategy_for
from mlcls_gui.core.training.engine.time_budget import Replanner, budget_epochs
from mlcls_gui.core.training.events import (
    BatchEnd,
    Event,
    EventSink,
    FilesSkipped,
    FinishReason,
    PhaseChanged,
    RunStarted,
)
from mlcls_gui.core.training.launch import process_rank
from mlcls_gui.core.training.recipe.schedules import seek, steps_per_batch
from mlcls_gui.core.training.resume import ResumePlan, new_run_id, plan_resume, split_fingerprint
from mlcls_gui.core.training.run_control import RunControl, StopRequested

logger = logging.getLogger(__name__)
SplitCheck = Callable[[DatasetSplits], dict[str, Any]]


@dataclass(frozen=True)
class RunResult:
    reason: FinishReason
    output_dir: str
    final_model_path: str
    best_epoch: int
    summary: dict[str, Any]


class Trainer:
    def __init__(
        self,
        config: TrainConfig,
        *,
        on_event: EventSink | None = None,
        control: RunControl | None = None,
        resume_from: str | os.PathLike[str] | None = None,
        allow_split_change: bool = False,
        strategy: Strategy | None = None,
        resume_plan: ResumePlan | None = None,
        splits: DatasetSplits | None = None,
        in_memory: bool = False,
        split_check: SplitCheck | None = None,
    ) -> None:
        """``splits``: train on these instead of scanning ``config.images_root``.
        ``in_memory``: a run without an output folder (review's cross-fitting):
        nothing is written or locked, every epoch is validated, the last epoch's
        weights stay in ``state.model`` (no best-epoch choice, which would let the
        validation labels pick the weights) and ``final_val`` is their validation."""
        if in_memory and (resume_from or resume_plan):
            raise ValueError("an in-memory run cannot resume: it has no folder to continue in")
        self.config = config
        self.in_memory = in_memory
        self._given_splits = splits
        self.control = control or RunControl()
        self._sink: EventSink = on_event or (lambda event: None)
        # A resume planned by the caller (the window and the CLI show the plan first)
        # or, from ``resume_from`` alone, here: either way the file is read once.
        self._resume_plan = resume_plan
        self.resume_from = resume_plan.path if resume_plan else str(resume_from) if resume_from else ""
        # Resuming on a different split is refused unless asked for; the test
        # score is then reported as not held out.
        self.allow_split_change = allow_split_change
        self.identity = RunIdentity(new_run_id(), datetime.now().isoformat(timespec="seconds"), self.resume_from)
        self.notes: list[str] = []  # what a resume took from its checkpoint, said in the log
        # Chosen in run(), so that a device that is not there ends the run with its event.
        self.strategy: Strategy | None = strategy
        self.hooks: list[Hook] = [EpochEvents()] if in_memory else default_hooks(
            strategy.is_main if strategy else process_rank() == 0, config)
        self.progress = Progress()
        self.skipped: list[SkippedFile] = []
        self.output_dir: Path | None = None
        self.folder: OwnedFolder | None = None
        self.splits: DatasetSplits | None = None
        self.labels: list[str] = []
        self.split_fingerprint: dict[str, Any] = {}
        self.state: RunState | None = None
        self.best_state: dict[str, torch.Tensor] | None = None
        self.thresholds: list[float] = []
        self.finish_reason: FinishReason | None = None  # set by a hook (early stopping)
        self.result_summary: dict[str, Any] = {}
        # A check of the finished run's split that goes into its summary (the near-copy check;
        # its caller supplies it: data health sits above training). Never fails the run.
        self.split_check = split_check
        self.split_check_result: dict[str, Any] | None = None
        self.final_val: EvalResult | None = None  # an in-memory run's last validation
        self._started = 0.0
        self._deadline: float | None = None  # time_budget_minutes: monotonic end of the run
        self._replanner: Replanner | None = None  # time_budget_minutes: the epochs' real pace

    # ================================================================== run
    def run(self) -> RunResult:
        """Train as configured; always ends with one RunFinished event.

        User mistakes raise MlclsError subclasses (after RunFinished(FAILED));
        a stop request ends the run normally with reason STOPPED."""
        started = self._started = time.monotonic()
        try:
            if self.strategy is None:
                self.strategy = strategy_for(self.config)
            self.strategy.setup()
            self._prepare()
            reason = self._fit()
            return self._finish(reason, started)
        except BaseException as exc:
            distributed = self.strategy is not None and self.strategy.distributed
            translated = as_user_error(exc, self.config, distributed=distributed, output_dir=self.output_dir)
            self._fail(translated or exc, started)
            if translated is not None:
                raise translated from exc
            raise
        finally:
            self._teardown()

    def emit(self, event: Event) -> None:
        if self.strategy.is_main if self.strategy is not None else process_rank() == 0:
            self._sink(event)

    # ============================================================ preparation
    def _prepare(self) -> None:
        self.emit(PhaseChanged("loading", 0))
        plan = self._resume_plan
        if plan is None and self.resume_from:
            plan = plan_resume(self.resume_from, self.config)
        self._resume_plan = None  # the run state holds what it needs from here on
        payload = plan.model_file if plan is not None else None
        if plan is not None:
            self.config, self.notes, self.output_dir = take_from_plan(plan, self.identity)
        elif not self.in_memory:
            self.output_dir = Path(self.config.save_model_folder).expanduser().resolve()
        cfg = self.config
        if self.strategy.distributed and cfg.batch_size % self.strategy.world_size:
            raise ConfigError(
                f"{field_ref('batch_size', cfg.batch_size)} does not divide evenly by the "
                f"{self.strategy.world_size} training processes: the batch size is the global batch, "
                "shared out equally."
            )
        if not self.in_memory:
            self._claim_folder()
        self.splits = self._given_splits or scan_data_root(
            cfg.images_root, val_fraction=cfg.val_fraction, test_fraction=cfg.test_fraction, seed=cfg.seed,
            groups_file=cfg.split_groups,
        )
        self.splits.require_trainable()
        self.skipped = list(self.splits.skipped)
        self.labels = list(self.splits.labels)
        self.split_fingerprint = split_fingerprint(self.splits)
        check_processes_agree(self.strategy, self.split_fingerprint, self.splits, cfg.images_root)
        if payload is not None:
            check_same_labels(list(payload.labels), self.labels, self.resume_from)
            check_same_split(payload, self.split_fingerprint, source=self.resume_from,
                             allow_change=self.allow_split_change, identity=self.identity, notes=self.notes)
        if not self.in_memory:
            # A resumed run continues in its folder; a new run never overwrites one.
            tidied = self.strategy.on_main(lambda: self.folder.tidy(cfg, archive_previous=payload is None))
            if self.strategy.is_main:
                self._open_log(tidied)
        self.state = build_run_state(cfg, self.splits, self.strategy, pretrained=cfg.pretrained and payload is None)
        if payload is not None:
            self.progress, self.best_state = restore(self.state, plan)
        elif cfg.time_budget_minutes > 0:
            self._plan_for_time_budget()
            cfg = self.config
        self.emit(RunStarted(
            output_dir=str(self.output_dir or ""),
            log_path=str(self.output_dir / cfg.log_name) if self.output_dir else "",
            labels=tuple(self.labels),
            split_sizes={name: len(self.splits.split(name)) for name in ("train", "val", "test")},
            start_epoch=self.progress.epoch + 1, total_epochs=cfg.n_epochs,
            batches_per_epoch=batch_count(len(self.splits.train), cfg.batch_size,
                                          min_size=2 * self.strategy.world_size),
            device=self.strategy.describe(), dataset=self.splits.summary(),
            fast_paths=self.state.fast_paths, notes=tuple(self.notes),
        ))
        if cfg.probe_first and payload is None and cfg.pretrained:
            self.emit(PhaseChanged("probing", 0))
            logger.info("Linear probe: %s", probe_head(self.state).describe())
        elif payload is None and not cfg.pretrained and (
                cfg.probe_first or cfg.backbone_lr_scale != 1.0 or cfg.keep_norm_stats):
            logger.info("%s, %s and %s apply to pretrained weights; "
                        "this run starts from random weights, so every layer trains at the learning rate "
                        "from the start and BatchNorm estimates its statistics.",
                        field_ref("probe_first"), field_ref("backbone_lr_scale"), field_ref("keep_norm_stats"))

    def _plan_for_time_budget(self) -> None:
        """The epochs that fit the budget become the run's n_epochs (time_budget.py)."""
        self._deadline = self._started + self.config.time_budget_minutes * 60
        sizes = {name: len(self.splits.split(name)) for name in ("val", "test")}
        plan = budget_epochs(self.state, time.monotonic() - self._started, sizes)
        if plan is not None:
            self._replanner = Replanner(plan, self._deadline)
            self._take_planned_epochs()

    def _take_planned_epochs(self) -> None:
        self.config = self.state.cfg
        if self.strategy.is_main and self.output_dir is not None:
            self.config.save_json(self.output_dir / CONFIG_NAME)  # the effective config: the planned epochs

    def _past_deadline(self) -> bool:
        return self._deadline is not None and time.monotonic() >= self._deadline

    def _claim_folder(self) -> None:
        cfg = self.config
        check_apart(self.output_dir, cfg.images_root)  # before the folder is made
        if self.strategy.is_main:
            self.folder = OwnedFolder(self.output_dir)
        # The folder is this run's from here on: a second run into it is refused at once.
        self.strategy.on_main(lambda: self.folder.claim())
        self.strategy.on_main(lambda: self.folder.lock_data(cfg.images_root))

    def _open_log(self, tidied: list[str]) -> None:
        cfg = self.config
        self.folder.attach_log(cfg.log_name)
        logger.info("mlcls-gui training run %s in %s", self.identity.run_id, self.output_dir)
        for line in tidied:
            logger.info("%s", line)
        for note in self.notes:
            logger.info("Resume: %s", note)
        logger.info("Config: %s", json.dumps(cfg.to_dict(), sort_keys=True))
        # The effective config: what this run really uses, whatever the file or form said.
        cfg.save_json(self.output_dir / CONFIG_NAME)
        self.identity.write_record(self.output_dir, "running")
        # Both are in the dataset summary too, so INFO keeps the console quiet.
        for warning in self.splits.warnings:
            logger.info("Dataset warning: %s", warning)
        for item in self.splits.skipped:
            logger.info("Skipped %s: %s", item.path, item.reason)

    # ================================================================ training
    def _fit(self) -> FinishReason:
        cfg, progress = self.config, self.progress
        if progress.epoch >= cfg.n_epochs:
            logger.info("Already trained %d of %d epochs: nothing to do.", progress.epoch, cfg.n_epochs)
            return FinishReason.COMPLETED
        if self._replanner is not None:
            self._replanner.start()
        epoch = progress.epoch
        while epoch < self.config.n_epochs:  # a time budget's re-plan can move the end
            epoch += 1
            try:
                row = self._run_epoch(epoch)
            except StopRequested:
                if self._past_deadline() and not self.control.stop_requested:
                    logger.info("Time budget of %g min reached during epoch %d.",
                                cfg.time_budget_minutes, epoch)
                    return FinishReason.TIME_UP
                logger.info("Stopped by request during epoch %d.", epoch)
                return FinishReason.STOPPED
            improved = progress.record(row, cfg.monitor)
            if self._replanner is not None and self._replanner.after_epoch(self.state, epoch):
                self._take_planned_epochs()  # before the hooks: the epoch's event carries the new total
            if improved and not self.in_memory:
                self.best_state = self.state.weights(use_ema=bool(row.get("ema_weights")))
            for hook in self.hooks:
                hook.on_epoch_end(self, epoch, row, improved)
            if self.finish_reason is not None:
                return self.finish_reason
            stop, time_up = self.strategy.sum([float(self.control.stop_requested), float(self._past_deadline())])
            if stop > 0:
                return FinishReason.STOPPED
            if time_up > 0:
                logger.info("Time budget of %g min reached after epoch %d.", cfg.time_budget_minutes, epoch)
                return FinishReason.TIME_UP
        return FinishReason.COMPLETED

    def _run_epoch(self, epoch: int) -> dict[str, float]:
        cfg, state = self.config, self.state
        self.emit(PhaseChanged("training", epoch))
        per_batch = steps_per_batch(cfg)
        if per_batch:
            # From the epoch's first step, however the last epoch ended (a resume,
            # or an epoch trained again after a mid-epoch checkpoint).
            seek(state.scheduler, (epoch - 1) * state.steps_per_epoch)
        lr = state.optimizer.param_groups[0]["lr"]
        state.set_train_mode()
        loss_sum, correct, seen = 0.0, 0, 0
        chunks = state.train_chunks()
        epoch_started = time.monotonic()
        window_started, window_images = epoch_started, 0
        for number, (batch, features) in enumerate(state.batches("train", chunks), start=1):
            self._note_failures(batch, "train")
            count = batch.targets.shape[0]
            stop, checkpoint, total, starved = self._agree(count)
            if stop:
                raise StopRequested
            if total == 0 or starved:
                continue  # nothing readable here (or, distributed, a process without images)
            batch_lr = state.optimizer.param_groups[0]["lr"]
            loss_value, batch_correct = self._train_step(batch, features, count, total, epoch, number)
            loss_sum += loss_value * count
            correct += batch_correct
            seen += count
            window_images += total
            self.progress.global_step += 1
            state.update_ema(self.progress.global_step)
            if per_batch:
                state.scheduler.step()
            for hook in self.hooks:
                hook.on_batch_end(self, epoch, number, loss_value, batch_lr)
            now = time.monotonic()
            self.emit(BatchEnd(
                epoch=epoch, batch=number, batches=len(chunks), loss=loss_value, images=total,
                images_per_second=window_images / max(now - window_started, 1e-9),
                global_step=self.progress.global_step, lr=batch_lr,
            ))
            if now - window_started > 5.0:
                window_started, window_images = now, 0
            if checkpoint:
                for hook in self.hooks:
                    hook.on_checkpoint_request(self, epoch)
        train_seconds = time.monotonic() - epoch_started
        loss_sum, correct, seen = self.strategy.sum([loss_sum, correct, seen])
        if seen == 0:
            raise DatasetError("No training image of this epoch could be read; see the skipped files.")
        self.emit(PhaseChanged("validating", epoch))
        val = self.evaluate("val", stoppable=True)
        if not per_batch:
            state.scheduler.step()
        row = {
            "epoch": epoch,
            "train_loss": loss_sum / seen,
            "train_accuracy": correct / seen,
            **_val_columns(val),
            "lr": lr,
            "epoch_seconds": time.monotonic() - epoch_started,
            "images_per_second": seen / max(train_seconds, 1e-9),
        }
        if state.ema is not None:
            row.update(self._validate_ema(val))
        return row

    def _validate_ema(self, raw: EvalResult) -> dict[str, float]:
        """Score the EMA weights too; the row's val_* columns are then those of the
        better weights (by the monitored score), which the checkpoint keeps."""
        state = self.state
        current = {k: v.detach().clone() for k, v in state.model.state_dict().items()}
        state.model.load_state_dict(state.ema.module.state_dict())
        try:
            ema = self.evaluate("val", stoppable=True)
        finally:
            state.model.load_state_dict(current)
        raw_cols, ema_cols = _val_columns(raw), _val_columns(ema)
        monitor = self.config.monitor
        use_ema = is_better(ema_cols[monitor], raw_cols[monitor], lower_is_better=monitor == "val_loss")
        return {
            **(ema_cols if use_ema else raw_cols),
            **{f"{k}_raw": v for k, v in raw_cols.items()},
            **{f"{k}_ema": v for k, v in ema_cols.items()},
            "ema_weights": float(use_ema),
        }

    def _agree(self, count: int) -> tuple[bool, bool, int, bool]:
        """Stop?, checkpoint now?, images in this global batch, and whether a process
        has none — decided together, so every process acts at the same batch."""
        flags = [float(self.control.stop_requested or self._past_deadline()),
                 float(self.control.take_checkpoint_request()),
                 float(count), float(count == 0)]
        stop, checkpoint, total, starved = self.strategy.sum(flags)
        return stop > 0, checkpoint > 0, int(total), self.strategy.distributed and starved > 0

    def _train_step(self, batch: Batch, features: torch.Tensor | None, count: int, total: int,
                    epoch: int, number: int) -> tuple[float, int]:
        """One optimiser step (RunState.train_step); returns this process's mean loss
        and exact matches."""
        strategy = self.strategy

        def all_finite(value: float) -> bool:  # every process must agree, or they would hang
            return strategy.sum([float(not math.isfinite(value))])[0] == 0

        # DDP averages the processes' gradients; weighting each process's mean loss
        # by its share of the global batch makes that the global batch's mean.
        weight = count * strategy.world_size / total if strategy.distributed else 1.0
        step = self.state.train_step(batch, features, finite=all_finite, weight=weight)
        if not step.stepped:
            raise TrainingError(
                f"The loss became {step.loss} at epoch {epoch}, batch {number}: training "
                "diverged. Lower the learning rate and start again; the best checkpoint "
                "so far is kept."
            )
        return step.loss, exact_match_count(step.logits.cpu().numpy(), batch.targets.numpy())

    # ============================================================== evaluation
    @torch.no_grad()
    def evaluate(self, split: str, *, stoppable: bool) -> EvalResult:
        """Loss and metrics of the current weights on the whole of one split, no
        augmentation; with several processes each evaluates its share and the
        results are gathered, so each image counts once."""
        state = self.state
        state.model.eval()
        stoppable = stoppable and not self.strategy.distributed  # shares differ in length
        loss_sum, seen = 0.0, 0
        probabilities, targets, indices = [], [], []
        for batch, features in state.batches(split, state.eval_chunks(split)):
            self._note_failures(batch, split)
            if stoppable and self.control.stop_requested:
                raise StopRequested
            if batch.targets.shape[0] == 0:
                continue
            logits = state.logits(split, batch, features, train=False).float()
            loss_sum += state.criterion(logits, batch.targets.to(state.device)).item() * logits.shape[0]
            seen += logits.shape[0]
            probabilities.append(torch.sigmoid(logits).cpu().numpy())
            targets.append(batch.targets.numpy())
            indices.append(batch.indices.numpy())
        width = len(self.labels)
        gathered = self.strategy.gather({
            "probabilities": concat_or_empty(probabilities, width, np.float32),
            "targets": concat_or_empty(targets, width, np.float32),
            "indices": concat_or_empty(indices, 0, np.int64),
            "loss_sum": np.array([loss_sum]), "seen": np.array([seen]),
        })
        order = np.argsort(gathered["indices"], kind="stable")
        probs, truth = gathered["probabilities"][order], gathered["targets"][order]
        total = int(gathered["seen"].sum())
        loss = float(gathered["loss_sum"].sum()) / total if total else math.nan
        report = compute_metrics(probs, truth, self.labels, 0.5)
        return EvalResult(loss, probs, truth, report, gathered["indices"][order])

    # ================================================================ finishing
    def _finish(self, reason: FinishReason, started: float) -> RunResult:
        if self.in_memory:
            try:
                if reason is not FinishReason.STOPPED:
                    self.final_val = self.evaluate("val", stoppable=True)
            except StopRequested:
                reason = FinishReason.STOPPED
            return RunResult(reason, "", "", self.progress.best_epoch, {})
        if reason is FinishReason.STOPPED:
            # A stop asked for during the test evaluation skips it (Stop and close, Stop again).
            self.control.clear_stop()
        self.emit(PhaseChanged("testing", self.progress.epoch))
        checkpoint_path = self.output_dir / self.config.checkpoint_name
        if self.best_state is not None:
            self.state.model.load_state_dict(self.best_state)
        elif self.strategy.is_main and not checkpoint_path.exists():
            # Stopped before any validation: keep the weights as they are.
            save_training_state(self, checkpoint_path, "last", "end")
        self.thresholds = self._tune_thresholds()
        test: EvalResult | None = None
        # Every process takes the main one's skip request (it alone gets the signal).
        if self.splits.test and self.strategy.sum([float(self.control.skip_test_requested)])[0] > 0:
            logger.info("Test evaluation skipped, as asked for with the stop.")
        elif self.splits.test:
            try:
                test = self.evaluate("test", stoppable=True)
            except StopRequested:
                logger.info("Test evaluation skipped: a stop was asked for during it.")
        self._check_the_split()
        self.emit(PhaseChanged("saving", self.progress.epoch))
        outcome = Outcome(reason, started, test)
        for hook in self.hooks:
            hook.on_run_end(self, outcome)
        final_path = str(self.output_dir / self.config.final_model_name)
        return RunResult(reason, str(self.output_dir), final_path, self.progress.best_epoch, self.result_summary)

    def _check_the_split(self) -> None:
        if self.split_check is None or not self.strategy.is_main or not self.config.check_split_leakage \
                or self.splits.split_groups or self.control.stop_requested:
            return
        try:
            self.split_check_result = self.split_check(self.splits)
        except Exception:  # noqa: BLE001 - a summary line, never a reason to lose the run
            logger.exception("Could not check the split for near copies")

    def _tune_thresholds(self) -> list[float]:
        """Per-label thresholds that maximise validation F1 for the final weights."""
        try:
            val = self.evaluate("val", stoppable=False)
        except Exception:  # noqa: BLE001 - thresholds are a refinement, never a reason to fail
            if self.strategy.distributed:
                raise  # the other processes are inside the same evaluation
            logger.exception("Could not tune thresholds; keeping %s", self.config.threshold)
            return [self.config.threshold] * len(self.labels)
        thresholds = tune_thresholds(val.probabilities, val.targets, default=self.config.threshold)
        tuned = compute_metrics(val.probabilities, val.targets, self.labels, thresholds)
        logger.info(
            "Per-label thresholds (tuned on validation): %s; validation macro F1 %.4f at %.2f, %.4f tuned",
            ", ".join(f"{label} {t:.3f}" for label, t in zip(self.labels, thresholds)),
            val.report.macro_f1, self.config.threshold, tuned.macro_f1,
        )
        return thresholds

    def _fail(self, exc: BaseException, started: float) -> None:
        is_user_error = isinstance(exc, MlclsError)
        message = str(exc) if is_user_error else f"{type(exc).__name__}: {exc}"
        if isinstance(exc, KeyboardInterrupt):
            message = "Interrupted."
        details = traceback.format_exc()  # the original exception's traceback
        if is_user_error:
            # Into the log file; the console and the window show the message themselves.
            logger.info("Run failed: %s", message)
        else:
            logger.error("Run failed: %s", message)
            logger.error("%s", details)
        outcome = Outcome(FinishReason.FAILED, started, message=message, details=details)
        for hook in self.hooks:
            hook.on_run_end(self, outcome)

    def _teardown(self) -> None:
        """The one place a run's resources are released, however it ended."""
        if self.state is not None:
            self.state.close()
        if self.folder is not None:
            self.folder.release()
        if self.strategy is not None:
            self.strategy.teardown()

    def _note_failures(self, batch: Batch, split: str) -> None:
        if not batch.failures:
            return
        known = {s.path for s in self.skipped}
        dataset = self.state.sources[split].dataset
        new = []
        for index, reason in batch.failures:
            path = dataset.paths[index]
            if path not in known:
                self.skipped.append(SkippedFile(path, reason))
                new.append((path, reason))
                logger.warning("Skipped %s: %s", path, reason)
        if new:
            self.emit(FilesSkipped(tuple(new)))


def _val_columns(val: EvalResult) -> dict[str, float]:
    return {
        "val_loss": val.loss,
        "val_accuracy": val.report.exact_match,
        "val_map": val.report.mean_average_precision,
        "val_macro_f1": val.report.macro_f1,
    }

