"""read_model_file refuses files whose fields break the rules, in one line.

Each bad file is made as an attacker (or a careless script) would: a real
model file written by save_atomic, loaded with ``weights_only=True``, one
field changed, written back with ``torch.save``.
"""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image

from mlcls_gui.core.config import TrainConfig
from mlcls_gui.core.data.imagenet import IMAGENET_MEAN, IMAGENET_STD
from mlcls_gui.core.errors import CheckpointError
from mlcls_gui.core.inference.predict import Predictor
from mlcls_gui.core.model_file.checkpoint import save_atomic
from mlcls_gui.core.model_file.contents import read_model_file
from mlcls_gui.core.models import build as models

ARCH = "mobilenet_v3_small"  # the smallest supported network: fast to save and load
LABELS = ["cat", "dog", "bird"]
DROP = object()  # marks a field to delete


@pytest.fixture(scope="module")
def good_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A final-model file with every field the engine writes."""
    torch.manual_seed(0)
    model = models.build_model(ARCH, len(LABELS))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=10)
    config = TrainConfig(arch=ARCH, image_size=32, pretrained=False)
    payload = {
        "kind": "model", "arch": ARCH, "labels": list(LABELS), "image_size": 32,
        "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD), "threshold": 0.5,
        "thresholds": [0.5, 0.25, 1.0], "config": config.to_dict(),
        "model_state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer_name": "adamw", "optimizer_state": optimizer.state_dict(),
        "scheduler_state": scheduler.state_dict(), "epoch": 3, "best_score": math.nan,
        "best_epoch": 0, "epochs_without_improvement": 3, "global_step": 12,
        "history": [{"epoch": 1, "val_loss": 0.7}], "test_metrics": None,
        "rng": {"torch": torch.get_rng_state(), "loader": torch.Generator().get_state()},
        "saved_at": datetime.now().isoformat(timespec="seconds"),
    }
    path = tmp_path_factory.mktemp("model") / "final_model.pt"
    save_atomic(payload, path)
    return path


def edited(good_file: Path, tmp_path: Path, **changes: Any) -> Path:
    """good_file with ``changes`` applied through torch.load/torch.save only."""
    payload = torch.load(good_file, map_location="cpu", weights_only=True)
    for key, value in changes.items():
        if value is DROP:
            del payload[key]
        else:
            payload[key] = value
    path = tmp_path / "edited.pt"
    torch.save(payload, path)
    return path


def test_the_engine_shaped_file_loads_and_predicts(good_file, tmp_path):
    predictor = Predictor(read_model_file(good_file))
    image = tmp_path / "x.png"
    Image.new("RGB", (40, 30), (200, 30, 30)).save(image)
    prediction = predictor.predict_path(image)
    assert prediction.ok and list(prediction.probabilities) == LABELS
    assert all(0.0 <= p <= 1.0 for p in prediction.probabilities.values())
    assert predictor.thresholds == [0.5, 0.25, 1.0]


def test_unknown_extra_fields_and_optional_gaps_are_accepted(good_file, tmp_path):
    path = edited(
        good_file, tmp_path, split={"train": ["a.png"]}, effective_config={"x": 1},
        thresholds=DROP, config=DROP, rng=DROP, history=DROP, kind=DROP, labels=("a", "b", "c"),
        test_metrics={"exact_match": 0.5}, best_score=0.25,
    )
    contents = read_model_file(path)
    assert contents.split == {"train": ["a.png"]} and contents.other_fields == {"effective_config": {"x": 1}}
    assert contents.labels == ("a", "b", "c") and contents.thresholds is None and contents.kind == ""


def test_config_fields_of_a_newer_version_are_ignored_not_refused(good_file, tmp_path):
    payload = torch.load(good_file, weights_only=True)
    path = edited(good_file, tmp_path, config={**payload["config"], "a_newer_field": 1})
    assert read_model_file(path).config["a_newer_field"] == 1


def test_renamed_config_fields_are_read_under_their_present_names(good_file, tmp_path):
    payload = torch.load(good_file, weights_only=True)
    config = {key: value for key, value in payload["config"].items()
              if key not in ("final_model_name", "checkpoint_name")}
    path = edited(good_file, tmp_path, config={**config, "save_model_dir": "m.pt", "checkpoint_dir": "best.pt"})
    contents = read_model_file(path)
    assert contents.config["final_model_name"] == "m.pt" and contents.checkpoint_name == "best.pt"
    assert "save_model_dir" not in contents.config and "checkpoint_dir" not in contents.config


BAD_FIELDS = [
    # field, value, (words the message must contain)
    ("image_size", 100000, ("image_size", "[16, 1024]")),
    ("image_size", 0, ("image_size",)),
    ("image_size", "224", ("image_size",)),
    ("image_size", True, ("image_size",)),
    ("std", [0.0, 0.0, 0.0], ("std", "above 0")),
    ("std", [0.2, 0.2], ("std",)),
    ("std", [0.2, math.inf, 0.2], ("std",)),
    ("mean", [math.nan, 0.5, 0.5], ("mean",)),
    ("mean", "abc", ("mean",)),
    ("threshold", 1.5, ("threshold",)),
    ("threshold", math.nan, ("threshold",)),
    ("threshold", "0.5", ("threshold",)),
    ("thresholds", [0.5, 2.0, 0.5], ("thresholds", "[0, 1]")),
    ("thresholds", [-0.1, 0.5, 0.5], ("thresholds",)),
    ("thresholds", [math.nan, 0.5, 0.5], ("thresholds",)),
    ("thresholds", [0.5, 0.5], ("thresholds", "per label")),  # fewer than labels
    ("thresholds", [0.5] * 4, ("thresholds",)),
    ("thresholds", "0.5", ("thresholds",)),
    ("labels", ["cat", "cat", "dog"], ("labels", "unique")),
    ("labels", "abc", ("labels",)),  # a str would read as three labels
    ("labels", [], ("labels",)),
    ("labels", ["cat", "", "dog"], ("labels",)),
    ("labels", ["cat", 7, "dog"], ("labels",)),
    ("labels", ["cat", "../../x", "dog"], ("labels",)),
    ("labels", ["cat", ".hidden", "dog"], ("labels",)),
    ("labels", ["cat", "x" * 300, "dog"], ("labels", "characters long")),
    ("labels", ["cat", "a\x1bb", "dog"], ("labels", "control character")),
    ("labels", ["cat", "dog", "bird", "fish"], ("labels", "outputs")),  # head has 3
    ("arch", "vgg16", ("arch",)),
    ("arch", 5, ("arch",)),
    ("kind", "evil", ("kind",)),
    ("model_state", [torch.ones(1)], ("model_state",)),
    ("model_state", {"fc.weight": [1.0, 2.0]}, ("model_state",)),
    ("model_state", {"classifier.3.bias": torch.ones(3)}, ("model_state", "classifier")),
    ("config", {"image_size": 0}, ("config", "image_size")),
    ("config", {"image_size": 0}, ("config", "image_size")),
    ("config", "resnet18", ("config",)),
    ("optimizer_state", [1, 2], ("optimizer_state",)),
    ("scheduler_state", 3, ("scheduler_state",)),
    ("epoch", -1, ("epoch",)),
    ("epoch", 1.5, ("epoch",)),
    ("best_epoch", "3", ("best_epoch",)),
    ("epochs_without_improvement", True, ("epochs_without_improvement",)),
    ("global_step", -5, ("global_step",)),
    ("partial_epoch", None, ("partial_epoch",)),
    ("best_score", "high", ("best_score",)),
    ("best_score", -math.inf, ("best_score",)),
    ("history", {"epoch": 1}, ("history",)),
    ("history", [1, 2], ("history",)),
    ("rng", {"torch": [1, 2, 3]}, ("rng",)),
    ("rng", [torch.ones(1)], ("rng",)),
    ("test_metrics", "good", ("test_metrics",)),
    ("saved_at", 20240101, ("saved_at",)),
    ("optimizer_name", 3, ("optimizer_name",)),
    ("run_id", None, ("run_id",)),
    ("split", ["a.png"], ("split",)),
    ("test_held_out", "yes", ("test_held_out",)),
    ("raw_model_state", {"fc.weight": 1.0}, ("raw_model_state", "tensor")),
    ("ema_state", [torch.ones(1)], ("ema_state",)),
    ("format_version", True, ("format_version",)),
    ("format_version", 0, ("format_version",)),
    ("format_version", 99, ("newer",)),
    ("labels", DROP, ("labels", "incomplete")),
    ("model_state", DROP, ("model_state",)),
]


@pytest.mark.parametrize(
    ("field", "value", "words"), BAD_FIELDS,
    ids=[f"{f}={'DROP' if v is DROP else repr(v)[:30]}" for f, v, _ in BAD_FIELDS],
)
def test_bad_field_is_refused_in_one_line(good_file, tmp_path, field, value, words):
    path = edited(good_file, tmp_path, **{field: value})
    with pytest.raises(CheckpointError) as info:
        read_model_file(path)
    message = str(info.value)
    assert str(path) in message
    for word in words:
        assert word in message
    assert "\n" not in message and len(message) < 600


def test_a_huge_forged_value_is_not_echoed_in_full(good_file, tmp_path):
    path = edited(good_file, tmp_path, image_size="9" * 100_000)
    with pytest.raises(CheckpointError, match="image_size") as info:
        read_model_file(path)
    assert len(str(info.value)) < 600


def test_predictor_never_builds_a_model_for_a_forged_label_count(good_file, tmp_path, monkeypatch):
    """A million forged labels would build a multi-GB classifier before the
    weights are compared; the file must be refused before any model is built."""
    path = edited(good_file, tmp_path, labels=[f"l{i}" for i in range(1000)])

    def must_not_build(*args, **kwargs):
        raise AssertionError("a model was built for a refused file")

    monkeypatch.setattr(models, "build_model", must_not_build)
    with pytest.raises(CheckpointError, match="1000 labels, but the classifier"):
        Predictor.from_file(path)
