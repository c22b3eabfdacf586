"""Fixtures for core tests: tiny generated datasets and fast configs. No Qt here."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from mlcls_gui.core.config import TrainConfig
from mlcls_gui.core.data.demo import write_demo_dataset

# Two cores: keep torch from oversubscribing them in the unit suite (one thread
# per pytest-xdist worker, which runs one test per core).
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else 2)
# The environment for training subprocesses: one CPU thread each, so a run left
# training while a test waits does not take the cores of the tests beside it.
ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo layout, 6 images per label-set folder, 32 px."""
    return write_demo_dataset(tmp_path_factory.mktemp("tiny") / "data", images_per_folder=6, image_size=32)


def tiny_config(root: Path, out: Path, **changes) -> TrainConfig:
    base = dict(
        images_root=str(root), save_model_folder=str(out), image_size=32, batch_size=8,
        n_epochs=2, early_stop_epoch_limit=5, pretrained=False, arch="tiny_cnn",
        device="cpu", learning_rate=1e-3, val_fraction=0.2, test_fraction=0.2,
        check_split_leakage=False,  # the near-copy check has tests of its own (pretrained features: seconds)
    )
    base.update(changes)
    return TrainConfig(**base)
