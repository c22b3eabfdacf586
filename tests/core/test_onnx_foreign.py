"""Model files that are not what the command reads are refused in one line when
opened (issue 21, items 9 and 12): an .onnx file whose metadata does not fit its
graph, a foreign .onnx graph, and a valid TorchScript export.

The ONNX graphs are built with onnx.helper: uint8 images → mean colour →
one linear layer → sigmoid, with the contract's names unless a case changes them."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper
from PIL import Image

from mlcls_gui.cli import main
from mlcls_gui.core.data.imagenet import IMAGENET_MEAN, IMAGENET_STD
from mlcls_gui.core.errors import CheckpointError
from mlcls_gui.core.inference.export import export_model
from mlcls_gui.core.inference.onnx_model import EXPORT_FORMAT, metadata_to_props
from mlcls_gui.core.inference.predict import OnnxPredictor, Predictor
from mlcls_gui.core.model_file.read_errors import is_torchscript_archive
from mlcls_gui.core.ops.evaluate import evaluate_model_file

SIZE = 32
OUTPUTS = 4
BATCH = "batch"


def metadata(labels: int = OUTPUTS, **changes: Any) -> dict[str, Any]:
    base = {
        "format": EXPORT_FORMAT, "labels": [f"l{i}" for i in range(labels)], "image_size": SIZE,
        "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD), "threshold": 0.5, "arch": "tiny_cnn",
        "config": {"seed": 7, "val_fraction": 0.2, "test_fraction": 0.2, "fast_decode": True},
    }
    base.update(changes)
    return base


def onnx_file(path: Path, *, props: dict[str, str] | None = None, input_name: str = "images",
              input_type: int = TensorProto.UINT8, input_shape: list | None = None,
              output_name: str = "probabilities", output_type: int = TensorProto.FLOAT,
              output_shape: list | None = None, four_d: bool = False, open_axis: bool = False,
              reshape_to: int = 0) -> Path:
    """A small graph giving OUTPUTS probabilities per image. ``open_axis``: their
    count is known only when it runs; ``reshape_to``: a Reshape to [-1, n]
    instead, which fails at run time unless n divides 3·SIZE²."""
    value = helper.make_tensor_value_info
    weights = helper.make_tensor("w", TensorProto.FLOAT, [3, OUTPUTS],
                                 np.linspace(-0.02, 0.02, 3 * OUTPUTS, dtype=np.float32).tolist())
    last = "probs" if four_d or output_type != TensorProto.FLOAT else output_name
    nodes = [helper.make_node("Cast", [input_name], ["x"], to=TensorProto.FLOAT)]
    if reshape_to:
        shape = helper.make_tensor("shape", TensorProto.INT64, [2], [-1, reshape_to])
        nodes += [helper.make_node("Reshape", ["x", "shape"], ["flat"]),
                  helper.make_node("Sigmoid", ["flat"], [last])]
        initializers = [shape]
    else:
        nodes += [helper.make_node("GlobalAveragePool", ["x"], ["pooled"]),
                  helper.make_node("Flatten", ["pooled"], ["flat"]),
                  helper.make_node("MatMul", ["flat", "w"], ["scores"])]
        initializers = [weights]
        if open_axis:  # Compress keeps all four, but shape inference cannot know how many
            keep = helper.make_tensor("keep", TensorProto.BOOL, [OUTPUTS], [True] * OUTPUTS)
            nodes.append(helper.make_node("Compress", ["scores", "keep"], ["kept"], axis=1))
            initializers.append(keep)
        nodes.append(helper.make_node("Sigmoid", ["kept" if open_axis else "scores"], [last]))
    if four_d:
        axes = helper.make_tensor("axes", TensorProto.INT64, [2], [2, 3])
        nodes.append(helper.make_node("Unsqueeze", [last, "axes"], [output_name]))
        initializers.append(axes)
    elif output_type != TensorProto.FLOAT:
        nodes.append(helper.make_node("Cast", [last], [output_name], to=output_type))
    graph = helper.make_graph(
        nodes, "g", [value(input_name, input_type, input_shape or [BATCH, 3, SIZE, SIZE])],
        [value(output_name, output_type, output_shape)], initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9  # what the installed onnxruntime reads, whatever onnx writes by default
    for key, text in (metadata_to_props(metadata()) if props is None else props).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, text
    onnx.save(model, str(path))
    return path


@pytest.fixture()
def image(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    Image.new("RGB", (40, 30), (200, 30, 30)).save(path)
    return path


def refusal(path: Path) -> str:
    """The one-line message Predictor.from_file refuses ``path`` with."""
    with pytest.raises(CheckpointError) as info:
        Predictor.from_file(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message and len(message) < 600, message
    return message


def cli_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """main(argv) must exit 2 with one line on stderr; that line."""
    assert main(list(argv)) == 2
    error = capsys.readouterr().err
    assert error.startswith("mlcls-gui: error: ") and error.count("\n") == 1, error
    return error


# ------------------------------------------------------ graphs that do fit
@pytest.mark.parametrize(("output_shape", "open_axis"),
                         [([BATCH, OUTPUTS], False), ([BATCH, "labels"], True), (None, True)],
                         ids=["declared", "open label axis", "no shape"])
def test_a_graph_that_fits_its_metadata_predicts_every_label(
        tmp_path: Path, image: Path, output_shape, open_axis: bool):
    path = onnx_file(tmp_path / "m.onnx", output_shape=output_shape, open_axis=open_axis)
    prediction = Predictor.from_file(path).predict_path(image)
    assert prediction.ok and list(prediction.probabilities) == [f"l{i}" for i in range(OUTPUTS)]
    assert all(0.0 < p < 1.0 for p in prediction.probabilities.values())
    assert len(set(prediction.probabilities.values())) == OUTPUTS  # the weights tell the labels apart


# ------------------------------------------------ label count vs outputs
@pytest.mark.parametrize(("labels", "output_shape", "open_axis", "found"), [
    (2, [BATCH, OUTPUTS], False, "4 probabilities per image"),  # was: silently wrong probabilities
    (8, [BATCH, OUTPUTS], False, "4 probabilities per image"),  # was: labels dropped
    (8, None, False, "4 probabilities per image"),  # onnxruntime infers what the file leaves out
    (2, [BATCH, "labels"], True, "an output of shape [1, 4] for 1 image(s)"),  # only a run can tell
    (8, None, True, "an output of shape [1, 4] for 1 image(s)"),
], ids=["2 on 4", "8 on 4", "8 on 4, inferred", "2 on 4, open axis", "8 on 4, no shape"])
def test_a_label_count_that_differs_from_the_outputs_is_refused_at_open(
        tmp_path: Path, labels: int, output_shape, open_axis: bool, found: str):
    path = onnx_file(tmp_path / "m.onnx", props=metadata_to_props(metadata(labels)),
                     output_shape=output_shape, open_axis=open_axis)
    message = refusal(path)
    assert f"lists {labels} labels in its metadata but its graph gives {found}" in message
    assert "Export the .pt model again" in message


def test_evaluate_refuses_8_labels_on_4_outputs_before_predicting(
        tmp_path: Path, tiny_root: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    path = onnx_file(tmp_path / "m.onnx", props=metadata_to_props(metadata(8)))

    def must_not_predict(*args: object, **kwargs: object) -> None:
        raise AssertionError("an image was predicted with a refused model")

    monkeypatch.setattr(OnnxPredictor, "predict_paths", must_not_predict)
    with pytest.raises(CheckpointError, match="lists 8 labels"):  # was: KeyError
        evaluate_model_file(path, tiny_root)
    assert str(path) in cli_error(capsys, "evaluate", str(path), str(tiny_root))


# ---------------------------------------------------------- foreign graphs
FOREIGN = [
    # onnx_file arguments, words the message must hold
    (dict(input_name="input"), "takes the input(s) 'input', not one input 'images'"),
    (dict(input_type=TensorProto.FLOAT), "'images' is a tensor(float), not a tensor(uint8)"),
    (dict(input_shape=[BATCH, 3, 64, 64]), "'images' has the shape [?, 3, 64, 64]"),
    (dict(input_shape=[1, 3, SIZE, SIZE]), "'images' takes exactly 1 image(s) at a time"),
    (dict(four_d=True), "'probabilities' has the shape [?, 4, 1, 1]"),
    (dict(output_name="logits"), "no output 'probabilities' (its outputs: 'logits')"),
    (dict(output_type=TensorProto.DOUBLE), "'probabilities' is a tensor(double), not a tensor(float)"),
]


@pytest.mark.parametrize(("arguments", "words"), FOREIGN, ids=[w.split("'")[1] + ":" + w[-22:] for _, w in FOREIGN])
def test_a_graph_off_the_contract_is_refused_at_open(tmp_path: Path, arguments: dict, words: str):
    message = refusal(onnx_file(tmp_path / "m.onnx", **arguments))
    assert "does not fit the mlcls-gui export contract" in message and words in message


def test_a_graph_that_fails_to_run_is_a_one_line_error_not_a_traceback(tmp_path: Path, image: Path):
    # 3·32·32 values do not split into rows of 5: onnxruntime fails at run time only.
    path = onnx_file(tmp_path / "m.onnx", props=metadata_to_props(metadata(5)),
                     output_shape=[BATCH, 5], reshape_to=5)
    predictor = Predictor.from_file(path)  # everything it declares fits
    with pytest.raises(CheckpointError) as info:
        predictor.predict_path(image)
    message = str(info.value)
    assert message.startswith(f"{path} does not fit the mlcls-gui export contract: it fails to run on 1 image(s) (")
    assert "\n" not in message


def test_the_cli_names_a_foreign_graph_in_one_line(tmp_path: Path, image: Path, capsys):
    path = onnx_file(tmp_path / "m.onnx", input_name="pixel_values")
    error = cli_error(capsys, "predict", str(path), str(image))
    assert str(path) in error and "'pixel_values'" in error


# ------------------------------------------------------------------ metadata
@pytest.mark.parametrize(("config", "words"), [
    ({"seed": "abc"}, "seed"),
    ({"val_fraction": "x"}, "val_fraction"),
    ({"test_fraction": 2}, "test_fraction"),
    ({"fast_decode": "yes"}, "fast_decode"),
    ([1, 2], "config: expected a dict"),
])
def test_a_bad_config_value_in_the_metadata_is_refused_at_open(
        tmp_path: Path, tiny_root: Path, config: Any, words: str):
    path = onnx_file(tmp_path / "m.onnx", props=metadata_to_props(metadata(config=config)))
    message = refusal(path)
    assert message.startswith(f"{path} is not a usable model file: ") and words in message
    with pytest.raises(CheckpointError, match="is not a usable model file"):  # was: ValueError in evaluate
        evaluate_model_file(path, tiny_root, split="test")


def test_metadata_that_is_not_json_is_refused(tmp_path: Path):
    props = {**metadata_to_props(metadata()), "config": "{seed: 7"}
    message = refusal(onnx_file(tmp_path / "m.onnx", props=props))
    assert "metadata field config is not valid JSON" in message


# ---------------------------------------------------------------- TorchScript
class Doubler(torch.nn.Module):
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images.float() * 2


@pytest.fixture()
def torchscript_file(tmp_path: Path) -> Path:
    """A valid TorchScript archive as export writes one (an extra file with metadata)."""
    path = tmp_path / "final_model.torchscript.pt"
    torch.jit.save(torch.jit.script(Doubler()), str(path), _extra_files={"mlcls.json": json.dumps(metadata())})
    return path


def test_a_torchscript_export_is_named_as_such_not_called_damaged(
        torchscript_file: Path, tiny_root: Path, image: Path, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch.load's "looks like a TorchScript archive" is never reached
        message = refusal(torchscript_file)
    assert "is a TorchScript export, which cannot be read here" in message
    assert "give the .pt model file it was exported from, or its .onnx export" in message
    assert "damaged" not in message
    for argv in (["evaluate", str(torchscript_file), str(tiny_root)], ["predict", str(torchscript_file), str(image)],
                 ["export", str(torchscript_file)]):
        assert f"{torchscript_file} is a TorchScript export" in cli_error(capsys, *argv)
    with pytest.raises(CheckpointError, match="is a TorchScript export"):
        evaluate_model_file(torchscript_file, tiny_root)
    with pytest.raises(CheckpointError, match="is a TorchScript export"):
        export_model(torchscript_file, "onnx")
    assert sorted(p.name for p in torchscript_file.parent.iterdir()) == [torchscript_file.name, image.name]


def test_only_torchscript_archives_are_taken_for_one(tmp_path: Path, torchscript_file: Path):
    plain = tmp_path / "weights.pt"
    torch.save({"model_state": {"w": torch.ones(2)}}, plain)  # torch.save: a zip too, without code/
    text = tmp_path / "notes.pt"
    text.write_text("not a model")
    assert is_torchscript_archive(torchscript_file)
    assert not any(is_torchscript_archive(p) for p in (plain, text, tmp_path / "missing.pt", tmp_path))
