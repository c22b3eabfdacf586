"""Predictor: a model file → per-label probabilities for images; OnnxPredictor
does the same for an exported ``.onnx`` file (``Predictor.from_file`` picks).

The model file alone is enough: architecture, labels, image size,
normalisation and threshold travel inside it.
"""

from __future__ import annotations

import abc
import itertools
import logging
import os
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import torch

from mlcls_gui.core.data.batch_transforms import BatchTransform
from mlcls_gui.core.data.images import ImageLoadError, is_image_path, load_rgb_resized
from mlcls_gui.core.data.labels import folder_label_problem
from mlcls_gui.core.data.loaders import pil_to_uint8_tensor
from mlcls_gui.core.data.splits import LABEL_SEPARATOR
from mlcls_gui.core.devices import resolve_device
from mlcls_gui.core.errors import CheckpointError, ConfigError, os_reason
from mlcls_gui.core.files.atomic_files import copy_to_new_file, write_csv_atomic
from mlcls_gui.core.files.safe_paths import is_inside
from mlcls_gui.core.inference.onnx_model import (
    INPUT_CONTRACT,
    INPUT_NAME,
    OUTPUT_CONTRACT,
    OUTPUT_NAME,
    first_line,
    load_onnxruntime,
    props_to_metadata,
)
from mlcls_gui.core.model_file.checkpoint import save_atomic
from mlcls_gui.core.model_file.contents import ModelFile, read_model_file
from mlcls_gui.core.models import build as models
from mlcls_gui.core.output_names import NO_LABEL_FOLDER

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prediction:
    path: str
    probabilities: dict[str, float] = field(default_factory=dict)  # label -> probability
    predicted: tuple[str, ...] = ()
    error: str = ""  # why the image could not be read; then probabilities is empty

    @property
    def ok(self) -> bool:
        return not self.error


class PredictorBase(abc.ABC):
    """The prediction contract a .pt model and an .onnx export share: labels,
    per-label thresholds, the image size and decoding of training's validation,
    and predictions for image paths. A subclass gives ``probabilities``."""

    def __init__(self, *, source: str, arch: str, labels: Sequence[str], image_size: int, threshold: float,
                 thresholds: Sequence[float] | None, config: Mapping[str, Any], device: torch.device,
                 metadata: Mapping[str, Any]) -> None:
        self.source = source
        self.arch = arch
        self.labels: list[str] = list(labels)
        self.image_size = int(image_size)
        self.threshold = float(threshold)
        # Per-label thresholds tuned at the end of training (or set by hand).
        self.thresholds: list[float] = (
            [float(t) for t in thresholds] if thresholds and len(thresholds) == len(self.labels)
            else [self.threshold] * len(self.labels)
        )
        self.config: dict = dict(config)
        # The same decoding as the training run's validation.
        self.fast_decode = bool(self.config.get("fast_decode", True))
        self.device = device
        self.metadata: dict[str, Any] = dict(metadata)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], *, device: str = "cpu") -> PredictorBase:
        """A .pt model or checkpoint file, or an exported .onnx file (run with onnxruntime)."""
        if Path(path).suffix.lower() == ".onnx":
            return OnnxPredictor.from_file(path, device=device)  # onnxruntime is imported only then
        return Predictor(read_model_file(path), device=device)

    @abc.abstractmethod
    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (B, 3, size, size) → float32 (B, labels) probabilities on the CPU."""

    def load_image(self, path: str | os.PathLike[str]) -> torch.Tensor:
        """uint8 (3, size, size): decoded and resized exactly as for training's
        validation. Raises ImageLoadError."""
        image = load_rgb_resized(path, self.image_size, fast_decode=self.fast_decode)
        return pil_to_uint8_tensor(image)

    @torch.inference_mode()
    def predict_paths(
        self, paths: Sequence[str | os.PathLike[str]], *, batch_size: int = 16,
        threshold: float | None = None,
    ) -> list[Prediction]:
        """Predictions in the order of ``paths``; unreadable images carry an error.

        A label is predicted at its own threshold, or at ``threshold`` for all."""
        cut = list(self.thresholds_used(threshold).values())
        results: dict[int, Prediction] = {}
        pending: list[tuple[int, torch.Tensor]] = []
        for index, path in enumerate(paths):
            try:
                pending.append((index, self.load_image(path)))
            except ImageLoadError as exc:
                results[index] = Prediction(str(path), error=exc.reason)
            if len(pending) >= batch_size:
                self._run_batch(pending, paths, cut, results)
                pending = []
        if pending:
            self._run_batch(pending, paths, cut, results)
        return [results[i] for i in range(len(paths))]

    def thresholds_used(self, threshold: float | None = None) -> dict[str, float]:
        """label -> the threshold that decides it: the model's own per label, or ``threshold`` for all."""
        return dict(zip(self.labels, self.thresholds if threshold is None else [threshold] * len(self.labels)))

    def predict_path(self, path: str | os.PathLike[str], threshold: float | None = None) -> Prediction:
        return self.predict_paths([path], threshold=threshold)[0]

    def _run_batch(
        self, pending: list[tuple[int, torch.Tensor]], paths: Sequence, cut: list[float],
        results: dict[int, Prediction],
    ) -> None:
        probs = self.probabilities(torch.stack([tensor for _, tensor in pending])).tolist()
        for (index, _), row in zip(pending, probs):
            probabilities = dict(zip(self.labels, row))
            predicted = tuple(label for (label, p), t in zip(probabilities.items(), cut) if p >= t)
            results[index] = Prediction(str(paths[index]), probabilities, predicted)


