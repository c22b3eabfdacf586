"""Assisted labelling, simulated: which queue order to default to, and how many
clicks the suggestions save.

A simulated labeller answers every question with the true labels. It starts
from ``--start`` images labelled at random, then labels ``--step`` images at a
time in the queue's order (uncertainty, diversity or random), refitting the
queue's linear probe (``core.labelling.probe``, the suggestions a user gets
before training a model) after each step. Reported:

* test mAP of the probe after 50, 100 and 200 labelled images, per order
  (mean over ``--seeds`` runs);
* labels the labeller had to change per accepted image: with suggestions (the
  chips pre-filled with the probe's labels) vs without (every true label typed).

Features are computed once per image with the queue's own extractor (the
health check's pretrained EfficientNet-Lite0, installed weights). The data set
is recipe_datasets' "objects" (pictures of everyday objects on photos, 1-3 per
image; test pictures by other artists).

    python tests/benchmarks/bench_labelling.py                 # ~5 min on 2 cores
    python tests/benchmarks/bench_labelling.py --pool 600 --seeds 5
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from recipe_datasets import build_dataset  # noqa: E402

from mlcls_gui.core.data.dataset import scan_data_root  # noqa: E402
from mlcls_gui.core.data.splits import label_matrix  # noqa: E402
from mlcls_gui.core.evaluation.metrics import compute_metrics  # noqa: E402
from mlcls_gui.core.health.features import image_features  # noqa: E402
from mlcls_gui.core.labelling.ordering import ORDERS, at_random, by_diversity, by_uncertainty  # noqa: E402
from mlcls_gui.core.labelling.probe import fit_probe  # noqa: E402
from mlcls_gui.core.labelling.queue import PROBE_THRESHOLD  # noqa: E402

logger = logging.getLogger("bench.labelling")
CHECKPOINTS = (50, 100, 200)


def simulate(order: str, pool_x: np.ndarray, pool_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
             labels: list[str], args: argparse.Namespace, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    labelled = list(rng.choice(len(pool_x), args.start, replace=False))
    scores: dict[int, float] = {}
    changed_with, changed_without = [], []
    while len(labelled) < max(CHECKPOINTS):
        waiting = np.setdiff1d(np.arange(len(pool_x)), labelled)
        probe = fit_probe(pool_x[labelled], pool_y[labelled], labels)
        p = probe.probabilities(pool_x[waiting])
        thresholds = np.full(len(labels), PROBE_THRESHOLD)
        if order == "uncertainty":
            ranked = by_uncertainty(p, thresholds)
        elif order == "diversity":
            ranked = by_diversity(pool_x[waiting], pool_x[labelled])
        else:
            ranked = at_random(len(waiting), int(rng.integers(1 << 31)))
        chosen = ranked[:args.step]
        for i in chosen:  # the labeller fixes the pre-filled chips to the truth
            suggested = p[i] >= thresholds
            truth = pool_y[waiting[i]].astype(bool)
            changed_with.append(int((suggested != truth).sum()))
            changed_without.append(int(truth.sum()))
        labelled += [int(waiting[i]) for i in chosen]
        for mark in CHECKPOINTS:
            if mark not in scores and len(labelled) >= mark:
                probe = fit_probe(pool_x[labelled[:mark]], pool_y[labelled[:mark]], labels)
                scores[mark] = compute_metrics(probe.probabilities(test_x), test_y, labels,
                                               PROBE_THRESHOLD).mean_average_precision
    return {"map": scores, "changed_with": float(np.mean(changed_with)),
            "changed_without": float(np.mean(changed_without))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pool", type=int, default=500, help="unlabelled images to label from")
    parser.add_argument("--test", type=int, default=200)
    parser.add_argument("--start", type=int, default=10, help="images labelled at random first")
    parser.add_argument("--step", type=int, default=10, help="images labelled between two refits")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the generated data set")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="mlcls-bench-labelling-"))
    try:
        started = time.monotonic()
        root = build_dataset("objects", work / "data", train_images=args.pool, test_images=args.test,
                             image_size=args.image_size, work=work / "cache")
        splits = scan_data_root(root)
        pool = splits.train + splits.val
        labels = splits.labels
        features = image_features([s.path for s in pool + splits.test])
        vectors = dict(zip(features.paths, features.vectors))
        pool = [s for s in pool if s.path in vectors]
        test = [s for s in splits.test if s.path in vectors]
        pool_x = np.stack([vectors[s.path] for s in pool])
        test_x = np.stack([vectors[s.path] for s in test])
        pool_y = label_matrix([s.labels for s in pool], labels)
        test_y = label_matrix([s.labels for s in test], labels)
        print(f"Set: {len(pool)} images to label, {len(test)} test images, {len(labels)} labels; "
              f"data and features in {time.monotonic() - started:.0f} s ({features.source}).")
        results = {order: [simulate(order, pool_x, pool_y, test_x, test_y, labels, args, seed)
                           for seed in range(args.seeds)] for order in ORDERS}
        print(f"\nTest mAP of the probe after N labelled images (mean ± sd over {args.seeds} seeds; "
              f"{args.start} random first, then {args.step} per step):\n")
        print("| order | " + " | ".join(f"{n} labelled" for n in CHECKPOINTS) + " |")
        print("|---" * (1 + len(CHECKPOINTS)) + "|")
        for order, runs in results.items():
            cells = [f"{np.mean([r['map'][n] for r in runs]):.3f} ± {np.std([r['map'][n] for r in runs]):.3f}"
                     for n in CHECKPOINTS]
            print(f"| {order} | " + " | ".join(cells) + " |")
        print("\nLabels changed per accepted image (the chips the labeller had to toggle):\n")
        print("| order | with suggestions | without (every true label) | saved |")
        print("|---|---|---|---|")
        for order, runs in results.items():
            with_s = np.mean([r["changed_with"] for r in runs])
            without = np.mean([r["changed_without"] for r in runs])
            print(f"| {order} | {with_s:.2f} | {without:.2f} | {1 - with_s / without:.0%} |")
        if args.json:
            args.json.write_text(json.dumps({"labels": labels, "results": results}, indent=1), encoding="utf-8")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
