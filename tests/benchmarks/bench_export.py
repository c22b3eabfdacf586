"""Prediction speed: the exported .onnx file (onnxruntime) against the .pt model file (PyTorch).

Run on demand (not part of the unit suite; needs the ``export`` extra):

    python tests/benchmarks/bench_export.py            # ~2 min on 2 quiet cores
    python tests/benchmarks/bench_export.py --quick    # fewer repetitions and images
    python tests/benchmarks/bench_export.py --arch mobilenet_v3_small

The model is made the way a user makes it: a generated demo set
(``write_demo_dataset``), one epoch of ``Trainer`` (pretrained=false, so no
download; the weights' values do not matter for speed), then ``export_model``
to ONNX with its parity check. Three ways to get probabilities are compared:

* ``.pt``: ``Predictor.from_file`` on the .pt model (PyTorch) — the baseline;
* ``.onnx`` Predictor: the same ``Predictor.from_file`` on the .onnx file
  (onnxruntime, same decoding as the .pt path);
* ``.onnx`` bare: onnxruntime + Pillow + numpy exactly as the README shows
  (plain Pillow decoding, no reduced-scale JPEG decode).

Scenarios: one 1600×1200 JPEG → probabilities (latency), and a batch of 64
such JPEGs → probabilities (images/s), each also split into its model part
(decoded uint8 tensor → probabilities) and its decoding part. In every
repetition all sides run back to back, in an order that rotates from one
repetition to the next; warm-up runs are not timed. Figures are medians, and
ratios against the .pt side measured in the same run, because these machines
are shared.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image, ImageOps

from mlcls_gui.core.config import TrainConfig
from mlcls_gui.core.data.demo import DEMO_COMBINATIONS, draw_demo_image, write_demo_dataset
from mlcls_gui.core.devices import resolve_device
from mlcls_gui.core.inference.export import export_model
from mlcls_gui.core.inference.predict import Predictor
from mlcls_gui.core.training.engine import Trainer
from mlcls_gui.core.training.events import FinishReason

logger = logging.getLogger("bench")
BATCH = 64
PT, ONNX, BARE = ".pt Predictor", ".onnx Predictor", ".onnx bare ORT+Pillow"


# ------------------------------------------------------------------ data and model
def write_photos(folder: Path, count: int, width: int = 1600, height: int = 1200, seed: int = 1) -> list[Path]:
    """Photo-like JPEGs (smooth shapes, gradients, sensor noise), quality 90."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        combo = DEMO_COMBINATIONS[i % len(DEMO_COMBINATIONS)]
        small = draw_demo_image(combo, 160, rng).resize((width, height), Image.BICUBIC)
        pixels = np.asarray(small, dtype=np.int16) + rng.normal(0, 4, (height, width, 1)).astype(np.int16)
        path = folder / f"photo_{i:03d}.jpg"
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path, quality=90)
        paths.append(path)
    return paths


def make_model(work: Path, arch: str, image_size: int, device: str) -> Path:
    """A real final_model.pt: one epoch of Trainer on a small demo set."""
    demo = write_demo_dataset(work / "demo", images_per_folder=8, image_size=64)
    cfg = TrainConfig(images_root=str(demo), save_model_folder=str(work / "run"), arch=arch,
                      pretrained=False, image_size=image_size, n_epochs=1, device=device)
    result = Trainer(cfg).run()
    if result.reason is FinishReason.FAILED or not Path(result.final_model_path).is_file():
        raise SystemExit(f"training the benchmark model failed: {result.reason}; see {result.output_dir}")
    return Path(result.final_model_path)


# ------------------------------------------------------------------ the README's bare path
def bare_decode(path: Path, size: int) -> np.ndarray:
    """The README's resize: EXIF transpose, RGB, Pillow bilinear to size², uint8 CHW."""
    image = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
    pixels = np.asarray(image.resize((size, size), Image.BILINEAR), dtype=np.uint8)
    return pixels.transpose(2, 0, 1)


def bare_session(onnx_file: Path):
    """A plain InferenceSession as the README makes it; also counts the threads it starts."""
    import onnxruntime as ort

    ort.set_default_logger_severity(3)
    before = _thread_count()
    session = ort.InferenceSession(str(onnx_file))
    return session, _thread_count() - before


def bare_predict(session, paths: list[Path], size: int) -> np.ndarray:
    batch = np.stack([bare_decode(p, size) for p in paths])
    return session.run(["probabilities"], {"images": batch})[0]


def _thread_count() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 0