class Predictor(PredictorBase):
    """A .pt model file or checkpoint, run with PyTorch on ``device``."""

    def __init__(self, model_file: ModelFile, *, device: str = "cpu", source: str = "") -> None:
        source = source or model_file.path or "model"
        super().__init__(
            source=source, arch=model_file.arch, labels=model_file.labels, image_size=model_file.image_size,
            threshold=model_file.threshold, thresholds=model_file.thresholds, config=model_file.config,
            device=resolve_device(device),
            metadata={"kind": model_file.kind, "epoch": model_file.epoch, "best_epoch": model_file.best_epoch,
                      "test_metrics": model_file.test_metrics, "saved_at": model_file.saved_at},
        )
        # image_size: a ViT's position embeddings were made for the size it trained at.
        model = models.build_model(self.arch, len(self.labels), pretrained=False, image_size=self.image_size)
        try:
            model.load_state_dict(model_file.model_state)
        except (RuntimeError, KeyError) as exc:
            raise CheckpointError(
                f"The weights in {source} do not fit a {self.arch} with {len(self.labels)} labels "
                f"({str(exc)[:160]})."
            ) from None
        self.model = model.to(self.device).eval()
        # The same normalisation as the training run's validation.
        self.batch_transform = BatchTransform(self.device, mean=model_file.mean, std=model_file.std)

    @torch.inference_mode()
    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        inputs = self.batch_transform(images, augment=False)
        return torch.sigmoid(self.model(inputs).float()).cpu()


