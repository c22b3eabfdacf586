"""Exported models: the file contract (``predict.OnnxPredictor`` runs an ``.onnx`` file by it).

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
from typing import Any, Mapping

from mlcls_gui.core.errors import CheckpointError
from mlcls_gui.core.model_file.contents import field_problem

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
    problem = field_problem(fields)  # the model file's own rules, for the fields an export carries
    if problem:
        raise CheckpointError(f"{source} is not a usable model file: {problem}")
    return metadata


def first_line(exc: BaseException, limit: int = 160) -> str:
    """An exception's first line, cut to ``limit``: for one-line messages from
    libraries (onnxruntime, the exporters) that write pages."""
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:limit]


def load_onnxruntime() -> Any:
    """The onnxruntime module, or CheckpointError saying how to install it."""
    try:
        import onnxruntime
    except ImportError:
        raise CheckpointError(
            "Opening .onnx files needs onnxruntime, which is not installed: "
            "pip install 'mlcls-gui[export]' (or pip install onnxruntime)."
        ) from None
    onnxruntime.set_default_logger_severity(3)  # errors only: its warnings are not the user's business
    return onnxruntime