# ------------------------------------------------------------------ measuring
def measure(sides: dict[str, Callable[[], object]], repeat: int, warmup: int, gap: float) -> dict[str, list[float]]:
    """Seconds per call for each side. Each repetition runs every side once, in
    an order rotated by one each repetition, so no side always follows the same
    neighbour; ``gap`` seconds of sleep (not timed) between calls let the
    previous side's worker threads stop spinning (OpenMP's and onnxruntime's
    both busy-wait a while after a parallel section) before the next one starts."""
    names = list(sides)
    for _ in range(warmup):
        for name in names:
            sides[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for i in range(repeat):
        for name in names[i % len(names):] + names[:i % len(names)]:
            time.sleep(gap)
            started = time.perf_counter()
            sides[name]()
            times[name].append(time.perf_counter() - started)
    return times


def paired_speed(times: dict[str, list[float]], name: str, base: str) -> list[float]:
    """Per-repetition speed of ``name`` relative to ``base`` (>1: faster than base)."""
    return [b / t for b, t in zip(times[base], times[name])]


def quartiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 4:
        return min(values), max(values)
    q = statistics.quantiles(values, n=4)
    return q[0], q[2]


def latency_table(title: str, groups: list[tuple[str, dict[str, list[float]], str]]) -> list[str]:
    lines = [f"\n### {title}\n",
             "| scenario | side | median ms | best ms | speed vs .pt (median of pairs) | pairs q1–q3 |",
             "|---|---|---:|---:|---:|---:|"]
    for scenario, times, base in groups:
        for name, values in times.items():
            ms = f"{statistics.median(values) * 1000:.1f} | {min(values) * 1000:.1f}"
            if name == base:
                lines.append(f"| {scenario} | {name} | {ms} | 1.00× (baseline) | |")
            else:
                speed = paired_speed(times, name, base)
                lo, hi = quartiles(speed)
                lines.append(f"| {scenario} | {name} | {ms} | {statistics.median(speed):.2f}× "
                             f"| {lo:.2f}–{hi:.2f} |")
    return lines


def throughput_table(title: str, groups: list[tuple[str, dict[str, list[float]], str]], count: int) -> list[str]:
    lines = [f"\n### {title}\n",
             "| scenario | side | median images/s | best images/s | speed vs .pt (median of pairs) | pairs min–max |",
             "|---|---|---:|---:|---:|---:|"]
    for scenario, times, base in groups:
        for name, values in times.items():
            ips = f"{count / statistics.median(values):.1f} | {count / min(values):.1f}"
            if name == base:
                lines.append(f"| {scenario} | {name} | {ips} | 1.00× (baseline) | |")
            else:
                speed = paired_speed(times, name, base)
                lines.append(f"| {scenario} | {name} | {ips} | {statistics.median(speed):.2f}× "
                             f"| {min(speed):.2f}–{max(speed):.2f} |")
    return lines


# ------------------------------------------------------------------ main
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions and distinct images")
    parser.add_argument("--device", default="cpu",
                        help="device of the .pt side and of training: cpu (default), cuda:N, mps or auto; "
                        "the .onnx side always runs on the CPU")
    parser.add_argument("--arch", default="resnet18", help="architecture to train and export (default resnet18)")
    parser.add_argument("--image-size", type=int, default=224, help="model input size (default 224)")
    parser.add_argument("--repeat", type=int, default=None,
                        help="timed repetitions per side (default 30 single / 7 batch; --quick 10 / 3)")
    parser.add_argument("--gap", type=float, default=0.05,
                        help="seconds of (untimed) sleep before each timed call (default 0.05)")
    parser.add_argument("--torch-threads", type=int, default=None,
                        help="torch intra-op threads (default: torch's own, at most the CPU count)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    for handler in logging.getLogger().handlers:  # runs log INFO to their own files
        handler.setLevel(logging.WARNING)
    torch.set_num_threads(args.torch_threads or min(torch.get_num_threads(), os.cpu_count() or 1))
    single_reps = args.repeat or (10 if args.quick else 30)
    batch_reps = args.repeat or (3 if args.quick else 7)
    distinct = 16 if args.quick else BATCH

    import onnxruntime as ort
    import PIL

    work = Path(tempfile.mkdtemp(prefix="mlcls-bench-export-"))
    try:
        return run(args, work, single_reps, batch_reps, distinct, ort, PIL.__version__)
    finally:
        if args.keep:
            print(f"\nkept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def run(args, work: Path, single_reps: int, batch_reps: int, distinct: int, ort, pil_version: str) -> int:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"torch {torch.__version__} ({torch.get_num_threads()} intra-op threads, "
          f"{torch.get_num_interop_threads()} inter-op), onnxruntime {ort.__version__} "
          f"(providers {ort.get_available_providers()}), Pillow {pil_version}, numpy {np.__version__}")
    print(f"CPUs usable by this process: {cpus}; .pt device {resolve_device(args.device)}, .onnx on the CPU")

    started = time.perf_counter()
    model_file = make_model(work, args.arch, args.image_size, args.device)
    trained_s = time.perf_counter() - started
    started = time.perf_counter()
    exported = export_model(model_file, "onnx", out=work / "final_model.onnx")
    export_s = time.perf_counter() - started
    print(f"model: {args.arch}, {args.image_size} px, pretrained=false, trained 1 epoch on a "
          f"{8 * len(DEMO_COMBINATIONS)}-image demo set, 64 px PNGs, default splits ({trained_s:.0f} s); "
          f"{model_file.stat().st_size / 2**20:.1f} MB .pt")
    print(f"export: {exported.exporter}, parity {exported.max_abs_difference:.1e} on {exported.checked_on} "
          f"({export_s:.0f} s); {exported.path.stat().st_size / 2**20:.1f} MB .onnx")

    photos = write_photos(work / "photos", distinct)
    paths = [photos[i % len(photos)] for i in range(BATCH)]
    photo = photos[0]
    print(f"images: {distinct} distinct 1600x1200 JPEGs (quality 90, "
          f"{statistics.mean(p.stat().st_size for p in photos) / 1024:.0f} KiB each); "
          f"the batch is {BATCH} paths")

    pt = Predictor.from_file(model_file, device=args.device)
    onnx = Predictor.from_file(exported.path)
    session, new_threads = bare_session(exported.path)
    size = pt.image_size
    print(f"onnxruntime sessions: default options (intra_op_num_threads=0: its own choice); creating one "
          f"started {new_threads} thread(s), i.e. {new_threads + 1} intra-op threads with the calling one")

    # Same answers? .pt and .onnx Predictors decode identically; the bare path decodes
    # the JPEG at full scale (the README's plain Pillow), so it may differ a little more.
    p_pt = np.array([pt.predict_path(photo).probabilities[label] for label in pt.labels])
    p_onnx = np.array([onnx.predict_path(photo).probabilities[label] for label in onnx.labels])
    p_bare = bare_predict(session, [photo], size)[0]
    print(f"max |p.onnx - p.pt| on the photo: {np.abs(p_onnx - p_pt).max():.1e}; "
          f"bare path vs .pt: {np.abs(p_bare - p_pt).max():.1e} (different decoding)")

    one = pt.load_image(photo).unsqueeze(0)
    many = torch.stack([pt.load_image(p) for p in paths])

    print(f"\nsingle image: {single_reps} timed repetitions per side after 3 warm-up runs, "
          f"{args.gap * 1000:.0f} ms untimed gap before each call")
    single = measure({
        PT: lambda: pt.predict_path(photo),
        ONNX: lambda: onnx.predict_path(photo),
        BARE: lambda: bare_predict(session, [photo], size),
    }, single_reps, 3, args.gap)
    single_model = measure({
        PT: lambda: pt.probabilities(one),
        ONNX: lambda: onnx.probabilities(one),
    }, single_reps, 3, args.gap)
    single_decode = measure({
        "mlcls decode (draft 1/N + resize)": lambda: pt.load_image(photo),
        "README decode (full + resize)": lambda: bare_decode(photo, size),
    }, single_reps, 3, args.gap)

    print(f"batch of {BATCH}: {batch_reps} timed repetitions per side after 1 warm-up run")
    batch = measure({
        PT: lambda: pt.predict_paths(paths, batch_size=BATCH),
        ONNX: lambda: onnx.predict_paths(paths, batch_size=BATCH),
        BARE: lambda: bare_predict(session, paths, size),
    }, batch_reps, 1, args.gap)
    batch_model = measure({
        PT: lambda: pt.probabilities(many),
        ONNX: lambda: onnx.probabilities(many),
    }, batch_reps, 1, args.gap)

    lines = latency_table(f"One 1600x1200 JPEG → probabilities ({args.arch}, {size} px)", [
        ("file → probabilities", single, PT),
        ("model only (uint8 1×3×S×S → probs)", single_model, PT),
        ("decode + resize only", single_decode, "mlcls decode (draft 1/N + resize)"),
    ])
    lines += throughput_table(f"Batch of {BATCH} → probabilities ({args.arch}, {size} px)", [
        (f"{BATCH} files → probabilities", batch, PT),
        (f"model only (uint8 {BATCH}×3×S×S → probs)", batch_model, PT),
    ], BATCH)
    print("\n".join(lines))
    summary = {
        "single_speed_onnx": statistics.median(paired_speed(single, ONNX, PT)),
        "single_speed_bare": statistics.median(paired_speed(single, BARE, PT)),
        "batch_speed_onnx": statistics.median(paired_speed(batch, ONNX, PT)),
        "batch_speed_bare": statistics.median(paired_speed(batch, BARE, PT)),
        "batch_model_speed_onnx": statistics.median(paired_speed(batch_model, ONNX, PT)),
    }
    print("\nsummary (speed vs .pt, >1 = faster):", json.dumps({k: round(v, 2) for k, v in summary.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
