"""Trainer: the seed's multi-label training loop as a headless, observable engine.

Read ``Trainer.run`` top to bottom: prepare (data, model, output folder),
train epoch by epoch (validate, checkpoint on improvement, early stop),
then test the best weights and write the final model and the reports.

Other threads talk to a running Trainer only through ``RunControl`` (stop,
save a checkpoint now), honoured at the next batch boundary; the Trainer
talks back only through events (see ``events.py``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import threading
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import nn

from . import models
from .checkpoint import load_model_file, save_atomic
from .config import TrainConfig
from .dataset import SkippedFile, scan_data_root
from .devices import resolve_device
from .errors import CheckpointError, DatasetError, MlclsError, TrainingError
from .events import (
    BatchEnd,
    CheckpointSaved,
    EpochEnd,
    Event,
    EventSink,
    FilesSkipped,
    FinishReason,
    PhaseChanged,
    RunFinished,
    RunStarted,
)
from .batch_transforms import BatchTransform
from .cache import CacheBudget, FeatureStore, ImageCache, cache_budget_bytes
from .loaders import Batch, BatchSource, DecodedImageDataset, batch_chunks
from .metrics import MetricReport, compute_metrics, exact_match_count
from .evaluation import EvaluationReport, ImageResult, build_report
from .outputs import (
    CONFIG_NAME,
    EVALUATION_NAME,
    LAST_CHECKPOINT_NAME,
    MANUAL_CHECKPOINT_NAME,
    METRICS_NAME,
    RUN_RECORD_NAME,
    SUMMARY_NAME,
    create_output_folder,
    finite_or_none,
    prepare_output_folder,
    report_dict,
    write_json_atomic,
    write_metrics_csv,
)
from .resume import (
    config_for_resume,
    describe_split_change,
    new_run_id,
    optimizer_state_usable,
    resume_folder,
    split_fingerprint,
)
from .run_lock import RunFolderLock
from .precision import choose_precision
from .thresholds import tune_thresholds
from .transforms import IMAGENET_MEAN, IMAGENET_STD

logger = logging.getLogger(__name__)

class RunControl:
    """Requests from other threads (GUI, signal handler); thread-safe flags."""

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


@dataclass(frozen=True)
class RunResult:
    reason: FinishReason
    output_dir: str
    final_model_path: str
    best_epoch: int
    summary: dict[str, Any]


@dataclass
class EvalResult:
    loss: float
    probabilities: np.ndarray  # (N, L)
    targets: np.ndarray  # (N, L)
    report: MetricReport
    indices: np.ndarray  # (N,) positions of the evaluated images in their split


@dataclass
class _Progress:
    """Everything that a resume must restore besides the weights."""

    epoch: int = 0  # last completed epoch
    best_score: float = math.nan
    best_epoch: int = 0
    epochs_without_improvement: int = 0
    history: list[dict[str, float]] = field(default_factory=list)


class _Stopped(Exception):
    """Raised inside an epoch when a stop request is honoured."""


class Trainer:
    def __init__(
        self,
        config: TrainConfig,
        *,
        on_event: EventSink | None = None,
        control: RunControl | None = None,
        resume_from: str | os.PathLike[str] | None = None,
        allow_split_change: bool = False,
    ) -> None:
        self.config = config
        self.control = control or RunControl()
        self._emit_to: EventSink = on_event or (lambda event: None)
        self.resume_from = str(resume_from) if resume_from else ""
        # Resuming on a different split is refused unless asked for; the test
        # score is then reported as not held out.
        self.allow_split_change = allow_split_change
        self.test_held_out = True
        self.notes: list[str] = []  # what a resume took from its checkpoint, said in the log
        self.run_id = new_run_id()
        self.started_at = datetime.now().isoformat(timespec="seconds")
        self._lock: RunFolderLock | None = None
        self._created_folder = False
        self.progress = _Progress()
        self.skipped: list[SkippedFile] = []
        self._log_handler: logging.Handler | None = None
        self._best_state: dict[str, torch.Tensor] | None = None
        self._global_step = 0

    # ================================================================== run
    def run(self) -> RunResult:
        """Train as configured; always ends with one RunFinished event.

        User mistakes raise MlclsError subclasses (after RunFinished(FAILED));
        a stop request ends the run normally with reason STOPPED."""
        started = time.monotonic()
        try:
            self._prepare()
            reason = self._train_epochs()
            return self._finish(reason, started)
        except BaseException as exc:
            translated = _as_user_error(exc, self.config)
            self._fail(translated or exc, started)
            if translated is not None:
                raise translated from exc
            raise
        finally:
            for source in getattr(self, "sources", {}).values():
                source.close()
            self._detach_log_file()
            self._release_output_folder()

    # ============================================================ preparation
    def _prepare(self) -> None:
        self._emit(PhaseChanged("loading", 0))
        resume_payload = load_model_file(self.resume_from) if self.resume_from else None
        if resume_payload is not None:
            self._take_from_checkpoint(resume_payload)
        else:
            self.output_dir = Path(self.config.save_model_folder).expanduser().resolve()
        cfg = self.config
        # The folder is this run's from here on: a second run into it is refused at once.
        self._created_folder = create_output_folder(self.output_dir)
        self._lock = RunFolderLock(self.output_dir)
        self._lock.acquire()
        self.device = resolve_device(cfg.device)
        self.splits = scan_data_root(
            cfg.images_root, val_fraction=cfg.val_fraction,
            test_fraction=cfg.test_fraction, seed=cfg.seed,
        )
        self.splits.require_trainable()
        self.skipped = list(self.splits.skipped)
        self.labels = list(self.splits.labels)
        self.split_fingerprint = split_fingerprint(self.splits)
        if resume_payload is not None:
            _check_same_labels(resume_payload["labels"], self.labels, self.resume_from)
            self._check_same_split(resume_payload)

        # A resumed run continues in its folder; a new run never overwrites one.
        tidied = prepare_output_folder(self.output_dir, cfg, archive_previous=resume_payload is None)
        self._attach_log_file(self.output_dir / cfg.log_name)
        logger.info("mlcls-gui training run %s in %s", self.run_id, self.output_dir)
        for line in tidied:
            logger.info("%s", line)
        for note in self.notes:
            logger.info("Resume: %s", note)
        logger.info("Config: %s", json.dumps(cfg.to_dict(), sort_keys=True))
        # The effective config: what this run really uses, whatever the file or form said.
        cfg.save_json(self.output_dir / CONFIG_NAME)
        self._write_run_record("running")
        # Both are in the dataset summary too, so INFO keeps the console quiet.
        for warning in self.splits.warnings:
            logger.info("Dataset warning: %s", warning)
        for item in self.splits.skipped:
            logger.info("Skipped %s: %s", item.path, item.reason)

        torch.manual_seed(cfg.seed)
        self.loader_generator = torch.Generator().manual_seed(cfg.seed)
        self.augment_generator = torch.Generator().manual_seed(cfg.seed + 1)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed input size: pick the fastest kernels
        self.precision = choose_precision(cfg.mixed_precision, self.device)
        self.scaler = self.precision.grad_scaler()
        self.model = models.build_model(
            cfg.arch, len(self.labels),
            pretrained=cfg.pretrained and resume_payload is None,
            weights_file=cfg.weights_file, freeze_extractor=cfg.freeze_extractor,
        ).to(self.device)
        if cfg.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.head = models.head_module(self.model, cfg.arch)
        self.extractor = models.feature_extractor(self.model, cfg.arch)
        # torch.compile wraps the module; state dicts are always taken from self.model.
        self.forward_model: Callable[[torch.Tensor], torch.Tensor] = (
            torch.compile(self.model) if cfg.compile_model else self.model
        )
        self.optimizer = _make_optimizer(cfg, models.trainable_parameters(self.model))
        self.scheduler = torch.optim.lr_scheduler.StepLR(
            self.optimizer, step_size=cfg.lr_step, gamma=cfg.lr_decrease
        )
        self.criterion = nn.BCEWithLogitsLoss(pos_weight=self._pos_weight())
        if resume_payload is not None:
            self._restore(resume_payload)
        self._make_sources()
        self._emit(
            RunStarted(
                output_dir=str(self.output_dir),
                log_path=str(self.output_dir / cfg.log_name),
                labels=tuple(self.labels),
                split_sizes={name: len(self.splits.split(name)) for name in ("train", "val", "test")},
                start_epoch=self.progress.epoch + 1,
                total_epochs=cfg.n_epochs,
                batches_per_epoch=len(self.sources["train"]),
                device=str(self.device),
                dataset=self.splits.summary(),
                fast_paths=self.fast_paths,
                notes=tuple(self.notes),
            )
        )

    def _pos_weight(self) -> torch.Tensor | None:
        """negatives / positives per label in the training split, when asked for."""
        if not self.config.pos_weight:
            return None
        positives = torch.tensor(
            [sum(label in s.labels for s in self.splits.train) for label in self.labels], dtype=torch.float32
        )
        weight = ((len(self.splits.train) - positives) / positives.clamp(min=1)).clamp(1.0, 100.0)
        logger.info("pos_weight: %s", ", ".join(f"{label} {w:.2f}" for label, w in zip(self.labels, weight.tolist())))
        return weight.to(self.device)

    def _take_from_checkpoint(self, payload: dict[str, Any]) -> None:
        """The checkpoint decides the model's shape, the split and the folder."""
        cfg, self.notes = config_for_resume(self.config, payload)
        self.output_dir, folder_note = resume_folder(self.resume_from, payload)
        if folder_note:
            self.notes.append(folder_note)
        configured = Path(cfg.save_model_folder).expanduser().resolve()
        if configured != self.output_dir:
            self.notes.append(f"continues in the checkpoint's folder {self.output_dir}, not in {configured}")
        self.config = dataclasses.replace(cfg, save_model_folder=str(self.output_dir))
        self.run_id = str(payload.get("run_id") or self.run_id)
        self.test_held_out = bool(payload.get("test_held_out", True))

    def _check_same_split(self, payload: dict[str, Any]) -> None:
        """Refuse to resume on other images than the checkpoint's split, unless
        asked to; then the test score is marked as not held out."""
        if "split" not in payload:
            self.notes.append("this checkpoint does not record its split, so it cannot be checked")
            return
        change = describe_split_change(payload["split"], self.split_fingerprint)
        if not change:
            return
        if not self.allow_split_change:
            raise CheckpointError(
                f"The data split differs from the one {self.resume_from} was trained on ({change}): "
                "images the model trained on could land in the test split and inflate its score. "
                "Resume with the same data folder, or start a new run (to continue anyway: "
                "mlcls-gui train --resume FILE --allow-split-change; the test score is then "
                "marked as not held out)."
            )
        self.test_held_out = False
        self.notes.append(f"the split changed ({change}); the test score is marked as not held out")

    def _restore(self, payload: dict[str, Any]) -> None:
        try:
            self.model.load_state_dict(payload["model_state"])
            if optimizer_state_usable(payload, self.config):
                self.optimizer.load_state_dict(payload["optimizer_state"])
                _move_optimizer_state(self.optimizer, self.device)
            else:
                logger.info("Resuming with a fresh %s optimizer state", self.config.optimizer)
            if payload.get("scheduler_state"):
                self.scheduler.load_state_dict(payload["scheduler_state"])
        except (RuntimeError, ValueError, KeyError) as exc:
            raise CheckpointError(
                f"{self.resume_from} does not fit this model ({str(exc)[:200]})."
            ) from None
        # The configured learning-rate schedule applies from the resumed epoch on.
        self.scheduler.step_size = self.config.lr_step
        self.scheduler.gamma = self.config.lr_decrease
        self.progress = _Progress(
            epoch=int(payload.get("epoch", 0)),
            best_score=float(payload.get("best_score", math.nan)),
            best_epoch=int(payload.get("best_epoch", 0)),
            epochs_without_improvement=int(payload.get("epochs_without_improvement", 0)),
            history=[dict(row) for row in payload.get("history", [])],
        )
        self._best_state = self._find_best_weights(payload)
        if self._best_state is None and self.progress.best_epoch:
            logger.warning(
                "The best weights of epoch %d are not in %s; the best score restarts.",
                self.progress.best_epoch, self.output_dir,
            )
            self.progress.best_score = math.nan
            self.progress.best_epoch = 0
        rng = payload.get("rng") or {}
        if isinstance(rng.get("torch"), torch.Tensor):
            torch.set_rng_state(rng["torch"])
        if isinstance(rng.get("loader"), torch.Tensor):
            self.loader_generator.set_state(rng["loader"])
        if isinstance(rng.get("augment"), torch.Tensor):
            self.augment_generator.set_state(rng["augment"])
        self._global_step = int(payload.get("global_step", 0))
        logger.info(
            "Resumed from %s at epoch %d (best epoch %d)", self.resume_from,
            self.progress.epoch, self.progress.best_epoch,
        )

    def _find_best_weights(self, payload: dict[str, Any]) -> dict[str, torch.Tensor] | None:
        """The best epoch's weights: in the payload itself (a best checkpoint or
        a final model) or in the best checkpoint beside it in the output folder."""
        best_epoch = int(payload.get("best_epoch", 0))
        if not best_epoch:
            return None
        if payload.get("kind") in ("best", "model"):
            return {k: v.detach().cpu().clone() for k, v in payload["model_state"].items()}
        candidate = Path(self.resume_from).expanduser().resolve().parent / self.config.checkpoint_dir
        try:
            best = load_model_file(candidate) if candidate.is_file() else None
        except CheckpointError as exc:
            logger.warning("Ignoring %s: %s", candidate, exc)
            best = None
        if best and best.get("best_epoch") == best_epoch and list(best["labels"]) == self.labels:
            return dict(best["model_state"])
        return None

    def _make_sources(self) -> None:
        cfg = self.config
        pin = cfg.pin_memory and self.device.type == "cuda"
        budget = CacheBudget(cache_budget_bytes(cfg.cache_budget_mb) if cfg.cache_images else 0)
        self.sources: dict[str, BatchSource] = {}
        self.feature_stores: dict[str, FeatureStore] = {}
        cached_bytes = 0
        for name in ("train", "val", "test"):
            samples = self.splits.split(name)
            cache = ImageCache(len(samples), cfg.image_size, budget) if cfg.cache_images else None
            cached_bytes += cache.nbytes if cache else 0
            dataset = DecodedImageDataset(
                samples, self.labels, cfg.image_size, fast_decode=cfg.fast_decode, cache=cache
            )
            self.sources[name] = BatchSource(
                dataset, batch_size=cfg.batch_size, shuffle=name == "train",
                num_workers=cfg.num_workers, pin_memory=pin,
                generator=self.loader_generator if name == "train" else None,
            )
            self.feature_stores[name] = FeatureStore(len(samples))
        self.batch_transform = BatchTransform(
            self.device, rotation_degrees=cfg.rotation_degrees,
            horizontal_flip=cfg.horizontal_flip, channels_last=cfg.channels_last,
            generator=self.augment_generator,
        )
        # Frozen features can stand in for images whenever the images are not
        # augmented: always for validation and test, for training without augmentation.
        frozen = cfg.freeze_extractor and cfg.cache_features
        self.cache_features_for = {
            "train": frozen and not self.batch_transform.augments, "val": frozen, "test": frozen,
        }
        total_images = sum(len(self.splits.split(n)) for n in ("train", "val", "test"))
        share = cached_bytes / (3 * cfg.image_size**2 * total_images) if total_images else 0
        self.fast_paths = {
            "mixed precision": self.precision.name,
            "channels_last": "on" if cfg.channels_last else "off",
            "fast JPEG decoding": "on" if cfg.fast_decode else "off",
            "image cache": (f"{cached_bytes / 1e9:.2f} GB ({share:.0%} of the images)"
                            if cfg.cache_images else "off"),
            "frozen feature cache": ", ".join(n for n, on in self.cache_features_for.items() if on) or "off",
            "frozen extractor": "inference only, head trained" if cfg.freeze_extractor else "off",
            "torch.compile": "on" if cfg.compile_model else "off",
            "loader workers": str(cfg.num_workers),
        }
        logger.info("Fast paths: %s", ", ".join(f"{k}: {v}" for k, v in self.fast_paths.items()))

    # ================================================================ training
    def _train_epochs(self) -> FinishReason:
        cfg = self.config
        progress = self.progress
        if progress.epoch >= cfg.n_epochs:
            logger.info("Already trained %d of %d epochs: nothing to do.", progress.epoch, cfg.n_epochs)
            return FinishReason.COMPLETED
        for epoch in range(progress.epoch + 1, cfg.n_epochs + 1):
            try:
                row = self._run_epoch(epoch)
            except _Stopped:
                logger.info("Stopped by request during epoch %d.", epoch)
                return FinishReason.STOPPED
            improved = self._record_epoch(epoch, row)
            if improved:
                self._save_training_state(self.output_dir / cfg.checkpoint_dir, "best", "improved")
            self._save_training_state(self.output_dir / LAST_CHECKPOINT_NAME, "last", None)
            self._emit(
                EpochEnd(
                    epoch=epoch, total_epochs=cfg.n_epochs, metrics=dict(row), improved=improved,
                    best_epoch=progress.best_epoch, best_score=progress.best_score,
                    epochs_without_improvement=progress.epochs_without_improvement,
                )
            )
            if progress.epochs_without_improvement >= cfg.early_stop_epoch_limit:
                logger.info(
                    "Early stop: %d epochs without improvement of %s.",
                    progress.epochs_without_improvement, cfg.monitor,
                )
                return FinishReason.EARLY_STOPPED
            if self.control.stop_requested:
                return FinishReason.STOPPED
        return FinishReason.COMPLETED

    def _run_epoch(self, epoch: int) -> dict[str, float]:
        cfg = self.config
        self._emit(PhaseChanged("training", epoch))
        lr = self.optimizer.param_groups[0]["lr"]
        models.set_train_mode(self.model, cfg.arch, cfg.freeze_extractor)
        loss_sum, correct, seen = 0.0, 0, 0
        batches = len(self.sources["train"])
        epoch_started = time.monotonic()
        window_started, window_images = epoch_started, 0
        for number, (batch, features) in enumerate(self._batches("train"), start=1):
            if self.control.stop_requested:
                raise _Stopped
            count = batch.targets.shape[0]
            if count == 0:
                continue
            targets = batch.targets.to(self.device, non_blocking=True)
            self.optimizer.zero_grad(set_to_none=True)
            # One image (batch_size 1, or unreadable files leaving one) cannot give
            # BatchNorm batch statistics: its running statistics stand in.
            with models.batchnorm_frozen(self.model, count == 1):
                logits = self._logits("train", batch, features).float()
            loss = self.criterion(logits, targets)
            loss_value = loss.item()
            if not math.isfinite(loss_value):
                raise TrainingError(
                    f"The loss became {loss_value} at epoch {epoch}, batch {number}: training "
                    "diverged. Lower the learning rate and start again; the best checkpoint "
                    "so far is kept."
                )
            if self.scaler is not None:
                self.scaler.scale(loss).backward()
                self.scaler.step(self.optimizer)
                self.scaler.update()
            else:
                loss.backward()
                self.optimizer.step()
            loss_sum += loss_value * count
            correct += exact_match_count(logits.detach().cpu().numpy(), batch.targets.numpy())
            seen += count
            window_images += count
            self._global_step += 1
            now = time.monotonic()
            self._emit(
                BatchEnd(
                    epoch=epoch, batch=number, batches=batches, loss=loss_value, images=count,
                    images_per_second=window_images / max(now - window_started, 1e-9),
                    global_step=self._global_step,
                )
            )
            if now - window_started > 5.0:
                window_started, window_images = now, 0
            if self.control.take_checkpoint_request():
                self._save_training_state(
                    self.output_dir / MANUAL_CHECKPOINT_NAME, "manual", "requested",
                    weights_epoch=epoch,
                )
        train_seconds = time.monotonic() - epoch_started
        if seen == 0:
            raise DatasetError("No training image of this epoch could be read; see the skipped files.")

        self._emit(PhaseChanged("validating", epoch))
        val = self.evaluate("val", stoppable=True)
        self.scheduler.step()
        return {
            "epoch": epoch,
            "train_loss": loss_sum / seen,
            "train_accuracy": correct / seen,
            "val_loss": val.loss,
            "val_accuracy": val.report.exact_match,
            "val_map": val.report.mean_average_precision,
            "val_macro_f1": val.report.macro_f1,
            "lr": lr,
            "epoch_seconds": time.monotonic() - epoch_started,
            "images_per_second": seen / max(train_seconds, 1e-9),
        }

    def _batches(self, split: str) -> Iterator[tuple[Batch, torch.Tensor | None]]:
        """This epoch's batches of ``split``, each with its frozen features when
        they are already stored (then the images are not even loaded)."""
        source = self.sources[split]
        store = self.feature_stores[split]
        if self.cache_features_for[split] and store.complete:
            for chunk in batch_chunks(source.next_order(), self.config.batch_size):
                chunk = store.readable(chunk)
                if chunk.numel():
                    empty = torch.empty(0, dtype=torch.uint8)
                    yield Batch(empty, source.dataset.targets[chunk], chunk, []), store.gather(chunk)
            return
        for batch in source.epoch():
            self._note_failures(batch, source.dataset)
            for index, _ in batch.failures:
                store.mark_unreadable(index)
            yield batch, None

    def _logits(self, split: str, batch: Batch, features: torch.Tensor | None) -> torch.Tensor:
        """The model's outputs for a batch; a frozen extractor runs without autograd
        and only the head is differentiated."""
        augment = split == "train"
        if self.config.freeze_extractor:
            if features is None:
                features = self._extract_features(batch.images, augment=augment)
                if self.cache_features_for[split]:
                    self.feature_stores[split].put(batch.indices, features)
            with self.precision.autocast():
                return self.head(features)
        inputs = self.batch_transform(batch.images, augment=augment)
        with self.precision.autocast():
            return self.forward_model(inputs)

    def _extract_features(self, images: torch.Tensor, *, augment: bool) -> torch.Tensor:
        inputs = self.batch_transform(images, augment=augment)
        with torch.inference_mode(), self.precision.autocast():
            features = self.extractor(inputs)
        # A clone made outside inference mode is an ordinary tensor the head can learn from.
        return features.float().clone()

    def _record_epoch(self, epoch: int, row: dict[str, float]) -> bool:
        cfg = self.config
        progress = self.progress
        progress.epoch = epoch
        progress.history.append(row)
        score = row[cfg.monitor]
        improved = _is_better(score, progress.best_score, lower_is_better=cfg.monitor == "val_loss")
        if improved:
            progress.best_score = score
            progress.best_epoch = epoch
            progress.epochs_without_improvement = 0
            self._best_state = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
        else:
            progress.epochs_without_improvement += 1
        write_metrics_csv(self.output_dir / METRICS_NAME, progress.history)
        logger.info(
            "Epoch %d/%d  train loss %.4f acc %.3f | val loss %.4f acc %.3f mAP %.3f F1 %.3f | "
            "lr %.2e | %.1fs %.1f img/s%s",
            epoch, cfg.n_epochs, row["train_loss"], row["train_accuracy"], row["val_loss"],
            row["val_accuracy"], row["val_map"], row["val_macro_f1"], row["lr"],
            row["epoch_seconds"], row["images_per_second"], "  [best]" if improved else "",
        )
        return improved

    # ============================================================== evaluation
    @torch.no_grad()
    def evaluate(self, split: str, *, stoppable: bool) -> EvalResult:
        """Loss and metrics of the current weights on one split, no augmentation."""
        self.model.eval()
        loss_sum, seen = 0.0, 0
        probabilities, targets, indices = [], [], []
        for batch, features in self._batches(split):
            if stoppable and self.control.stop_requested:
                raise _Stopped
            if batch.targets.shape[0] == 0:
                continue
            logits = self._logits(split, batch, features).float()
            loss_sum += self.criterion(logits, batch.targets.to(self.device)).item() * logits.shape[0]
            seen += logits.shape[0]
            probabilities.append(torch.sigmoid(logits).cpu().numpy())
            targets.append(batch.targets.numpy())
            indices.append(batch.indices.numpy())
        empty = np.zeros((0, len(self.labels)))
        probs = np.concatenate(probabilities) if probabilities else empty
        truth = np.concatenate(targets) if targets else empty
        order = np.concatenate(indices) if indices else np.zeros(0, dtype=np.int64)
        loss = loss_sum / seen if seen else math.nan
        return EvalResult(loss, probs, truth, compute_metrics(probs, truth, self.labels, 0.5), order)

    # ================================================================ finishing
    def _finish(self, reason: FinishReason, started: float) -> RunResult:
        cfg = self.config
        if reason is FinishReason.STOPPED:
            # A second stop request during the test evaluation skips it.
            self.control.clear_stop()
        self._emit(PhaseChanged("testing", self.progress.epoch))
        checkpoint_path = self.output_dir / cfg.checkpoint_dir
        if self._best_state is not None:
            self.model.load_state_dict(self._best_state)
        elif not checkpoint_path.exists():
            # Stopped before any validation: keep the weights as they are.
            self._save_training_state(checkpoint_path, "last", "end")
        self.thresholds = self._tune_thresholds()
        test: EvalResult | None = None
        report: EvaluationReport | None = None
        if self.splits.test:
            try:
                test = self.evaluate("test", stoppable=True)
            except _Stopped:
                logger.info("Test evaluation skipped by a second stop request.")
        self._emit(PhaseChanged("saving", self.progress.epoch))
        if test is not None:
            report = self._test_report(test)
            write_json_atomic(self.output_dir / EVALUATION_NAME, report.to_dict())
        final_path = self.output_dir / cfg.save_model_dir
        extra = {
            "thresholds": self.thresholds,
            "test_metrics": report_dict(test.report, test.loss) if test else None,
        }
        self._save_training_state(final_path, "model", None, extra=extra)
        message = _finish_message(reason, self.progress, test, held_out=self.test_held_out)
        summary = self._write_reports(reason, message, started, test, final_path, report)
        logger.info("%s", message)
        logger.info("Final model: %s", final_path)
        self._emit(
            RunFinished(
                reason=reason, message=message, output_dir=str(self.output_dir),
                best_epoch=self.progress.best_epoch, final_model_path=str(final_path),
                summary=summary,
            )
        )
        return RunResult(reason, str(self.output_dir), str(final_path), self.progress.best_epoch, summary)

    def _tune_thresholds(self) -> list[float]:
        """Per-label thresholds that maximise validation F1 for the final weights."""
        try:
            val = self.evaluate("val", stoppable=False)
        except Exception:  # noqa: BLE001 - thresholds are a refinement, never a reason to fail
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

    def _test_report(self, test: EvalResult) -> EvaluationReport:
        images = [
            ImageResult(self.splits.test[i].path, self.splits.test[i].labels, tuple(row))
            for i, row in zip(test.indices.tolist(), test.probabilities.tolist())
        ]
        return build_report(
            self.labels, self.thresholds, images,
            source={"model": str(self.output_dir / self.config.save_model_dir),
                    "data_root": str(self.splits.root), "split": "test",
                    "held_out": self.test_held_out},
        )

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
        final_path = ""
        output_dir = str(getattr(self, "output_dir", ""))
        summary: dict[str, Any] = {}
        # Nothing the run produced is lost: the best weights become the final model
        # (only in a folder this run owns: never over another run's files).
        if self._best_state is not None and self._lock is not None and self._lock.held:
            try:
                self.model.load_state_dict(self._best_state)
                target = self.output_dir / self.config.save_model_dir
                self._save_training_state(target, "model", None)
                final_path = str(target)
                summary = self._write_reports(FinishReason.FAILED, message, started, None, target)
            except Exception:  # noqa: BLE001 - already failing; report the first error
                logger.exception("Could not write the final model after the failure")
        self._emit(
            RunFinished(
                reason=FinishReason.FAILED, message=message, output_dir=output_dir,
                best_epoch=self.progress.best_epoch, final_model_path=final_path,
                summary=summary, details=details,
            )
        )

    def _write_reports(
        self, reason: FinishReason, message: str, started: float,
        test: EvalResult | None, final_path: Path, evaluation: EvaluationReport | None = None,
    ) -> dict[str, Any]:
        cfg = self.config
        best_row = next((r for r in self.progress.history if r["epoch"] == self.progress.best_epoch), None)
        report = test.report if test else None
        summary: dict[str, Any] = {
            "reason": reason.value,
            "message": message,
            "best_epoch": self.progress.best_epoch,
            "monitor": cfg.monitor,
            "best_score": finite_or_none(self.progress.best_score),
            "epochs_completed": self.progress.epoch,
            "best_val": best_row,
            "test_exact_match": finite_or_none(report.exact_match) if report else None,
            "test_map": finite_or_none(report.mean_average_precision) if report else None,
            "test_macro_f1": finite_or_none(report.macro_f1) if report else None,
            "test_loss": finite_or_none(test.loss) if test else None,
            "test_per_label_ap": report.per_label_ap() if report else None,
            "thresholds": dict(zip(self.labels, getattr(self, "thresholds", []))),
            "test_at_thresholds": (
                {k: v for k, v in evaluation.at_thresholds.to_dict().items() if k != "per_label"}
                if evaluation else None
            ),
            # Images the test metrics count; unreadable ones are in skipped_files.
            "test_images": len(test.indices) if test else 0,
            "test_images_in_split": len(self.splits.test),
            "test_held_out": self.test_held_out,
            "labels": list(self.labels),
            "split_sizes": {name: len(self.splits.split(name)) for name in ("train", "val", "test")},
            "wall_seconds": round(time.monotonic() - started, 3),
            "device": str(self.device),
            "skipped_files": [{"path": s.path, "reason": s.reason} for s in self.skipped],
            "files": {
                "final_model": final_path.name,
                "checkpoint": cfg.checkpoint_dir,
                "last_checkpoint": LAST_CHECKPOINT_NAME,
                "log": cfg.log_name,
                "metrics": METRICS_NAME,
                "config": CONFIG_NAME,
                "evaluation": EVALUATION_NAME if evaluation else None,
            },
        }
        write_json_atomic(self.output_dir / SUMMARY_NAME, summary)
        self._write_run_record(reason.value)
        return summary

    def _write_run_record(self, status: str) -> None:
        """run.json: which run owns this folder (resume checks it) and how it ended."""
        record = {
            "run_id": self.run_id, "started_at": self.started_at, "status": status,
            "resumed_from": self.resume_from or None,
            "updated_at": datetime.now().isoformat(timespec="seconds"),
        }
        write_json_atomic(self.output_dir / RUN_RECORD_NAME, record)

    def _release_output_folder(self) -> None:
        if self._lock is None:
            return
        self._lock.release()
        self._lock = None
        if self._created_folder:
            try:  # a run that failed before writing anything leaves no empty folder behind
                self.output_dir.rmdir()
            except OSError:
                pass

    # ================================================================= helpers
    def _save_training_state(
        self, path: Path, kind: str, event_reason: str | None, *,
        weights_epoch: int | None = None, extra: dict[str, Any] | None = None,
    ) -> None:
        cfg = self.config
        payload = {
            "kind": kind,
            "arch": cfg.arch,
            "labels": list(self.labels),
            "image_size": cfg.image_size,
            "mean": list(IMAGENET_MEAN),
            "std": list(IMAGENET_STD),
            "threshold": cfg.threshold,
            "config": cfg.to_dict(),
            "model_state": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "optimizer_name": cfg.optimizer,
            "optimizer_state": self.optimizer.state_dict(),
            "scheduler_state": self.scheduler.state_dict(),
            "epoch": self.progress.epoch,
            "best_score": self.progress.best_score,
            "best_epoch": self.progress.best_epoch,
            "epochs_without_improvement": self.progress.epochs_without_improvement,
            "history": [dict(row) for row in self.progress.history],
            "global_step": self._global_step,
            "rng": {
                "torch": torch.get_rng_state(),
                "loader": self.loader_generator.get_state(),
                "augment": self.augment_generator.get_state(),
            },
            "saved_at": datetime.now().isoformat(timespec="seconds"),
            "run_id": self.run_id,
            "split": self.split_fingerprint,
            "test_held_out": self.test_held_out,
            **(extra or {}),
        }
        if kind == "best":
            payload["epoch"] = self.progress.best_epoch
        if weights_epoch is not None:
            payload["partial_epoch"] = weights_epoch
        save_atomic(payload, path)
        if event_reason:
            logger.info("Checkpoint saved: %s (%s)", path, event_reason)
            self._emit(CheckpointSaved(str(path), self.progress.epoch, event_reason))

    def _note_failures(self, batch: Batch, dataset: DecodedImageDataset) -> None:
        if not batch.failures:
            return
        known = {s.path for s in self.skipped}
        new = []
        for index, reason in batch.failures:
            path = dataset.paths[index]
            if path not in known:
                self.skipped.append(SkippedFile(path, reason))
                new.append((path, reason))
                logger.warning("Skipped %s: %s", path, reason)
        if new:
            self._emit(FilesSkipped(tuple(new)))

    def _emit(self, event: Event) -> None:
        self._emit_to(event)

    def _attach_log_file(self, path: Path) -> None:
        handler = logging.FileHandler(path, mode="a", encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        handler.setLevel(logging.INFO)
        package_logger = logging.getLogger("mlcls_gui")
        if package_logger.level == logging.NOTSET or package_logger.level > logging.INFO:
            package_logger.setLevel(logging.INFO)
        package_logger.addHandler(handler)
        self._log_handler = handler

    def _detach_log_file(self) -> None:
        if self._log_handler is not None:
            logging.getLogger("mlcls_gui").removeHandler(self._log_handler)
            self._log_handler.close()
            self._log_handler = None


# ==================================================================== functions
def _as_user_error(exc: BaseException, cfg: TrainConfig) -> MlclsError | None:
    """Faults of the environment that the user can fix, as messages that say how."""
    text = str(exc)
    if isinstance(exc, torch.cuda.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and "out of memory" in text.lower()
    ):
        return TrainingError(
            f"Out of memory on {cfg.device} with batch size {cfg.batch_size} and image size "
            f"{cfg.image_size}. Lower batch_size (e.g. {max(1, cfg.batch_size // 2)}) or "
            "image_size, or choose another device; the best checkpoint so far is kept."
        )
    if isinstance(exc, OSError) and exc.errno == 28:
        return TrainingError(
            f"The disk is full ({getattr(exc, 'filename', '') or cfg.save_model_folder}). "
            "Free some space or choose another output folder; the files already written are kept."
        )
    return None


def _make_optimizer(cfg: TrainConfig, params: list[nn.Parameter]) -> torch.optim.Optimizer:
    kind = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.AdamW
    # adam: the seed's reading — weight_decay * w added to the gradient after
    # backward, before the step (coupled L2), exactly torch's Adam.
    # adamw: decoupled — w <- w * (1 - lr * wd) before each Adam update.
    try:
        # One fused kernel instead of a loop over tensors (CPU and CUDA, torch >= 2.4).
        return kind(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return kind(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)


def _move_optimizer_state(optimizer: torch.optim.Optimizer, device: torch.device) -> None:
    for state in optimizer.state.values():
        for key, value in state.items():
            if isinstance(value, torch.Tensor) and key != "step":
                state[key] = value.to(device)


def _is_better(score: float, best: float, *, lower_is_better: bool) -> bool:
    if not math.isfinite(score):
        return False
    if not math.isfinite(best):
        return True
    return score < best if lower_is_better else score > best


def _check_same_labels(saved: list[str], current: list[str], source: str) -> None:
    if list(saved) == list(current):
        return
    only_saved = sorted(set(saved) - set(current))
    only_data = sorted(set(current) - set(saved))
    parts = []
    if only_saved:
        parts.append(f"only in the checkpoint: {', '.join(only_saved)}")
    if only_data:
        parts.append(f"only in the data: {', '.join(only_data)}")
    raise CheckpointError(
        f"The labels of {source} differ from the data folder's ({'; '.join(parts) or 'different order'}). "
        "Resume with the data the checkpoint was trained on, or start a new run."
    )


def _finish_message(
    reason: FinishReason, progress: _Progress, test: EvalResult | None, *, held_out: bool = True,
) -> str:
    what = {
        FinishReason.COMPLETED: "Training completed",
        FinishReason.STOPPED: "Training stopped by request",
        FinishReason.EARLY_STOPPED: "Training stopped early (no improvement)",
    }[reason]
    text = f"{what} after {progress.epoch} epoch(s)"
    if progress.best_epoch:
        text += f"; best epoch {progress.best_epoch}"
    if test is not None:
        text += (
            f"; test exact-match {test.report.exact_match:.3f}, mAP "
            f"{test.report.mean_average_precision:.3f}, macro F1 {test.report.macro_f1:.3f}"
        )
        if not held_out:
            text += " (NOT held out: the split changed when the run was resumed)"
    return text + "."
