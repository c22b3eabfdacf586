"""A model small enough to train and export in a test: tiny_cnn, one epoch, random start."""

from __future__ import annotations

from pathlib import Path

from .conftest import tiny_config


def train_tiny_cnn(root: Path, output: Path) -> Path:
    """Train tiny_cnn for one epoch on ``root`` into ``output``; return the final model file."""
    import torch

    from mlcls_gui.core.training.engine import Trainer

    torch.set_num_threads(1)
    result = Trainer(tiny_config(root, output, arch="tiny_cnn", n_epochs=1)).run()
    return Path(result.final_model_path)
