"""A warm start: a new run begins from an earlier model file's weights.

The architecture must be the same. Labels are matched by name, so the data may
have gained labels (each gets a freshly initialised classifier row) or lost
some (their rows are dropped); every other weight must fit exactly."""

from __future__ import annotations

import logging
import os
from typing import Sequence

import torch
from torch import nn

from mlcls_gui.core.errors import ConfigError, field_ref
from mlcls_gui.core.model_file.contents import read_model_file
from mlcls_gui.core.models import registry

logger = logging.getLogger(__name__)


def warm_start(model: nn.Module, arch: str, labels: Sequence[str], path: str | os.PathLike[str]) -> str:
    """Load ``path``'s weights into ``model`` (built for ``labels``); a sentence saying what was kept."""
    source = read_model_file(path)  # a CheckpointError names a damaged or foreign file
    if source.arch != arch:
        raise ConfigError(
            f"{field_ref('init_model')}: {path} is a {source.arch} model, but this run trains {arch}. "
            f"Set {field_ref('arch', source.arch)}, or clear {field_ref('init_model')}.", field="init_model")
    head = registry.head_path(arch) + "."
    own = model.state_dict()
    state = {key: value for key, value in source.model_state.items() if not key.startswith(head)}
    wrong = [key for key, value in state.items() if key in own and own[key].shape != value.shape]
    missing = [key for key in own if not key.startswith(head) and key not in state]
    if wrong or missing:
        raise ConfigError(
            f"{field_ref('init_model')}: {path} does not fit this {arch} ({len(wrong)} weights of another "
            f"shape, {len(missing)} missing, e.g. {(wrong + missing)[:2]}). Choose a model trained with "
            "the same architecture settings.", field="init_model")
    old_rows = {label: row for row, label in enumerate(source.labels)}
    kept = [label for label in labels if label in old_rows]
    with torch.no_grad():
        for key, value in own.items():
            if key.startswith(head) and key in source.model_state and value.dim() >= 1:
                old = source.model_state[key]
                for row, label in enumerate(labels):
                    if label in old_rows and old.shape[1:] == value.shape[1:]:
                        value[row] = old[old_rows[label]]
                state[key] = value
    model.load_state_dict({**own, **state})
    new = [label for label in labels if label not in old_rows]
    text = (f"Started from {os.path.basename(str(path))}: {len(kept)} of {len(labels)} labels kept their "
            "classifier rows" + (f"; new: {', '.join(new)}" if new else "") + ".")
    logger.info("%s", text)
    return text
