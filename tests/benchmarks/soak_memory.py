"""Soak: many short epochs headless; resident memory must not grow.

    python tests/benchmarks/soak_memory.py [--epochs 60]

Prints RSS after epoch 2 and after the last epoch, and the growth between.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

from mlcls_gui.core.config import TrainConfig
from mlcls_gui.core.data.demo import write_demo_dataset
from mlcls_gui.core.training import events as ev
from mlcls_gui.core.training.engine import Trainer


def rss_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--limit-mb", type=float, default=50.0, help="allowed growth")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    for handler in logging.getLogger().handlers:
        handler.setLevel(logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="mlcls-soak-"))
    root = write_demo_dataset(work / "data", images_per_folder=8, image_size=32)
    cfg = TrainConfig(images_root=str(root), save_model_folder=str(work / "out"), image_size=32,
                      pretrained=False, device="cpu", n_epochs=args.epochs,
                      early_stop_epoch_limit=args.epochs, batch_size=8, learning_rate=1e-3)
    samples: dict[int, float] = {}

    def on_event(event: object) -> None:
        if isinstance(event, ev.EpochEnd):
            samples[event.epoch] = rss_mb()

    Trainer(cfg, on_event=on_event).run()
    first, last = samples[2], samples[max(samples)]
    print(f"epochs {len(samples)}: RSS after epoch 2 {first:.1f} MB, after epoch {max(samples)} "
          f"{last:.1f} MB, growth {last - first:+.1f} MB (limit {args.limit_mb} MB)")
    print("RSS every 10 epochs:", [round(samples[e], 1) for e in sorted(samples) if e % 10 == 0])
    return 0 if last - first <= args.limit_mb else 1


if __name__ == "__main__":
    sys.exit(main())
