"""End-to-end checks on a CUDA GPU: what the CPU suite cannot reach.

A tiny run (resnet18 from random weights, 64 px demo images) trains on cuda:0
with mixed precision, channels-last, DataLoader worker processes and pinned
memory; its model then predicts on the GPU, gives a Grad-CAM map there, opens
in a process that sees no GPU, and exports to ONNX, which predicts on the CPU.
With two GPUs or more, a two-process nccl run starts through torch.distributed.run
(the app's own ``processes=2`` and the user's ``torchrun``).

Run them on a machine with a GPU (not part of the default ``python -m pytest``,
whose testpaths are tests/core and tests/gui)::

    python -m pytest tests/gpu -q

Without CUDA (``torch.cuda.is_available()`` False) every test here is skipped.
Under pytest-xdist (the project's default ``-n auto``) each worker that runs a
test trains its own tiny run (seconds on a GPU); ``-n 0`` trains it once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mlcls_gui.core.config import TrainConfig
from mlcls_gui.core.data.demo import write_demo_dataset
from mlcls_gui.core.inference.predict import OnnxPredictor, Predictor
from mlcls_gui.core.training import events as ev
from mlcls_gui.core.training.engine import Trainer
from mlcls_gui.core.training.precision import choose_precision

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (torch.cuda.is_available() is False)")

DEVICE = "cuda:0"
IMAGE_SIZE = 64
# The same weights in float32 on the GPU (TF32 off, see exact_float32) and on the
# CPU: only the order of sums differs.
GPU_VS_CPU = 1e-4
# One CPU thread per training process: the checks measure nothing, so keep them light.
CHILD_ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def gpu_config(root: Path, out: Path, **changes) -> TrainConfig:
    settings = dict(
        images_root=str(root), save_model_folder=str(out), arch="resnet18", pretrained=False,
        image_size=IMAGE_SIZE, batch_size=8, n_epochs=2, learning_rate=1e-3, val_fraction=0.2,
        test_fraction=0.2, device=DEVICE, mixed_precision="auto", channels_last=True,
        num_workers=2, pin_memory=True,
        # Every epoch from the DataLoader (workers, pinned batches), not from the image cache.
        cache_images=False,
    )
    settings.update(changes)
    return TrainConfig(**settings)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo layout: 9 label-set folders of 8 images, 64 px."""
    return write_demo_dataset(tmp_path_factory.mktemp("gpu-data") / "data", images_per_folder=8,
                              image_size=IMAGE_SIZE)


