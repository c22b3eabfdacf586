"""Export a model file to ONNX or TorchScript, and prove the export right.

The exported graph takes uint8 images and returns probabilities (the contract
is in ``onnx_model.py``): scaling, normalisation and the sigmoid are inside,
so a user needs only a resize to run it. Every export is checked: the
exported file runs on the check images (or a random batch) and its
probabilities must match the PyTorch Predictor's within ``TOLERANCE``;
otherwise nothing is left behind. The file is written under a temporary name
and renamed only after the check passed.

A TorchScript archive is serialised in memory and then written from Python:
torch's C++ file writer aborts the whole process (SIGABRT, the temporary left
behind) when a write fails, e.g. on a full disk; Python's write raises OSError,
which becomes a one-line ExportError.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch
from torch import nn

from mlcls_gui import __version__
from mlcls_gui.core.data.images import ImageLoadError
from mlcls_gui.core.errors import ModelError
from mlcls_gui.core.files.atomic_files import replacing, write_json_atomic
from mlcls_gui.core.inference.export_names import FORMATS, default_output, sidecar_path
from mlcls_gui.core.inference.onnx_model import (
    EXPORT_FORMAT,
    INPUT_CONTRACT,
    INPUT_NAME,
    OUTPUT_CONTRACT,
    OUTPUT_NAME,
    RESIZE_RULE,
    SPLIT_SETTINGS,
    TORCHSCRIPT_METADATA,
    first_line,
    metadata_to_props,
)
from mlcls_gui.core.inference.predict import Predictor
from mlcls_gui.core.model_file.contents import ModelFile, read_model_file

logger = logging.getLogger(__name__)

TOLERANCE = 1e-4  # max abs difference of probabilities, float32
OPSET = 18
RANDOM_BATCH = 3  # not the export example's 2: the check also proves the batch axis is dynamic
INSTALL_HINT = "pip install 'mlcls-gui[export]' (onnx, onnxruntime, onnxscript)"


class ExportError(ModelError):
    """The model could not be exported, or the export does not match PyTorch."""


@dataclass(frozen=True)
class ExportResult:
    path: Path
    sidecar: Path  # <path>.json: the metadata, for tools that cannot read the file's own
    format: str
    max_abs_difference: float
    checked_on: str  # "3 check images" or "a random batch of 3 images"
    exporter: str


class ExportPipeline(nn.Module):
    """uint8 (B, 3, S, S) → probabilities (B, labels): the Predictor's
    scaling, normalisation and sigmoid around the model, in the same order."""

    def __init__(self, model: nn.Module, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float() / 255.0
        x = (x - self.mean) / self.std
        return torch.sigmoid(self.model(x).float())


def export_model(
    model_file: str | os.PathLike[str],
    format: str = "onnx",
    out: str | os.PathLike[str] | None = None,
    check_images: Sequence[str | os.PathLike[str]] = (),
    *,
    tolerance: float = TOLERANCE,
) -> ExportResult:
    """Export ``model_file`` (a .pt model or checkpoint) and check parity.

    Raises ExportError (one line) when the format is unknown, a check image
    cannot be read, the exporter fails, or the probabilities differ by more
    than ``tolerance``; no file is left behind then."""
    if format not in FORMATS:
        raise ExportError(f"Unknown export format {format!r}; choose {' or '.join(FORMATS)}.")
    if Path(model_file).suffix.lower() == ".onnx":
        raise ExportError(f"{model_file} is already an exported model; export the .pt model file.")
    contents = read_model_file(model_file)
    predictor = Predictor(contents, device="cpu")
    target = _check_target(Path(out).expanduser() if out else default_output(model_file, format), model_file)
    inputs, checked_on = _check_inputs(predictor, check_images)
    reference = predictor.probabilities(inputs)
    metadata = _metadata(predictor, contents, model_file)
    pipeline = ExportPipeline(predictor.model, contents.mean, contents.std).eval()
    pipeline.requires_grad_(False)
    example = torch.randint(0, 256, (2, 3, predictor.image_size, predictor.image_size),
                            dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    try:
        # The export is written and checked under a temporary name; only a
        # passing check lets ``replacing`` rename it over the target.
        with replacing(target) as temporary:
            if format == "onnx":
                exporter = _write_onnx(pipeline, example, temporary, metadata)
                exported = _run_onnx(temporary, inputs)
            else:
                exporter = _write_torchscript(pipeline, example, temporary, metadata)
                exported = _run_torchscript(temporary, inputs)
            difference = _max_abs_difference(exported, reference)
            if not difference <= tolerance:  # NaN fails too
                raise ExportError(
                    f"The {format} export does not match PyTorch: probabilities differ by up to "
                    f"{difference:.2e} on {checked_on} (allowed {tolerance:.0e}); nothing was written."
                )
    except OSError as exc:  # a full disk, a quota, a folder made read-only meanwhile
        raise ExportError(f"Cannot write {target} ({exc.strerror or exc}); nothing was written.") from None
    sidecar = _write_sidecar(target, {
        **metadata, "file": target.name, "exporter": exporter,
        "parity_max_abs_difference": difference, "parity_checked_on": checked_on,
    })
    logger.info("Exported %s to %s (%s; max abs difference %.2e on %s)",
                model_file, target, exporter, difference, checked_on)
    return ExportResult(target, sidecar, format, difference, checked_on, exporter)


def _check_target(target: Path, model_file: str | os.PathLike[str]) -> Path:
    try:
        if target.is_dir():
            raise ExportError(f"Cannot write {target}: it is a folder; give a file name.")
        if not target.parent.is_dir():
            raise ExportError(f"Cannot write {target}: the folder {target.parent} does not exist.")
        if target.exists() and target.resolve() == Path(model_file).expanduser().resolve():
            raise ExportError(f"Cannot write {target}: it is the model file being exported.")
    except OSError as exc:
        raise ExportError(f"Cannot write {target} ({exc.strerror or exc}).") from None
    return target


def _check_inputs(predictor: Predictor, paths: Sequence[str | os.PathLike[str]]) -> tuple[torch.Tensor, str]:
    if not paths:
        size = predictor.image_size
        images = torch.randint(0, 256, (RANDOM_BATCH, 3, size, size), dtype=torch.uint8,
                               generator=torch.Generator().manual_seed(0))
        return images, f"a random batch of {RANDOM_BATCH} images"
    loaded = []
    for path in paths:
        try:
            loaded.append(predictor.load_image(path))
        except ImageLoadError as exc:
            raise ExportError(f"Cannot use {path} as a check image: {exc.reason}.") from None
    return torch.stack(loaded), f"{len(loaded)} check image{'s' if len(loaded) != 1 else ''}"


def _metadata(predictor: Predictor, contents: ModelFile, model_file: str | os.PathLike[str]) -> dict[str, Any]:
    config = contents.config
    return {
        "format": EXPORT_FORMAT,
        "labels": list(predictor.labels),
        "thresholds": [float(t) for t in predictor.thresholds],
        "threshold": float(predictor.threshold),
        "image_size": int(predictor.image_size),
        "mean": list(contents.mean),
        "std": list(contents.std),
        "resize": RESIZE_RULE,
        "input": INPUT_CONTRACT,
        "output": OUTPUT_CONTRACT,
        "arch": predictor.arch,
        "mlcls_gui_version": __version__,
        "source_model": Path(model_file).name,
        "config": {key: config[key] for key in SPLIT_SETTINGS if key in config},
    }


# ------------------------------------------------------------------ ONNX
def _write_onnx(pipeline: nn.Module, example: torch.Tensor, path: Path, metadata: dict[str, Any]) -> str:
    onnx = _import("onnx")
    _import("onnxscript")  # torch.onnx's default (dynamo) exporter needs it
    try:
        with _quiet():
            torch.onnx.export(
                pipeline, (example,), str(path), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                opset_version=OPSET, dynamo=True, external_data=False, verbose=False,
                dynamic_shapes={"images": {0: torch.export.Dim("batch")}},
            )
        exporter = f"torch.onnx dynamo, opset {OPSET}"
    except OSError:
        raise  # the disk, not the exporter: the other exporter would fail to write too
    except Exception as exc:  # noqa: BLE001 - the new exporter fails on some models; the old one may not
        logger.info("The dynamo ONNX exporter failed (%s); trying the TorchScript-based one", exc)
        try:
            with _quiet():
                torch.onnx.export(
                    pipeline, (example,), str(path), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                    opset_version=OPSET, dynamo=False,
                    dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                )
        except OSError:
            raise
        except Exception as second:  # noqa: BLE001
            raise ExportError(f"ONNX export failed: {first_line(second, 300)}") from None
        exporter = f"torch.onnx TorchScript-based, opset {OPSET}"
    model = onnx.load(str(path))
    for key, value in metadata_to_props(metadata).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.doc_string = f"mlcls-gui multi-label classifier ({metadata['arch']}). {INPUT_CONTRACT}. {OUTPUT_CONTRACT}."
    onnx.save(model, str(path))
    return exporter


def _run_onnx(path: Path, inputs: torch.Tensor) -> torch.Tensor:
    ort = _import("onnxruntime")
    ort.set_default_logger_severity(3)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (probs,) = session.run([OUTPUT_NAME], {INPUT_NAME: inputs.numpy()})
    return torch.from_numpy(probs)


# ----------------------------------------------------------- TorchScript
def _write_torchscript(pipeline: nn.Module, example: torch.Tensor, path: Path, metadata: dict[str, Any]) -> str:
    buffer = io.BytesIO()  # never torch's own file writer: see the module's docstring
    try:
        with _quiet():
            traced = torch.jit.trace(pipeline, (example,), check_trace=False)
            torch.jit.save(traced, buffer, _extra_files={TORCHSCRIPT_METADATA: json.dumps(metadata)})
    except Exception as exc:  # noqa: BLE001 - tracing fails in many ways on unusual models
        raise ExportError(f"TorchScript export failed: {first_line(exc, 300)}") from None
    path.write_bytes(buffer.getbuffer())  # OSError on a full disk; ``replacing`` removes the file
    return "torch.jit.trace"


def _run_torchscript(path: Path, inputs: torch.Tensor) -> torch.Tensor:
    with _quiet(), torch.inference_mode():
        return torch.jit.load(str(path), map_location="cpu")(inputs).float()


# --------------------------------------------------------------- helpers
def _max_abs_difference(exported: torch.Tensor, reference: torch.Tensor) -> float:
    if exported.shape != reference.shape:
        raise ExportError(
            f"The export returns shape {tuple(exported.shape)}, PyTorch {tuple(reference.shape)}; "
            "nothing was written."
        )
    return float((exported.float() - reference.float()).abs().max()) if reference.numel() else 0.0


def _write_sidecar(target: Path, content: dict[str, Any]) -> Path:
    sidecar = sidecar_path(target)
    try:
        write_json_atomic(sidecar, content)
    except OSError as exc:
        raise ExportError(f"Wrote {target} but not {sidecar} ({exc.strerror or exc}).") from None
    return sidecar


def _import(name: str) -> Any:
    try:
        return __import__(name)
    except ImportError:
        raise ExportError(f"Exporting needs the {name} package, which is not installed: {INSTALL_HINT}.") from None


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The exporters' deprecation and tracer warnings are not the user's business:
    the parity check decides whether the result is right."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