class OnnxPredictor(PredictorBase):
    """A Predictor over an exported ``.onnx`` file, run with onnxruntime on the CPU.

    The graph is checked against the contract when the file is opened, so a
    file whose metadata does not fit its graph (an edited label list, a foreign
    model) is refused before any image is predicted."""

    def __init__(self, path: str | os.PathLike[str], *, device: str = "cpu") -> None:  # noqa: D107
        ort = load_onnxruntime()
        self.source = str(path)
        try:
            self.session = ort.InferenceSession(self.source, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types for damaged files
            raise CheckpointError(f"{self.source} is not a readable ONNX model ({first_line(exc)}).") from None
        metadata = props_to_metadata(self.session.get_modelmeta().custom_metadata_map, self.source)
        super().__init__(
            source=self.source, arch=str(metadata.get("arch", "onnx")), labels=metadata["labels"],
            image_size=int(metadata["image_size"]), threshold=float(metadata.get("threshold", 0.5)),
            thresholds=metadata.get("thresholds"), config=metadata.get("config") or {},
            device=torch.device("cpu"),
            metadata={"kind": "onnx", "exported_from": metadata.get("source_model"),
                      "mlcls_gui_version": metadata.get("mlcls_gui_version")},
        )
        if device not in ("cpu", "auto"):
            logger.info("%s runs with onnxruntime on the CPU (device %s ignored)", self.source, device)
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


def expand_image_paths(inputs: Iterable[str | os.PathLike[str]]) -> tuple[list[str], list[tuple[str, str]]]:
    """Files and folders (recursively) → image paths, plus (path, reason) not used.

    Nothing is left out silently: an unreadable sub-folder and a path the
    system refuses (e.g. a name over 255 characters) each get a reason."""
    images: list[str] = []
    rejected: list[tuple[str, str]] = []
    for item in inputs:
        path = Path(item).expanduser()
        kind, reason = _path_kind(path)
        if kind == "folder":
            errors_before = len(rejected)
            found = _images_in_folder(path, rejected)
            if not found and len(rejected) == errors_before:
                rejected.append((str(path), "folder holds no image files"))
            images.extend(found)
        elif kind == "file" and is_image_path(path):
            images.append(str(path))
        elif kind == "file":
            rejected.append((str(path), f"not an image file ({path.suffix or 'no extension'})"))
        else:
            rejected.append((str(path), reason))
    return images, rejected


def _path_kind(path: Path) -> tuple[str, str]:
    """("folder" | "file" | "", reason when neither)."""
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return "", "does not exist"
    except (OSError, ValueError) as exc:  # ENAMETOOLONG, EACCES, a NUL byte
        return "", f"cannot read ({os_reason(exc)})"
    if stat.S_ISDIR(info.st_mode):
        return "folder", ""
    if stat.S_ISREG(info.st_mode):
        return "file", ""
    return "", "not a file or folder"


def _images_in_folder(folder: Path, rejected: list[tuple[str, str]]) -> list[str]:
    """Sorted image files under ``folder``; unreadable folders go to ``rejected``
    (as dataset scans report them), symlinked folders are not followed."""
    def on_error(exc: OSError) -> None:
        rejected.append((str(exc.filename), f"cannot read folder ({exc.strerror})"))

    found: list[str] = []
    for dirpath, _dirnames, filenames in os.walk(folder, onerror=on_error, followlinks=False):
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not name.startswith(".") and is_image_path(name) and os.path.isfile(path):
                found.append(path)
    return sorted(found)


def save_thresholds(model_path: str | os.PathLike[str], thresholds: Sequence[float]) -> None:
    """Write per-label thresholds back into a model file (atomically); the rest
    of the file, fields of a newer version included, stays as it was."""
    contents = read_model_file(model_path)
    if len(thresholds) != len(contents.labels):
        raise CheckpointError(
            f"{len(thresholds)} thresholds for {len(contents.labels)} labels in {model_path}."
        )
    if not all(0.0 < float(t) <= 1.0 for t in thresholds):
        raise CheckpointError("Thresholds must lie in (0, 1].")
    save_atomic(replace(contents, thresholds=thresholds).to_payload(), model_path)


def write_predictions_csv(path: str | os.PathLike[str], labels: Sequence[str],
                          predictions: Iterable[Prediction]) -> None:
    """path, one probability column per label, the predicted labels joined by
    '+', and the error for unreadable images; written to a temporary file first."""
    target = Path(path).expanduser()
    _require_folder(target.parent, f"Cannot write {target}")
    if _is_folder(target, f"Cannot write {target}"):
        raise ConfigError(f"Cannot write {target}: it is a folder; give a file name such as predictions.csv.")
    rows = (
        [p.path, *(f"{p.probabilities[label]:.6f}" if p.ok else "" for label in labels),
         "+".join(p.predicted), p.error]
        for p in predictions
    )
    try:
        write_csv_atomic(target, itertools.chain([["path", *labels, "predicted", "error"]], rows))
    except OSError as exc:
        raise ConfigError(f"Cannot write {target} ({os_reason(exc)}).") from None


def check_copy_target(inputs: Iterable[str | os.PathLike[str]], copy_target: str | os.PathLike[str]) -> None:
    """Refuse a copy folder inside a folder being predicted (the window's and the
    CLI's one rule): the copies would join the user's images, and the next
    prediction (or training) of that folder would meet them twice."""
    target = Path(copy_target).expanduser().resolve()
    for item in inputs:
        source = Path(item).expanduser().resolve()
        if source.is_dir() and (target == source or source in target.parents):
            raise ConfigError(
                f"The copy folder {target} lies inside the folder being predicted ({source}); "
                "choose a folder outside it.")


def copy_into_label_folders(
    predictions: Iterable[Prediction], target: str | os.PathLike[str], *, none_folder: str = NO_LABEL_FOLDER,
) -> int:
    """Copy each readable image into ``target/<predicted labels joined by '+'>/``
    — the seed's layout, a quick way to pre-label new data. Returns the count.

    ``target`` is created when its parent folder exists; an existing file is refused."""
    root = Path(target).expanduser()
    predictions = [p for p in predictions if p.ok]
    for prediction in predictions:  # before anything is copied
        problem = folder_label_problem(sorted(prediction.predicted))
        if problem:
            raise ConfigError(f"Cannot copy into label folders: {problem}. Write the predictions as a CSV "
                              "instead (--csv, or Save CSV in the window).")
    _prepare_target_folder(root)
    copied = 0
    for prediction in predictions:
        folder = root / (LABEL_SEPARATOR.join(sorted(prediction.predicted)) or none_folder)
        source = Path(prediction.path)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if not is_inside(folder, root):
                raise ConfigError(f"Cannot copy into {folder}: it is a symbolic link that leads outside "
                                  f"{root}. Remove the link, or choose another folder.")
            destination = folder / source.name
            counter = 1
            while True:
                try:
                    copy_to_new_file(source, destination)
                    break
                except FileExistsError:  # a name in use, or a link there: never over it
                    destination = folder / f"{source.stem}_{counter}{source.suffix}"
                    counter += 1
        except OSError as exc:
            raise ConfigError(f"Cannot copy {source} into {folder} ({os_reason(exc)}).") from None
        copied += 1
    return copied


def _prepare_target_folder(root: Path) -> None:
    what = f"Cannot copy images into {root}"
    if _is_folder(root, what):
        return
    if _exists(root, what):
        raise ConfigError(f"{what}: it is a file, not a folder.")
    _require_folder(root.parent, what)
    try:
        root.mkdir()
    except OSError as exc:
        raise ConfigError(f"{what} ({os_reason(exc)}).") from None


def _require_folder(folder: Path, what: str) -> None:
    """ConfigError (one line, starting with ``what``) unless ``folder`` is an existing folder."""
    if _is_folder(folder, what):
        return
    if _exists(folder, what):
        raise ConfigError(f"{what}: {folder} is a file, not a folder.")
    raise ConfigError(f"{what}: the folder {folder} does not exist.")


def _is_folder(path: Path, what: str) -> bool:
    try:
        return path.is_dir()
    except (OSError, ValueError) as exc:  # Python 3.11 raises ENAMETOOLONG here
        raise ConfigError(f"{what} ({os_reason(exc)}).") from None


def _exists(path: Path, what: str) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{what} ({os_reason(exc)}).") from None
