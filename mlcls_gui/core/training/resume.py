"""Resuming honestly: what a resumed run takes from its checkpoint, where it
continues, and whether it still trains and tests on the checkpoint's split.

A resume continues one run. Its model shape and its split are the
checkpoint's (a different seed or validation share would re-split the data
and leak training images into the test set), it continues in the folder of
the checkpoint it resumes from, and it never writes over another run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import logging
import math
import os
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from mlcls_gui.core.config import TrainConfig, field_names
from mlcls_gui.core.data.splits import SPLIT_NAMES, DatasetSplits
from mlcls_gui.core.errors import CheckpointError, field_ref
from mlcls_gui.core.model_file.contents import ModelFile, read_model_file
from mlcls_gui.core.output_names import RUN_RECORD_NAME
from mlcls_gui.core.runs.outputs import read_json_or_none

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

# The model's shape and the split: a resume always keeps the checkpoint's.
KEPT_FROM_CHECKPOINT = ("arch", "image_size", "seed", "val_fraction", "test_fraction")
# torch's Optimizer.load_state_dict restores these into every parameter group.
KEPT_WITH_OPTIMIZER_STATE = ("learning_rate", "weight_decay")


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


def checkpoint_config(model_file: ModelFile) -> TrainConfig:
    """The config a checkpoint was trained with (for ``train --resume FILE`` alone)."""
    saved, source = model_file.config, model_file.path
    if not saved:
        raise CheckpointError(
            f"{source} does not hold the config it was trained with; give the config file "
            "too: mlcls-gui train CONFIG --resume FILE."
        )
    known = set(field_names())
    values = {k: v for k, v in saved.items() if k in known}
    try:
        return TrainConfig.from_dict(values, source=f"the config stored in {source}")
    except Exception as exc:  # noqa: BLE001 - any invalid stored config is one message
        raise CheckpointError(str(exc)) from None


def optimizer_state_usable(model_file: ModelFile, cfg: TrainConfig) -> bool:
    """The saved optimizer state fits when the optimizer and the trained parameters match."""
    return bool(
        model_file.optimizer_state
        and model_file.optimizer_name == cfg.optimizer
        and model_file.config.get("freeze_extractor", False) == cfg.freeze_extractor
    )


def config_for_resume(cfg: TrainConfig, model_file: ModelFile) -> tuple[TrainConfig, list[str]]:
    """``cfg`` with the fields a resume takes from the checkpoint, and a note per change."""
    saved = dict(model_file.config)
    saved["arch"] = model_file.arch
    saved["image_size"] = model_file.image_size
    names = list(KEPT_FROM_CHECKPOINT)
    if optimizer_state_usable(model_file, cfg):
        names += KEPT_WITH_OPTIMIZER_STATE
    kept = {name: saved[name] for name in names if name in saved and saved[name] != getattr(cfg, name)}
    notes = [
        f"{field_ref(name)} is {value!r} as in the checkpoint, not "
        f"{getattr(cfg, name)!r}" for name, value in kept.items()
    ]
    return dataclasses.replace(cfg, **kept), notes


def resume_folder(model_file: ModelFile) -> tuple[Path, str]:
    """Where a resumed run continues: the checkpoint's own folder, unless that
    folder now holds another run — then a new folder beside it (never over it)."""
    folder = Path(model_file.path).expanduser().resolve().parent
    record = read_json_or_none(folder / RUN_RECORD_NAME)
    folder_run = record.get("run_id") if isinstance(record, dict) else None
    if folder_run is None or folder_run == (model_file.run_id or None):
        return folder, ""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    target = folder.with_name(f"{folder.name}-resumed-{stamp}")
    return target, (f"{folder} now holds another run, so the resumed run continues in "
                    f"{target} and leaves that run untouched")


# ------------------------------------------------------------------ the split
def split_fingerprint(splits: DatasetSplits) -> dict[str, dict[str, Any]]:
    """Per split: the image count and a hash of its files (relative to the data
    root, so a moved data folder still matches) and their labels. Unknown
    labels (CSV roots) enter the hash only where there are any, so folder
    roots hash as before."""
    out: dict[str, dict[str, Any]] = {}
    for name in SPLIT_NAMES:
        lines = sorted(
            f"{os.path.relpath(s.path, splits.folder)}\t{'+'.join(s.labels)}"
            + (f"\t?{'|'.join(s.unknown)}" if s.unknown else "")
            for s in splits.split(name)
        )
        digest = hashlib.sha256("\n".join(lines).encode("utf-8", "surrogateescape")).hexdigest()
        out[name] = {"images": len(lines), "sha256": digest}
    return out


def describe_split_change(saved: Any, current: dict[str, dict[str, Any]]) -> str:
    """'' when the splits are the same; otherwise what differs, in words."""
    if not isinstance(saved, dict):
        return ""
    changed = []
    for name in SPLIT_NAMES:
        before, now = saved.get(name) or {}, current[name]
        if before.get("sha256") != now["sha256"]:
            changed.append(f"{name} {before.get('images', '?')} → {now['images']} images"
                           if before.get("images") != now["images"] else f"{name} (other images)")
    return "; ".join(changed)


# ------------------------------------------------------------------ the plan
@dataclass(frozen=True)
class ResumePlan:
    """A resume, planned once from the file read once: what it continues from,
    the settings it keeps from the checkpoint, where it continues, and the best
    epoch's weights. The window shows it, the CLI prints it, the Trainer runs it."""

    model_file: ModelFile
    config: TrainConfig  # the given settings with what the checkpoint keeps, in ``output_dir``
    notes: tuple[str, ...]  # each change from the given settings, in words
    output_dir: Path
    best_weights: Mapping[str, torch.Tensor] | None  # None: the best score starts again

    @property
    def path(self) -> str:
        return self.model_file.path

    @property
    def best_kept(self) -> bool:
        return bool(self.model_file.best_epoch) and self.best_weights is not None

    def sentences(self) -> list[str]:
        """Plain sentences for the dialog, the run panel and the CLI."""
        file, name = self.model_file, Path(self.model_file.path).name
        lines = [f"{name} is {file.kind_name}, written after epoch {file.epoch}."]
        if file.kind == "manual" and file.partial_epoch:
            lines[0] = f"{name} is {file.kind_name} during epoch {file.partial_epoch}."
            lines.append(
                f"Epoch {file.partial_epoch} is trained again from its start (its batches before the "
                "save are not skipped), starting from the weights saved mid-epoch.")
        total, next_epoch = self.config.n_epochs, file.epoch + 1
        if next_epoch > total:
            lines.append(
                f"The run already has {file.epoch} epoch(s) and “Epochs” is {total}: "
                "nothing is left to train. Raise “Epochs” to train longer.")
        else:
            lines.append(f"Training continues after epoch {file.epoch}, with epoch {next_epoch} of {total}.")
        if file.best_epoch and self.best_kept:
            lines.append(f"The best checkpoint so far is epoch {file.best_epoch} "
                         f"({file.monitor} {_score(file.best_score)}); new epochs must beat it.")
        elif file.best_epoch:
            lines.append(
                f"The best epoch so far was {file.best_epoch}, but its weights are neither in this file "
                "nor in the best checkpoint beside it: the best score starts again.")
        else:
            lines.append("No best epoch yet: the first validated epoch becomes the best.")
        return lines

    def text(self) -> str:
        return " ".join(self.sentences())

    def html(self) -> str:
        return "<br>".join(html.escape(line) for line in self.sentences())


