"""What a resume takes from its checkpoint, and the checks before a run trains:
the checkpoint's labels and split against the data's, and (with several
processes) that every process sees the same images.

The Trainer calls these in ``_prepare``; each refusal is a user error that
says how to go on (resume with the same data, or start a new run).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mlcls_gui.core.config import TrainConfig
from mlcls_gui.core.data.splits import DatasetSplits
from mlcls_gui.core.errors import CheckpointError, DatasetError
from mlcls_gui.core.model_file.contents import ModelFile
from mlcls_gui.core.training.engine.reports import RunIdentity
from mlcls_gui.core.training.engine.strategy import Strategy
from mlcls_gui.core.training.resume import ResumePlan, describe_split_change


def take_from_plan(plan: ResumePlan, identity: RunIdentity) -> tuple[TrainConfig, list[str], Path]:
    """The checkpoint decides the model's shape, the split and the folder: the run's
    config, its notes and its output folder; ``identity`` takes the checkpoint's run
    id and whether its test split is held out."""
    identity.run_id = plan.model_file.run_id or identity.run_id
    identity.test_held_out = plan.model_file.test_held_out
    return plan.config, list(plan.notes), plan.output_dir


def check_same_split(payload: ModelFile, fingerprint: dict[str, Any], *, source: str, allow_change: bool,
                     identity: RunIdentity, notes: list[str]) -> None:
    """Refuse to resume on other images than the checkpoint's split, unless
    asked to; then the test score is marked as not held out (in ``identity``,
    and said in ``notes``)."""
    if payload.split is None:
        notes.append("this checkpoint does not record its split, so it cannot be checked")
        return
    change = describe_split_change(payload.split, fingerprint)
    if not change:
        return
    if not allow_change:
        raise CheckpointError(
            f"The data split differs from the one {source} was trained on ({change}): "
            "images the model trained on could land in the test split and inflate its score. "
            "Resume with the same data folder, or start a new run (to continue anyway: "
            "mlcls-gui train --resume FILE --allow-split-change; the test score is then "
            "marked as not held out)."
        )
    identity.test_held_out = False
    notes.append(f"the split changed ({change}); the test score is marked as not held out")


def check_processes_agree(strategy: Strategy, fingerprint: dict[str, Any], splits: DatasetSplits,
                          images_root: str) -> None:
    """Every process must see the same data (e.g. the same copy on each machine)."""
    if not strategy.distributed:
        return
    mine = int(fingerprint["train"]["sha256"][:12], 16)
    seen = strategy.gather({"split": np.array([mine], dtype=np.int64)})["split"]
    if len(set(seen.tolist())) > 1:
        raise DatasetError(
            f"The training processes see different images under {images_root}: "
            "every machine needs the same data folder."
        )
    if len(splits.train) < 2 * strategy.world_size:
        raise DatasetError(
            f"{len(splits.train)} training images are too few for "
            f"{strategy.world_size} processes; use fewer processes."
        )


def check_same_labels(saved: list[str], current: list[str], source: str) -> None:
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
