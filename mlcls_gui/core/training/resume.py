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
import os
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from mlcls_gui.core.config import TrainConfig, field_names, field_spec, with_current_names
from mlcls_gui.core.data.splits import SPLIT_NAMES, DatasetSplits
from mlcls_gui.core.errors import CheckpointError
from mlcls_gui.core.output_names import RUN_RECORD_NAME
from mlcls_gui.core.runs.outputs import read_json_or_none

# The model's shape and the split: a resume always keeps the checkpoint's.
KEPT_FROM_CHECKPOINT = ("arch", "image_size", "seed", "val_fraction", "test_fraction")
# torch's Optimizer.load_state_dict restores these into every parameter group.
KEPT_WITH_OPTIMIZER_STATE = ("learning_rate", "weight_decay")


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


def checkpoint_config(payload: dict[str, Any], source: str) -> TrainConfig:
    """The config a checkpoint was trained with (for ``train --resume FILE`` alone)."""
    saved = payload.get("config")
    if not isinstance(saved, dict):
        raise CheckpointError(
            f"{source} does not hold the config it was trained with; give the config file "
            "too: mlcls-gui train CONFIG --resume FILE."
        )
    known = set(field_names())
    values = {k: v for k, v in with_current_names(saved).items() if k in known}
    try:
        return TrainConfig.from_dict(values, source=f"the config stored in {source}")
    except Exception as exc:  # noqa: BLE001 - any invalid stored config is one message
        raise CheckpointError(str(exc)) from None


def optimizer_state_usable(payload: dict[str, Any], cfg: TrainConfig) -> bool:
    """The saved optimizer state fits when the optimizer and the trained parameters match."""
    saved = payload.get("config") or {}
    return bool(
        payload.get("optimizer_state")
        and payload.get("optimizer_name") == cfg.optimizer
        and saved.get("freeze_extractor", False) == cfg.freeze_extractor
    )


def config_for_resume(cfg: TrainConfig, payload: dict[str, Any]) -> tuple[TrainConfig, list[str]]:
    """``cfg`` with the fields a resume takes from the checkpoint, and a note per change."""
    saved = dict(payload.get("config") or {})
    saved["arch"] = payload["arch"]
    saved["image_size"] = int(payload["image_size"])
    names = list(KEPT_FROM_CHECKPOINT)
    if optimizer_state_usable(payload, cfg):
        names += KEPT_WITH_OPTIMIZER_STATE
    kept = {name: saved[name] for name in names if name in saved and saved[name] != getattr(cfg, name)}
    notes = [
        f"{field_spec(name).label} ({name}) is {value!r} as in the checkpoint, not "
        f"{getattr(cfg, name)!r}" for name, value in kept.items()
    ]
    return dataclasses.replace(cfg, **kept), notes


def resume_folder(resume_file: str | os.PathLike[str], payload: dict[str, Any]) -> tuple[Path, str]:
    """Where a resumed run continues: the checkpoint's own folder, unless that
    folder now holds another run — then a new folder beside it (never over it)."""
    folder = Path(resume_file).expanduser().resolve().parent
    record = read_json_or_none(folder / RUN_RECORD_NAME)
    folder_run = record.get("run_id") if isinstance(record, dict) else None
    if folder_run is None or folder_run == payload.get("run_id"):
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
