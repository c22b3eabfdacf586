"""Export to ONNX and TorchScript: the file works alone and matches PyTorch."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from PIL import Image

from mlcls_gui.cli import main
from mlcls_gui.core.config import TrainConfig
from mlcls_gui.core.data.dataset import scan_data_root
from mlcls_gui.core.data.imagenet import IMAGENET_MEAN, IMAGENET_STD
from mlcls_gui.core.errors import CheckpointError
from mlcls_gui.core.inference.export import TOLERANCE, ExportError, export_model
from mlcls_gui.core.inference.onnx_model import TORCHSCRIPT_METADATA
from mlcls_gui.core.inference.predict import Predictor
from mlcls_gui.core.model_file.checkpoint import save_atomic
from mlcls_gui.core.models import build as models
from mlcls_gui.core.ops.evaluate import evaluate_model_file

README = Path(__file__).resolve().parents[2] / "README.md"
SIZE = 32


def write_model_file(folder: Path, labels: list[str], arch: str = "tiny_cnn") -> Path:
    torch.manual_seed(0)
    model = models.build_model(arch, len(labels), image_size=SIZE)
    with torch.no_grad():  # spread the outputs so that labels land on both sides of their thresholds
        models.head_module(model, arch).bias.copy_(torch.linspace(-1, 1, len(labels)))
    payload = {
        "kind": "model", "arch": arch, "labels": labels, "image_size": SIZE,
        "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD), "threshold": 0.5,
        "thresholds": [round(0.3 + 0.4 * i / max(1, len(labels) - 1), 3) for i in range(len(labels))],
        "config": TrainConfig(arch=arch, image_size=SIZE, pretrained=False, seed=7).to_dict(),
        "model_state": model.state_dict(),
    }
    path = folder / "final_model.pt"
    save_atomic(payload, path)
    return path


@pytest.fixture()
def model_file(tmp_path: Path, tiny_root: Path) -> Path:
    return write_model_file(tmp_path, list(scan_data_root(tiny_root).labels))


def images_of(root: Path, count: int) -> list[str]:
    return sorted(str(p) for p in root.rglob("*.png"))[:count]


# -------------------------------------------------------------------- ONNX
def test_onnx_export_is_self_describing_and_matches_pytorch(model_file: Path):
    result = export_model(model_file, "onnx")
    assert result.path == model_file.with_name("final_model.onnx")
    assert result.max_abs_difference <= TOLERANCE and result.checked_on == "a random batch of 3 images"

    proto = onnx.load(str(result.path))
    assert max(op.version for op in proto.opset_import if op.domain in ("", "ai.onnx")) >= 17
    (graph_input,) = proto.graph.input
    assert graph_input.name == "images"
    assert graph_input.type.tensor_type.elem_type == onnx.TensorProto.UINT8
    batch, *rest = graph_input.type.tensor_type.shape.dim
    assert batch.dim_param and [d.dim_value for d in rest] == [3, SIZE, SIZE]  # any batch size
    assert [o.name for o in proto.graph.output] == ["probabilities"]

    meta = {p.key: p.value for p in proto.metadata_props}
    predictor = Predictor.from_file(model_file)
    assert json.loads(meta["labels"]) == predictor.labels
    assert json.loads(meta["thresholds"]) == predictor.thresholds
    assert json.loads(meta["image_size"]) == SIZE
    assert json.loads(meta["mean"]) == pytest.approx(IMAGENET_MEAN)
    assert json.loads(meta["std"]) == pytest.approx(IMAGENET_STD)
    assert meta["arch"] == "tiny_cnn" and meta["mlcls_gui_version"] and "bilinear" in meta["resize"]
    assert json.loads(meta["config"]) == {"seed": 7, "val_fraction": 0.15, "test_fraction": 0.15,
                                          "fast_decode": True}  # split settings, never paths

    sidecar = json.loads(result.sidecar.read_text(encoding="utf-8"))
    assert result.sidecar == result.path.with_name("final_model.onnx.json")
    assert sidecar["labels"] == predictor.labels and sidecar["parity_max_abs_difference"] <= TOLERANCE


def test_the_onnx_file_predicts_and_evaluates_like_the_pt(model_file: Path, tiny_root: Path):
    check = images_of(tiny_root, 5)
    result = export_model(model_file, "onnx", model_file.with_name("m.onnx"), check)
    assert result.checked_on == "5 check images"
    images = images_of(tiny_root, 12)
    from_pt = Predictor.from_file(model_file).predict_paths(images)
    from_onnx = Predictor.from_file(result.path).predict_paths(images)
    assert any(0 < len(p.predicted) < len(p.probabilities) for p in from_pt)  # thresholds matter
    for a, b in zip(from_pt, from_onnx):
        assert a.predicted == b.predicted
        assert max(abs(a.probabilities[k] - b.probabilities[k]) for k in a.probabilities) <= TOLERANCE

    pt_report = evaluate_model_file(model_file, tiny_root, split="test")
    onnx_report = evaluate_model_file(result.path, tiny_root, split="test")  # the model's own split
    assert len(onnx_report.images) == len(pt_report.images) > 0
    assert np.abs(onnx_report.probabilities() - pt_report.probabilities()).max() <= TOLERANCE
    assert onnx_report.at_thresholds.exact_match == pt_report.at_thresholds.exact_match


def test_a_vit_exports_with_parity(tmp_path: Path):
    # timm's own tiny test ViT (0.3 M weights): the same graph as vit_tiny, exported faster.
    model_file = write_model_file(tmp_path, ["a", "b"], arch="timm:test_vit")
    result = export_model(model_file, "onnx")
    assert result.max_abs_difference <= TOLERANCE


# ------------------------------------------------------------- TorchScript
@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
def test_torchscript_export_runs_alone_and_carries_its_metadata(model_file: Path, tiny_root: Path):
    check = images_of(tiny_root, 4)
    result = export_model(model_file, "torchscript", check_images=check)
    assert result.path.name == "final_model.torchscript.pt" and result.checked_on == "4 check images"
    extra = {TORCHSCRIPT_METADATA: ""}
    module = torch.jit.load(str(result.path), _extra_files=extra)
    meta = json.loads(extra[TORCHSCRIPT_METADATA])
    predictor = Predictor.from_file(model_file)
    assert meta["labels"] == predictor.labels and meta["image_size"] == SIZE
    images = torch.stack([predictor.load_image(p) for p in check])
    with torch.no_grad():
        assert (module(images) - predictor.probabilities(images)).abs().max() <= TOLERANCE


# ---------------------------------------------------------------- refusals
def test_a_failed_parity_check_leaves_no_file_behind(model_file: Path):
    with pytest.raises(ExportError, match=r"does not match PyTorch: .* nothing was written"):
        export_model(model_file, "onnx", tolerance=-1.0)  # every difference is too large
    assert sorted(p.name for p in model_file.parent.iterdir()) == ["final_model.pt"]


def test_bad_requests_are_one_line_errors(model_file: Path, tmp_path: Path):
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    cases = [
        (dict(format="tflite"), "Unknown export format 'tflite'"),
        (dict(check_images=[str(text)]), f"Cannot use {text} as a check image"),
        (dict(out=tmp_path / "missing" / "m.onnx"), "does not exist"),
        (dict(out=tmp_path), "it is a folder"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ExportError) as info:
            export_model(model_file, **kwargs)
        assert message in str(info.value) and "\n" not in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["final_model.pt", "notes.txt"]


def test_an_onnx_file_not_from_mlcls_gui_or_damaged_is_refused(tmp_path: Path):
    node = onnx.helper.make_node("Identity", ["images"], ["probabilities"])
    value = onnx.helper.make_tensor_value_info
    graph = onnx.helper.make_graph([node], "g", [value("images", onnx.TensorProto.FLOAT, [1])],
                                   [value("probabilities", onnx.TensorProto.FLOAT, [1])])
    foreign = tmp_path / "foreign.onnx"
    onnx.save(onnx.helper.make_model(graph), str(foreign))
    with pytest.raises(CheckpointError, match="not an ONNX file exported by mlcls-gui"):
        Predictor.from_file(foreign)
    damaged = tmp_path / "damaged.onnx"
    damaged.write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match="not a readable ONNX model"):
        Predictor.from_file(damaged)


# ---------------------------------------------------------------------- CLI
def test_cli_export_prints_the_files_and_the_parity_figure(model_file: Path, tiny_root: Path, capsys):
    out = model_file.with_name("exported.onnx")
    assert main(["export", str(model_file), "--format", "onnx", "--out", str(out),
                 "--check", *images_of(tiny_root, 2)]) == 0
    printed = capsys.readouterr().out
    assert f"Wrote {out}" in printed and f"Wrote {out}.json" in printed
    assert re.search(r"max abs difference \d\.\d\de-\d+ on 2 check images", printed)

    assert main(["predict", str(out), *images_of(tiny_root, 1), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["labels"] == Predictor.from_file(model_file).labels

    assert main(["export", str(model_file), "--check", str(tiny_root / "nope.png")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("mlcls-gui: error: Cannot use") and error.count("\n") == 1


# ------------------------------------------------------------------ README
def readme_example() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Export"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_example_runs_without_torch_and_gives_the_same_probabilities(
        model_file: Path, tiny_root: Path):
    export_model(model_file, "onnx")
    photo = model_file.with_name("photo.jpg")
    Image.open(images_of(tiny_root, 1)[0]).resize((40, 40)).save(photo, quality=95)
    code = readme_example()
    assert '"final_model.onnx"' in code and '"photo.jpg"' in code
    runner = (
        "import sys, json\n"
        "sys.modules['torch'] = None; sys.modules['mlcls_gui'] = None  # importing either fails\n"
        f"exec(compile({code!r}, 'README', 'exec'))\n"
        "print('RESULT', json.dumps([float(p) for p in probabilities]))\n"
    )
    done = subprocess.run([sys.executable, "-c", runner], cwd=model_file.parent,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    printed = done.stdout.splitlines()
    probabilities = json.loads(printed[-1].removeprefix("RESULT "))
    expected = Predictor.from_file(model_file).predict_path(photo)
    assert probabilities == pytest.approx(list(expected.probabilities.values()), abs=TOLERANCE)
    marked = [line.split()[0] for line in printed[:-1] if "<- predicted" in line]
    assert marked == list(expected.predicted)
