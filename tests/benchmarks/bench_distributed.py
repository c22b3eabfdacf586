"""Training throughput with 1, 2, … processes (torch.distributed), and the scaling efficiency.

Run on demand (not part of the unit suite):

    python tests/benchmarks/bench_distributed.py                     # CPU: 1 and 2 processes
    python tests/benchmarks/bench_distributed.py --device cuda --max-processes 8

Each configuration trains the same generated data with the same config
through ``mlcls-gui train --set processes=N`` (torch.distributed.run), one
after the other in this run; throughput is the training images per second of
the epochs after the first (metrics.csv), the median over them. Efficiency is
throughput(N) ÷ (N × throughput(1)), measured in the same run because these
machines are shared.
"""

from __future__ import annotations

import argparse
import csv
import logging
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

logger = logging.getLogger("bench_distributed")


def train(data: Path, out: Path, processes: int, args: argparse.Namespace) -> tuple[float, float]:
    """(median training images/s over epochs 2.., wall seconds) of one run."""
    settings = {
        "images_root": data, "save_model_folder": out, "processes": processes, "device": args.device,
        "arch": args.arch, "image_size": args.image_size, "batch_size": args.batch_size,
        "n_epochs": args.epochs, "pretrained": "false", "num_workers": 0, "val_fraction": 0.1,
        "test_fraction": 0.1,
    }
    command = [sys.executable, "-m", "mlcls_gui", "train", "--quiet"]
    for key, value in settings.items():
        command += ["--set", f"{key}={value}"]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"{processes} process(es) failed:\n{done.stderr[-3000:]}")
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    speeds = [float(row["images_per_second"]) for row in rows[1:]] or [float(rows[0]["images_per_second"])]
    return statistics.median(speeds), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu (gloo) or cuda (nccl, one GPU per process)")
    parser.add_argument("--max-processes", type=int, default=2)
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--images-per-folder", type=int, default=60)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.device.startswith("cuda"):
        import torch

        args.max_processes = min(args.max_processes, torch.cuda.device_count())
    from mlcls_gui.core.data.demo import write_demo_dataset

    work = Path(tempfile.mkdtemp(prefix="bench_distributed_"))
    try:
        data = write_demo_dataset(work / "data", images_per_folder=args.images_per_folder,
                                  image_size=max(args.image_size, 64))
        counts = [n for n in (1, 2, 4, 8, 16) if n <= args.max_processes]
        results = {}
        for n in counts:
            speed, wall = train(data, work / f"out{n}", n, args)
            results[n] = speed
            logger.info("%d process(es): %.1f training images/s (wall %.1f s)", n, speed, wall)
        base = results[1]
        print(f"\n{args.device}, {args.arch}, {args.image_size} px, global batch {args.batch_size}")
        print("| processes | images/s | speed-up | scaling efficiency |")
        print("|---|---|---|---|")
        for n, speed in results.items():
            print(f"| {n} | {speed:.1f} | {speed / base:.2f}x | {speed / (n * base):.0%} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