@pytest.fixture
def exact_float32():
    """TF32 off while a test compares the GPU with the CPU: cuDNN's convolutions
    default to TF32 on Ampere and later, which alone moves probabilities by ~1e-3."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


@pytest.fixture(scope="module")
def gpu_run(data_root: Path, tmp_path_factory: pytest.TempPathFactory):
    """(trainer, result, events) of one tiny run on cuda:0."""
    out = tmp_path_factory.mktemp("gpu-run") / "out"
    seen: list[object] = []
    trainer = Trainer(gpu_config(data_root, out), on_event=seen.append)
    result = trainer.run()
    return trainer, result, seen


def test_a_tiny_run_trains_on_the_gpu_with_mixed_precision_channels_last_workers_and_pinned_memory(gpu_run):
    trainer, result, seen = gpu_run
    assert result.reason is ev.FinishReason.COMPLETED, result.summary.get("message")
    assert DEVICE in result.summary["device"]
    started = next(e for e in seen if isinstance(e, ev.RunStarted))
    expected = choose_precision("auto", torch.device(DEVICE)).name
    assert expected in ("bf16", "fp16"), f"this GPU gets no mixed precision ({expected}): too old for the check"
    assert started.fast_paths["mixed precision"] == expected
    assert started.fast_paths["channels_last"] == "on"
    assert started.fast_paths["loader workers"] == "2"
    state = trainer.state
    assert state.precision.name == expected
    assert (state.scaler is not None) == (expected == "fp16")  # loss scaling only for fp16
    # The model lives on the GPU, its convolution weights laid out channels-last.
    assert {p.device for p in state.model.parameters()} == {torch.device(DEVICE)}
    conv = next(m for m in state.model.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    # Batches arrive pinned from the worker processes and become channels-last GPU input.
    batch = next(iter(state.sources["train"].epoch()))
    assert batch.images.dtype == torch.uint8 and batch.images.is_pinned()
    inputs = state.batch_transform(batch.images, augment=True)
    assert inputs.device == torch.device(DEVICE) and inputs.dtype == torch.float32
    assert inputs.is_contiguous(memory_format=torch.channels_last)
    state.sources["train"].close()
    # Every epoch's numbers are finite (no overflow under autocast), and the test ran.
    rows = _metrics(Path(result.output_dir))
    assert len(rows) == 2
    for row in rows:
        for key in ("train_loss", "val_loss"):
            assert np.isfinite(float(row[key])), (key, row)
    assert result.summary["test_map"] is not None and result.summary["test_images"] > 0
    assert Path(result.final_model_path).is_file()


def test_fp16_with_loss_scaling_trains_on_the_gpu(data_root, tmp_path):
    """fp16 autocast with a GradScaler: the path GPUs without bf16 take ("auto" picks
    bf16 where it can, so it is asked for by name here)."""
    trainer = Trainer(gpu_config(data_root, tmp_path / "out", mixed_precision="fp16", n_epochs=1,
                                 num_workers=0, pin_memory=False, cache_images=True))
    result = trainer.run()
    assert result.reason is ev.FinishReason.COMPLETED, result.summary.get("message")
    assert trainer.state.precision.name == "fp16" and trainer.state.scaler is not None
    assert trainer.state.scaler.get_scale() > 0
    (row,) = _metrics(Path(result.output_dir))
    assert np.isfinite(float(row["train_loss"])) and np.isfinite(float(row["val_loss"]))


def test_the_gpu_trained_model_predicts_on_the_gpu_as_on_the_cpu(gpu_run, exact_float32):
    trainer, result, _ = gpu_run
    paths = [sample.path for sample in trainer.splits.test]
    on_gpu = Predictor.from_file(result.final_model_path, device=DEVICE)
    assert on_gpu.device == torch.device(DEVICE)
    assert {p.device for p in on_gpu.model.parameters()} == {torch.device(DEVICE)}
    on_cpu = Predictor.from_file(result.final_model_path, device="cpu")
    gpu_predictions, cpu_predictions = on_gpu.predict_paths(paths), on_cpu.predict_paths(paths)
    assert len(gpu_predictions) == len(paths) and all(p.ok for p in gpu_predictions)
    gpu_probs, cpu_probs = _probabilities(gpu_predictions, on_gpu.labels), _probabilities(cpu_predictions, on_cpu.labels)
    assert np.all((gpu_probs >= 0) & (gpu_probs <= 1))
    np.testing.assert_allclose(gpu_probs, cpu_probs, atol=GPU_VS_CPU)


def test_grad_cam_on_the_gpu_matches_the_cpu(gpu_run, exact_float32):
    from mlcls_gui.core.inference.heatmap import blend_heatmap
    from mlcls_gui.core.inference.saliency import saliency_map

    trainer, result, _ = gpu_run
    on_gpu = Predictor.from_file(result.final_model_path, device=DEVICE)
    on_cpu = Predictor.from_file(result.final_model_path, device="cpu")
    hot = 0
    for sample in trainer.splits.test[:5]:
        image = Image.open(sample.path).convert("RGB").resize((96, 48))  # not square: the map is stretched back
        for label in on_gpu.labels:
            heat = saliency_map(on_gpu, image, label)
            assert heat.shape == (48, 96) and heat.dtype == np.float32, label
            assert np.isfinite(heat).all() and heat.min() >= 0.0 and heat.max() <= 1.0, label
            reference = saliency_map(on_cpu, image, label)
            assert float(np.abs(heat - reference).max()) < 1e-3, (sample.path, label)
            hot += bool(heat.max() > 0)
        assert blend_heatmap(image, heat).size == image.size
    # A label without evidence in an image gets an all-zero map; not every one of them.
    assert hot > 0, "every Grad-CAM map on the GPU was empty"
    # The maps are computed without touching the model's own gradients.
    assert all(p.grad is None for p in on_gpu.model.parameters())


def test_the_gpu_trained_model_file_predicts_in_a_process_without_a_gpu(gpu_run):
    """A model trained on a GPU is used on a laptop: its file holds no CUDA tensors."""
    trainer, result, _ = gpu_run
    raw = torch.load(result.final_model_path, weights_only=True)  # no map_location: tensors where saved
    assert {t.device.type for t in raw["model_state"].values()} == {"cpu"}
    image = trainer.splits.test[0].path
    done = subprocess.run([sys.executable, "-m", "mlcls_gui", "predict", result.final_model_path, image, "--json"],
                          capture_output=True, text=True, timeout=300,
                          env={**CHILD_ENV, "CUDA_VISIBLE_DEVICES": ""})
    assert done.returncode == 0, done.stderr[-2000:]
    (prediction,) = json.loads(done.stdout)["predictions"]
    expected = Predictor.from_file(result.final_model_path, device="cpu").predict_path(image)
    assert prediction["probabilities"] == pytest.approx(expected.probabilities, abs=1e-5)


def test_a_gpu_trained_model_exports_to_onnx_and_predicts_on_the_cpu(gpu_run, tmp_path):
    pytest.importorskip("onnxruntime", reason="ONNX export needs the export extra")
    from mlcls_gui.core.inference.export import TOLERANCE, export_model

    trainer, result, _ = gpu_run
    paths = [sample.path for sample in trainer.splits.test]
    exported = export_model(result.final_model_path, "onnx", tmp_path / "model.onnx", check_images=paths[:3])
    assert exported.path.is_file() and exported.max_abs_difference <= TOLERANCE
    onnx = Predictor.from_file(exported.path, device="cpu")
    assert isinstance(onnx, OnnxPredictor) and onnx.labels == list(result.summary["labels"])
    torch_cpu = Predictor.from_file(result.final_model_path, device="cpu")
    np.testing.assert_allclose(_probabilities(onnx.predict_paths(paths), onnx.labels),
                               _probabilities(torch_cpu.predict_paths(paths), torch_cpu.labels), atol=TOLERANCE)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="a two-process nccl run needs two GPUs")
@pytest.mark.parametrize("launcher", ["processes=2", "torchrun"])
def test_two_processes_train_with_nccl(data_root, tmp_path, launcher):
    """The app's own launcher (``--set processes=2``) and the user's ``torchrun
    --nproc_per_node=2``: both run DDP over nccl, one GPU per process."""
    out = tmp_path / "out"
    settings = [f"images_root={data_root}", f"save_model_folder={out}", "arch=resnet18", "pretrained=false",
                f"image_size={IMAGE_SIZE}", "batch_size=8", "n_epochs=2", "val_fraction=0.2", "test_fraction=0.2",
                "device=cuda", "mixed_precision=auto", "channels_last=true", "num_workers=1", "pin_memory=true"]
    train = ["train", "--quiet", *[part for item in settings for part in ("--set", item)]]
    if launcher == "torchrun":
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                   "-m", "mlcls_gui", *train]
    else:
        command = [sys.executable, "-m", "mlcls_gui", *train, "--set", "processes=2"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=CHILD_ENV)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["reason"] == "completed"
    assert "2 processes (nccl)" in summary["device"], summary["device"]
    assert summary["test_images"] == summary["test_images_in_split"]  # each test image once
    log = (out / "train.log").read_text()
    assert log.count("Epoch 2/2") == 1 and log.count("Final model:") == 1  # written by one process
    raw = torch.load(out / "final_model.pt", weights_only=True)
    assert not any(key.startswith("module.") for key in raw["model_state"])  # plain weights, not DDP's
    assert {t.device.type for t in raw["model_state"].values()} == {"cpu"}


def _metrics(out: Path) -> list[dict[str, str]]:
    import csv

    with open(out / "metrics.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def _probabilities(predictions, labels) -> np.ndarray:
    return np.array([[p.probabilities[label] for label in labels] for p in predictions], dtype=np.float64)
