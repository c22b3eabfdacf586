"""Exported models: the file contract, and running an ``.onnx`` file as a Predictor.

An exported model (``export.py``) is usable alone:

* input ``images``: uint8 ``[batch, 3, image_size, image_size]``, RGB, 0–255,
  the image already resized to ``image_size``² (Pillow bilinear, no crop);
  the graph scales and normalises it itself;
* output ``probabilities``: float32 ``[batch, labels]``, sigmoid applied, in
  the order of ``labels``.

Everything else a user needs travels inside the file (ONNX ``metadata_props``,
TorchScript extra file ``mlcls.json``) and in a ``<file>.json`` beside it.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from .errors import CheckpointError
from .model_file_rules import FieldProblem, check_model_payload
from .predict import Predictor

logger = logging.getLogger(__name__)

EXPORT_FORMAT = "mlcls-gui-export/1"
INPUT_NAME = "images"
OUTPUT_NAME = "probabilities"
TORCHSCRIPT_METADATA = "mlcls.json"
INPUT_CONTRACT = (
    "images: uint8 [batch, 3, image_size, image_size], RGB 0-255; the graph divides by 255 "
    "and normalises with mean/std"
)
OUTPUT_CONTRACT = "probabilities: float32 [batch, labels], sigmoid applied, in the order of labels"
RESIZE_RULE = (
    "EXIF orientation applied, converted to RGB (transparency onto white), resized to "
    "image_size x image_size with Pillow's bilinear filter (no crop, aspect ratio not kept)"
)
# Fields whose values are JSON in ONNX metadata_props (which holds only strings).
_JSON_FIELDS = ("labels", "thresholds", "threshold", "image_size", "mean", "std", "config")
# Settings that evaluation needs to rebuild the model's split; paths are never exported.
SPLIT_SETTINGS = ("seed", "val_fraction", "test_fraction", "fast_decode")


def metadata_to_props(metadata: Mapping[str, Any]) -> dict[str, str]:
    """Plain metadata → ONNX metadata_props (strings; lists and numbers as JSON)."""
    return {key: json.dumps(value) if key in _JSON_FIELDS else str(value) for key, value in metadata.items()}


def props_to_metadata(props: Mapping[str, str], source: str) -> dict[str, Any]:
    """ONNX metadata_props → plain metadata, checked like a model file's fields."""
    if props.get("format") != EXPORT_FORMAT:
        raise CheckpointError(
            f"{source} is not an ONNX file exported by mlcls-gui (no '{EXPORT_FORMAT}' metadata); "
            "export it with mlcls-gui export."
        )
    metadata: dict[str, Any] = dict(props)
    try:
        for key in _JSON_FIELDS:
            if key in props:
                metadata[key] = json.loads(props[key])
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{source}: metadata field {key} is not valid JSON ({exc.msg}).") from None
    missing = [key for key in ("labels", "image_size", "mean", "std") if key not in metadata]
    if missing:
        raise CheckpointError(f"{source} lacks the metadata {', '.join(missing)}; export it again.")
    # The same rules as a .pt file's fields (arch is informational here: checking
    # it would need its family's package, e.g. timm, just to read the name).
    # config too: evaluation rebuilds the split from its seed and fractions.
    fields = {k: metadata[k] for k in ("labels", "image_size", "mean", "std", "threshold", "thresholds",
                                       "config") if k in metadata}
    try:
        check_model_payload(fields)
    except FieldProblem as exc:
        raise CheckpointError(f"{source} is not a usable model file: {exc}") from None
    return metadata


