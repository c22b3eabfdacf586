"""predict --json reports the thresholds that decided "predicted", per label."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from mlcls_gui.cli import main
from mlcls_gui.core.config import TrainConfig
from mlcls_gui.core.data.imagenet import IMAGENET_MEAN, IMAGENET_STD
from mlcls_gui.core.model_file.checkpoint import save_atomic
from mlcls_gui.core.models import build as models

LABELS = ["a", "b", "c", "d"]
# The head's weights are zero, so every image gets sigmoid(bias): 0.12, 0.45, 0.55, 0.88.
BIAS = [-2.0, -0.2, 0.2, 2.0]
STORED = [0.1, 0.4, 0.6, 0.9]  # per label: predicts a and b, where 0.5 for all would predict c and d


@pytest.fixture()
def model_and_image(tmp_path: Path) -> tuple[Path, Path]:
    model = models.build_model("tiny_cnn", len(LABELS), image_size=32)
    with torch.no_grad():
        head = models.head_module(model, "tiny_cnn")
        head.weight.zero_()
        head.bias.copy_(torch.tensor(BIAS))
    payload = {
        "kind": "model", "arch": "tiny_cnn", "labels": LABELS, "image_size": 32,
        "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD), "threshold": 0.5, "thresholds": STORED,
        "config": TrainConfig(arch="tiny_cnn", image_size=32, pretrained=False).to_dict(),
        "model_state": model.state_dict(),
    }
    path = tmp_path / "final_model.pt"
    save_atomic(payload, path)
    image = tmp_path / "x.png"
    Image.new("RGB", (40, 40), (200, 30, 90)).save(image)
    return path, image


def test_json_reports_the_models_per_label_thresholds(model_and_image, capsys) -> None:
    model, image = model_and_image
    assert main(["predict", str(model), str(image), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["thresholds"] == dict(zip(LABELS, STORED))
    assert result["thresholds_from"] == "model"
    assert "threshold" not in result  # one number would misstate what decided "predicted"
    (prediction,) = result["predictions"]
    assert prediction["predicted"] == ["a", "b"]
    assert prediction["predicted"] == [label for label in LABELS
                                       if prediction["probabilities"][label] >= result["thresholds"][label]]


def test_json_reports_the_threshold_given_for_every_label(model_and_image, capsys) -> None:
    model, image = model_and_image
    assert main(["predict", str(model), str(image), "--json", "--threshold", "0.5"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["thresholds"] == dict.fromkeys(LABELS, 0.5)
    assert result["thresholds_from"] == "--threshold"
    assert result["predictions"][0]["predicted"] == ["c", "d"]
