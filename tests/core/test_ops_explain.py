"""core.ops.explain: one image → label, probability, Grad-CAM map and overlay, the
arithmetic that ``mlcls-gui explain`` and the window's saliency overlays share
(tests/gui/test_saliency_overlay.py checks the window's side)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import tiny_config
from PIL import Image

from mlcls_gui.cli import main
from mlcls_gui.core.errors import ConfigError
from mlcls_gui.core.inference.heatmap import blend_heatmap
from mlcls_gui.core.inference.predict import Predictor
from mlcls_gui.core.inference.saliency import saliency_map
from mlcls_gui.core.ops.explain import explain, label_probabilities, overlay, square_tensor


@pytest.fixture(scope="module")
def predictor(model_path: Path) -> Predictor:
    return Predictor.from_file(model_path)


@pytest.fixture(scope="module")
def model_path(tiny_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mlcls_gui.core.training.engine import Trainer

    output = tmp_path_factory.mktemp("ops-explain")
    return Path(Trainer(tiny_config(tiny_root, output, n_epochs=1)).run().final_model_path)


@pytest.fixture
def wide(tiny_root: Path, tmp_path: Path) -> Path:
    path = tmp_path / "wide.png"
    source = sorted((tiny_root / "circle+square").iterdir())[0]
    Image.open(source).convert("RGB").resize((96, 48)).save(path)
    return path


def test_the_default_label_is_the_most_probable_and_its_map_is_grad_cam(predictor: Predictor, wide: Path) -> None:
    image = Image.open(wide).convert("RGB")
    explanation = explain(predictor, image)
    row = predictor.probabilities(square_tensor(image, predictor.image_size))[0].tolist()
    assert explanation.label == predictor.labels[int(np.argmax(row))]
    assert explanation.probability == pytest.approx(max(row))
    assert label_probabilities(predictor, image) == dict(zip(predictor.labels, row))
    assert np.array_equal(explanation.heatmap, saliency_map(predictor, image, explanation.label))
    assert explanation.heatmap.shape == (48, 96) and explanation.picture is image


def test_a_thumbnail_size_scales_the_map_and_the_picture(predictor: Predictor, wide: Path) -> None:
    image = Image.open(wide).convert("RGB")
    explanation = explain(predictor, image, "square", size=(32, 16), with_probability=False)
    assert explanation.label == "square" and explanation.probability is None
    assert explanation.heatmap.shape == (16, 32) and explanation.picture.size == (32, 16)
    assert np.array_equal(explanation.heatmap, saliency_map(predictor, image, "square", size=(32, 16)))
    expected = blend_heatmap(image.resize((32, 16), Image.BILINEAR), explanation.heatmap, 0.45)
    assert np.array_equal(np.asarray(overlay(explanation)), np.asarray(expected))


def test_an_unknown_label_names_the_model_labels(predictor: Predictor, wide: Path) -> None:
    with pytest.raises(ConfigError, match="circle"):
        explain(predictor, Image.open(wide).convert("RGB"), "dog")


def test_the_cli_writes_what_explain_computes(predictor: Predictor, model_path: Path, wide: Path,
                                              tmp_path: Path, capsys) -> None:
    out, raw = tmp_path / "o.png", tmp_path / "o.npy"
    assert main(["explain", str(model_path), str(wide), "--out", str(out), "--raw", str(raw),
                 "--alpha", "0.6"]) == 0
    image = Image.open(wide).convert("RGB")
    explanation = explain(predictor, image)
    assert np.array_equal(np.load(raw), explanation.heatmap)
    assert np.array_equal(np.asarray(Image.open(out).convert("RGB")), np.asarray(overlay(explanation, 0.6)))
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"{explanation.label}: probability {explanation.probability:.3f}")
