"""A warm start keeps an earlier model's weights; labels are matched by name."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import tiny_config

from mlcls_gui.core.errors import ConfigError
from mlcls_gui.core.model_file.contents import read_model_file
from mlcls_gui.core.models import build as models
from mlcls_gui.core.models import registry
from mlcls_gui.core.training.engine import Trainer
from mlcls_gui.core.training.warm_start import warm_start


@pytest.fixture(scope="module")
def earlier_model(tiny_root: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("earlier") / "out"
    return Trainer(tiny_config(tiny_root, out, n_epochs=1)).run().final_model_path


def test_kept_labels_keep_their_rows_and_a_new_label_gets_a_new_one(earlier_model: str):
    earlier = read_model_file(earlier_model)
    labels = [earlier.labels[1], "newlabel", earlier.labels[0]]
    model = models.build_model("tiny_cnn", len(labels))
    fresh_row = models.head_module(model, "tiny_cnn").weight[1].detach().clone()
    text = warm_start(model, "tiny_cnn", labels, earlier_model)
    head = registry.head_path("tiny_cnn")
    state = model.state_dict()
    for key, value in earlier.model_state.items():
        if not key.startswith(head + "."):
            assert torch.equal(state[key], value), key
    weight, old_weight = state[f"{head}.weight"], earlier.model_state[f"{head}.weight"]
    assert torch.equal(weight[0], old_weight[1]) and torch.equal(weight[2], old_weight[0])
    assert torch.equal(weight[1], fresh_row)
    assert "2 of 3 labels kept" in text and "new: newlabel" in text


def test_another_architecture_is_refused_naming_both(earlier_model: str):
    model = models.build_model("resnet18", 2)
    with pytest.raises(ConfigError, match="is a tiny_cnn model, but this run trains resnet18"):
        warm_start(model, "resnet18", ["a", "b"], earlier_model)


def test_a_run_with_init_model_starts_from_it(tiny_root: Path, tmp_path: Path, earlier_model: str):
    # At a negligible rate the warm-started run's weights stay the earlier model's (not a fresh init).
    cfg = tiny_config(tiny_root, tmp_path / "warm", n_epochs=1, init_model=earlier_model, learning_rate=1e-12,
                      weight_decay=0.0)
    result = Trainer(cfg).run()
    after = read_model_file(result.final_model_path).model_state
    before = read_model_file(earlier_model).model_state
    conv = next(key for key in before if key.endswith("weight") and before[key].dim() == 4)
    assert torch.allclose(after[conv], before[conv], atol=1e-6)
    fresh = Trainer(tiny_config(tiny_root, tmp_path / "cold", n_epochs=1, learning_rate=1e-12, seed=7)).run()
    assert not torch.allclose(read_model_file(fresh.final_model_path).model_state[conv], before[conv], atol=1e-3)
