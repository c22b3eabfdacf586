"""``mlcls-gui explain``: the overlay PNG and the raw heatmap at the image's own
size, and one clear line for each user mistake."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import tiny_config
from PIL import Image

from mlcls_gui.cli import main

LABELS = ["circle", "cross", "square", "triangle"]


@pytest.fixture(scope="module")
def tiny_model(tiny_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mlcls_gui.core.training.engine import Trainer

    output = tmp_path_factory.mktemp("explain-model")
    result = Trainer(tiny_config(tiny_root, output, arch="tiny_cnn", n_epochs=1)).run()
    return Path(result.final_model_path)


@pytest.fixture
def wide_image(tiny_root: Path, tmp_path: Path) -> Path:
    """A demo image stretched to 2:1 (96×48)."""
    path = tmp_path / "wide.png"
    source = sorted((tiny_root / "circle+square").iterdir())[0]
    Image.open(source).convert("RGB").resize((96, 48)).save(path)
    return path


def test_writes_the_overlay_and_the_raw_map_at_the_image_size(
        tiny_model: Path, wide_image: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, raw = tmp_path / "heat.png", tmp_path / "heat.npy"
    assert main(["explain", str(tiny_model), str(wide_image), "--label", "square",
                 "--out", str(out), "--raw", str(raw)]) == 0
    printed = capsys.readouterr().out
    assert "square: probability" in printed and str(out) in printed
    overlay = Image.open(out)
    assert overlay.format == "PNG" and overlay.size == (96, 48)
    heatmap = np.load(raw)
    assert heatmap.shape == (48, 96) and heatmap.dtype == np.float32
    assert 0.0 <= heatmap.min() and heatmap.max() <= 1.0
    original = np.asarray(Image.open(wide_image).convert("RGB"), dtype=np.int16)
    assert np.abs(np.asarray(overlay.convert("RGB"), dtype=np.int16) - original).max() > 20


def test_without_a_label_the_most_confident_one_is_explained(
        tiny_model: Path, wide_image: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mlcls_gui.core.inference.predict import Predictor

    predictor = Predictor.from_file(tiny_model)
    probabilities = predictor.predict_path(wide_image).probabilities
    best = max(probabilities, key=probabilities.__getitem__)
    assert main(["explain", str(tiny_model), str(wide_image), "--raw", str(tmp_path / "h.npy")]) == 0
    assert f"{best}: probability {probabilities[best]:.3f}" in capsys.readouterr().out


def user_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("mlcls-gui: error:") and "Traceback" not in err and "\n" not in err
    return err


def test_an_unknown_label_lists_the_models_labels(
        tiny_model: Path, wide_image: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = user_error(["explain", str(tiny_model), str(wide_image), "--label", "dog",
                      "--out", str(tmp_path / "h.png")], capsys)
    assert "no label 'dog'" in err and ", ".join(LABELS) in err
    assert not (tmp_path / "h.png").exists()


def test_an_unreadable_image_is_named(tiny_model: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not a whole jpeg")
    err = user_error(["explain", str(tiny_model), str(broken), "--label", "circle",
                      "--out", str(tmp_path / "h.png")], capsys)
    assert f"Cannot read the image {broken}" in err
    err = user_error(["explain", str(tiny_model), str(tmp_path / "missing.png"), "--label", "circle",
                      "--out", str(tmp_path / "h.png")], capsys)
    assert "missing.png" in err


@pytest.mark.parametrize("option, name", [("--out", "h.png"), ("--raw", "h.npy")])
def test_an_output_in_a_missing_folder_is_refused_before_any_work(
        option: str, name: str, tiny_model: Path, wide_image: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "no" / "such" / name
    err = user_error(["explain", str(tiny_model), str(wide_image), "--label", "circle",
                      option, str(target)], capsys)
    assert f"the folder {target.parent} does not exist" in err


@pytest.mark.parametrize("extra, words", [
    ([], "Nothing to write"),
    (["--out", "heat.jpg"], "ending in .png"),
    (["--raw", "heat.txt"], "ending in .npy"),
    (["--out", "heat.png", "--alpha", "2"], "--alpha 2.0"),
])
def test_bad_options_say_what_to_give(extra: list[str], words: str, tiny_model: Path, wide_image: Path,
                                      tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    err = user_error(["explain", str(tiny_model), str(wide_image), *extra], capsys)
    assert words in err


def test_an_exported_onnx_model_is_refused_with_what_to_use(
        tiny_model: Path, wide_image: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from mlcls_gui.core.inference.export import export_model

    onnx_file = export_model(tiny_model, "onnx", out=tmp_path / "model.onnx").path
    err = user_error(["explain", str(onnx_file), str(wide_image), "--label", "circle",
                      "--out", str(tmp_path / "h.png")], capsys)
    assert "need the PyTorch model file (.pt)" in err and "exported from" in err