def plan_resume(source: str | os.PathLike[str] | ModelFile, config: TrainConfig) -> ResumePlan:
    """Plan resuming ``source`` (a file, read here once, or one already read) with
    ``config``; CheckpointError for a file that cannot be resumed from."""
    model_file = source if isinstance(source, ModelFile) else read_model_file(source)
    cfg, notes = config_for_resume(config, model_file)
    output_dir, folder_note = resume_folder(model_file)
    if folder_note:
        notes.append(folder_note)
    configured = Path(cfg.save_model_folder).expanduser().resolve()
    if configured != output_dir:
        notes.append(f"continues in the checkpoint's folder {output_dir}, not in {configured}")
    return ResumePlan(
        model_file=model_file, config=dataclasses.replace(cfg, save_model_folder=str(output_dir)),
        notes=tuple(notes), output_dir=output_dir, best_weights=best_weights_of(model_file),
    )


def best_weights_of(model_file: ModelFile) -> Mapping[str, torch.Tensor] | None:
    """The best epoch's weights: the file's own (a best checkpoint or a final model)
    or those of the run's best checkpoint beside it, when it holds the same best epoch."""
    if not model_file.best_epoch:
        return None
    if model_file.holds_best_weights:
        return model_file.model_state
    candidate = Path(model_file.path).expanduser().parent / model_file.checkpoint_name
    if not candidate.is_file() or candidate.resolve() == Path(model_file.path).expanduser().resolve():
        return None
    try:
        best = read_model_file(candidate)
    except CheckpointError as exc:
        logger.warning("Ignoring %s: %s", candidate, exc)
        return None
    if best.best_epoch == model_file.best_epoch and best.labels == model_file.labels:
        return best.model_state
    return None


def _score(value: float) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.4f}"