class OnnxPredictor(Predictor):
    """A Predictor over an exported ``.onnx`` file, run with onnxruntime on the CPU.

    The graph is checked against the contract when the file is opened, so a
    file whose metadata does not fit its graph (an edited label list, a foreign
    model) is refused before any image is predicted."""

    def __init__(self, path: str | os.PathLike[str], *, device: str = "cpu") -> None:  # noqa: D107
        ort = _onnxruntime()
        self.source = str(path)
        try:
            self.session = ort.InferenceSession(self.source, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types for damaged files
            raise CheckpointError(f"{self.source} is not a readable ONNX model ({first_line(exc)}).") from None
        metadata = props_to_metadata(self.session.get_modelmeta().custom_metadata_map, self.source)
        self.arch = str(metadata.get("arch", "onnx"))
        self.read_fields(metadata)
        self.device = torch.device("cpu")
        if device not in ("cpu", "auto"):
            logger.info("%s runs with onnxruntime on the CPU (device %s ignored)", self.source, device)
        self.metadata = {"kind": "onnx", "exported_from": metadata.get("source_model"),
                         "mlcls_gui_version": metadata.get("mlcls_gui_version")}
        self.export_metadata = metadata
        if not self._declared_shapes_fit():
            # The graph leaves the label axis open: one blank image shows what it gives.
            self._run(np.zeros((1, 3, self.image_size, self.image_size), dtype=np.uint8))

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], *, device: str = "cpu") -> "OnnxPredictor":
        if not Path(path).expanduser().is_file():
            raise CheckpointError(f"Model file {path} does not exist.")
        return cls(Path(path).expanduser(), device=device)

    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        batch = np.ascontiguousarray(images.cpu().numpy(), dtype=np.uint8)
        return torch.from_numpy(self._run(batch))

    def _run(self, batch: np.ndarray) -> np.ndarray:
        """The graph's probabilities for ``batch``; CheckpointError when it fails
        or does not give one probability per label and image."""
        try:
            (probs,) = self.session.run([OUTPUT_NAME], {INPUT_NAME: batch})
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types
            raise self._unusable(f"it fails to run on {len(batch)} image(s) ({first_line(exc)})",
                                 INPUT_CONTRACT) from None
        probs = np.asarray(probs, dtype=np.float32)
        if probs.shape != (len(batch), len(self.labels)):
            raise self._label_count_error(f"an output of shape {list(probs.shape)} for {len(batch)} image(s)")
        return probs

    def _declared_shapes_fit(self) -> bool:
        """Check the graph's declared input and output against the contract and
        the metadata; False when the label axis is not declared (then it must be run)."""
        inputs = self.session.get_inputs()
        if [arg.name for arg in inputs] != [INPUT_NAME]:
            raise self._unusable(f"it takes the input(s) {_names(inputs)}, not one input '{INPUT_NAME}'",
                                 INPUT_CONTRACT)
        self._check_arg(inputs[0], "tensor(uint8)", [None, 3, self.image_size, self.image_size],
                        f"{INPUT_CONTRACT} (its metadata gives image_size {self.image_size})")
        if inputs[0].shape and isinstance(inputs[0].shape[0], int):
            raise self._unusable(f"its '{INPUT_NAME}' takes exactly {inputs[0].shape[0]} image(s) at a time",
                                 INPUT_CONTRACT)
        outputs = {arg.name: arg for arg in self.session.get_outputs()}
        if OUTPUT_NAME not in outputs:
            raise self._unusable(f"it has no output '{OUTPUT_NAME}' (its outputs: "
                                 f"{_names(outputs.values())})", OUTPUT_CONTRACT)
        output = outputs[OUTPUT_NAME]
        self._check_arg(output, "tensor(float)", [None, None], OUTPUT_CONTRACT)
        shape = list(output.shape or [])
        declared = shape[1] if len(shape) == 2 else None
        if isinstance(declared, int) and declared != len(self.labels):
            raise self._label_count_error(f"{declared} probabilities per image")
        return isinstance(declared, int)

    def _check_arg(self, arg: Any, dtype: str, dims: list[int | None], contract: str) -> None:
        """``arg``'s element type, rank and fixed sizes (None: any size; a graph
        that declares no shape at all is left to the run)."""
        if arg.type != dtype:
            raise self._unusable(f"its '{arg.name}' is a {arg.type}, not a {dtype}", contract)
        shape = list(arg.shape or [])
        if not shape:
            return
        if len(shape) != len(dims) or any(isinstance(have, int) and want is not None and have != want
                                           for have, want in zip(shape, dims)):
            shown = ", ".join(str(d) if isinstance(d, int) else "?" for d in shape)
            raise self._unusable(f"its '{arg.name}' has the shape [{shown}]", contract)

    def _unusable(self, problem: str, contract: str) -> CheckpointError:
        return CheckpointError(
            f"{self.source} does not fit the mlcls-gui export contract: {problem}; expected {contract}. "
            "Export the .pt model again with mlcls-gui export."
        )

    def _label_count_error(self, found: str) -> CheckpointError:
        return CheckpointError(
            f"{self.source} lists {len(self.labels)} labels in its metadata but its graph gives {found}; "
            "the metadata does not belong to this graph. Export the .pt model again with mlcls-gui export."
        )


def _names(args: Any) -> str:
    return ", ".join(repr(arg.name) for arg in args) or "none"


def first_line(exc: BaseException, limit: int = 160) -> str:
    """An exception's first line, cut to ``limit``: for one-line messages from
    libraries (onnxruntime, the exporters) that write pages."""
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:limit]


def _onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise CheckpointError(
            "Opening .onnx files needs onnxruntime, which is not installed: "
            "pip install 'mlcls-gui[export]' (or pip install onnxruntime)."
        ) from None
    onnxruntime.set_default_logger_severity(3)  # errors only: its warnings are not the user's business
    return onnxruntime

