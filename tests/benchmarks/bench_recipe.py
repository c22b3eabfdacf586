"""The training recipe: the seed preset against Recommended, at equal wall time.

Run on demand (not part of the unit suite), on an otherwise idle machine:

    python tests/benchmarks/bench_recipe.py              # 3 datasets, ~25 min on 2 cores
    python tests/benchmarks/bench_recipe.py --quick      # smaller data, ~3 min smoke run
    python tests/benchmarks/bench_recipe.py --budget-s 300 --json recipe.json

Datasets (``recipe_datasets.py``): demo shapes, digit-scan mosaics and texture-
photo collages, each with test images from other sources than training.

Equal wall time: a 2-epoch probe run measures each preset's epoch time on the
dataset, then the run gets as many epochs as fit into ``--budget-s`` (its
schedule is planned for that length, as a user would set it). The actual wall
times are reported beside the scores.

Time to a score: after every epoch a hook evaluates the test split with the
weights the run would keep if it ended there (its best-so-far weights, EMA or
raw), so each run yields a curve of test mAP against wall time; the hook's own
time is left out of the clock. "Time to reach" is the first point of a curve at
or above the seed preset's final test mAP.

Random weights (nothing to download), resnet18, 48 px images, batch 16.
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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from recipe_datasets import DATASETS, DataUnavailable, build_dataset  # noqa: E402

from mlcls_gui.core.config import TrainConfig  # noqa: E402
from mlcls_gui.core.engine import Trainer  # noqa: E402
from mlcls_gui.core.engine.hooks import Hook  # noqa: E402
from mlcls_gui.core.presets import PRESET_NAMES, apply_preset  # noqa: E402

logger = logging.getLogger("bench")

# Full run: 3 datasets × 2 presets × (probe + budget) ≈ 25 min on 2 cores.
FULL = {"train_images": 400, "test_images": 150, "budget_s": 200.0}
QUICK = {"train_images": 120, "test_images": 48, "budget_s": 15.0}


class TestCurve(Hook):
    """Test mAP of the run's best-so-far weights after every epoch, against wall
    time without this hook's own evaluations."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.own_seconds = 0.0
        self.points: list[tuple[float, int, float]] = []  # (seconds, epoch, test mAP)
        self._last = math.nan

    def on_epoch_end(self, run: Any, epoch: int, row: dict[str, float], improved: bool) -> None:
        begun = time.monotonic()
        elapsed = begun - self.started - self.own_seconds
        if improved or math.isnan(self._last):
            self._last = self._best_weights_map(run)
        self.points.append((elapsed, epoch, self._last))
        self.own_seconds += time.monotonic() - begun

    @staticmethod
    def _best_weights_map(run: Any) -> float:
        state = run.state
        current = {k: v.detach().clone() for k, v in state.model.state_dict().items()}
        if run.best_state is not None:
            state.model.load_state_dict(run.best_state)
        try:
            return float(run.evaluate("test", stoppable=False).report.mean_average_precision)
        finally:
            state.model.load_state_dict(current)  # the next epoch sets the train mode again


@dataclass
class RunRecord:
    preset: str
    epochs: int
    epoch_seconds: float  # measured by the probe
    wall_seconds: float  # this run, without the curve hook's evaluations
    test_map: float
    test_exact_match: float
    test_macro_f1: float
    best_epoch: int
    reason: str
    curve: list[tuple[float, int, float]] = field(default_factory=list)

    def seconds_to_reach(self, target: float) -> float | None:
        return next((t for t, _e, value in self.curve if value >= target - 1e-9), None)


def base_config(root: Path, out: Path, args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(
        images_root=str(root), save_model_folder=str(out), arch=args.arch, pretrained=False,
        image_size=args.image_size, batch_size=16, device="cpu", seed=args.seed, num_workers=0,
    )


def preset_config(base: TrainConfig, preset: str, overrides: dict[str, dict[str, Any]]) -> TrainConfig:
    return apply_preset(base, preset).with_values(**overrides.get(preset, {}))


def train(cfg: TrainConfig, curve: TestCurve | None = None) -> tuple[Trainer, dict[str, Any], float]:
    trainer = Trainer(cfg)
    if curve is not None:
        trainer.hooks.append(curve)
        curve.started = time.monotonic()
    started = time.monotonic()
    result = trainer.run()
    seconds = time.monotonic() - started - (curve.own_seconds if curve else 0.0)
    return trainer, result.summary, seconds


def run_preset(cfg: TrainConfig, preset: str, budget_s: float, work: Path) -> RunRecord:
    # The probe: two epochs, the second one's time (the first fills the image cache).
    probe, _summary, probe_seconds = train(cfg.with_values(n_epochs=2, save_model_folder=str(work / f"probe-{preset}")))
    epoch_s = float(probe.progress.history[-1]["epoch_seconds"])
    overhead = max(0.0, probe_seconds - 2 * epoch_s)  # loading, testing, saving
    epochs = max(2, int((budget_s - overhead) / epoch_s))
    logger.info("%s: %.2f s/epoch, %.1f s overhead -> %d epochs for %.0f s", preset, epoch_s, overhead,
                epochs, budget_s)
    curve = TestCurve()
    _trainer, summary, seconds = train(cfg.with_values(n_epochs=epochs, save_model_folder=str(work / f"run-{preset}")), curve)
    return RunRecord(
        preset=preset, epochs=epochs, epoch_seconds=epoch_s, wall_seconds=seconds,
        test_map=float(summary["test_map"]), test_exact_match=float(summary["test_exact_match"]),
        test_macro_f1=float(summary["test_macro_f1"]), best_epoch=int(summary["best_epoch"]),
        reason=str(summary["reason"]), curve=curve.points,
    )


def compare(seed: RunRecord, rec: RunRecord) -> dict[str, Any]:
    seed_error, rec_error = 1 - seed.test_map, 1 - rec.test_map
    cut = (seed_error - rec_error) / seed_error if seed_error > 0 else math.nan
    seed_reach = seed.seconds_to_reach(seed.test_map)
    rec_reach = rec.seconds_to_reach(seed.test_map)
    return {
        "map_error_cut": cut,
        "seed_seconds_to_seed_map": seed_reach,
        "recommended_seconds_to_seed_map": rec_reach,
        # Against the seed's own time to its final score (its best epoch), and its whole run.
        "time_ratio_to_reach": rec_reach / seed_reach if rec_reach is not None and seed_reach else None,
        "time_ratio_vs_seed_run": rec_reach / seed.wall_seconds if rec_reach is not None else None,
        "meets_error_target": bool(cut >= 0.5),
        "meets_time_target": bool(rec_reach is not None and seed_reach and rec_reach <= 0.4 * seed_reach),
    }


def _fmt(value: float | None, pattern: str = "{:.3f}") -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else pattern.format(value)


def print_table(results: dict[str, dict[str, Any]]) -> None:
    print(f"\n{'dataset':<9} {'preset':<12} {'epochs':>6} {'wall s':>7} {'test mAP':>8} {'exact':>6} "
          f"{'macro F1':>8} {'s to seed mAP':>13}")
    for name, entry in results.items():
        seed_map = entry["runs"]["seed"]["test_map"]
        for preset, run in entry["runs"].items():
            record = RunRecord(**run)
            print(f"{name:<9} {preset:<12} {run['epochs']:>6} {run['wall_seconds']:>7.1f} {run['test_map']:>8.3f} "
                  f"{run['test_exact_match']:>6.3f} {run['test_macro_f1']:>8.3f} "
                  f"{_fmt(record.seconds_to_reach(seed_map), '{:.1f}'):>13}")
    print(f"\n{'dataset':<9} {'1-mAP cut':>9} {'(target ≥50%)':>13} {'time ratio':>10} {'(target ≤0.40)':>14} "
          f"{'vs seed run':>11}")
    for name, entry in results.items():
        c = entry["comparison"]
        print(f"{name:<9} {_fmt(c['map_error_cut'], '{:.0%}'):>9} {'met' if c['meets_error_target'] else 'MISSED':>13} "
              f"{_fmt(c['time_ratio_to_reach'], '{:.2f}'):>10} {'met' if c['meets_time_target'] else 'MISSED':>14} "
              f"{_fmt(c['time_ratio_vs_seed_run'], '{:.2f}'):>11}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller data and budget: a ~3 min smoke run")
    parser.add_argument("--budget-s", type=float, help="wall seconds per run (default 200; quick 15)")
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--image-size", type=int, default=48)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--presets-json", metavar="FILE",
                        help='extra field values per preset, e.g. {"recommended": {"learning_rate": 0.002}}')
    parser.add_argument("--json", dest="json_file", metavar="FILE", help="write every figure and curve")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # Each run logs its epochs into its own train.log; the console shows the bench's lines.
    for handler in logging.getLogger().handlers:
        handler.addFilter(lambda record: record.name.startswith("bench") or record.levelno >= logging.WARNING)
    torch.set_num_threads(args.threads)
    sizes = dict(QUICK if args.quick else FULL)
    budget = args.budget_s or sizes["budget_s"]
    overrides = json.loads(Path(args.presets_json).read_text()) if args.presets_json else {}
    assert {"seed", "recommended"} <= set(PRESET_NAMES)

    work = Path(tempfile.mkdtemp(prefix="mlcls-bench-recipe-"))
    results: dict[str, dict[str, Any]] = {}
    started = time.monotonic()
    try:
        for name in args.datasets:
            try:
                root = build_dataset(name, work / "data", train_images=sizes["train_images"],
                                     test_images=sizes["test_images"], image_size=args.image_size, work=work)
            except DataUnavailable as exc:
                logger.warning("Skipping %s: %s", name, exc)
                continue
            runs = {}
            for preset in ("seed", "recommended"):
                cfg = preset_config(base_config(root, work / "out", args), preset, overrides)
                runs[preset] = run_preset(cfg, preset, budget, work / name)
                logger.info("%s %s: test mAP %.3f in %.1f s", name, preset, runs[preset].test_map,
                            runs[preset].wall_seconds)
            results[name] = {"runs": {p: asdict(r) for p, r in runs.items()},
                             "comparison": compare(runs["seed"], runs["recommended"])}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_table(results)
    print(f"\nBudget {budget:.0f} s per run, {args.arch} from random weights, {args.image_size} px, "
          f"{args.threads} threads; total {time.monotonic() - started:.0f} s.")
    if args.json_file:
        Path(args.json_file).write_text(json.dumps(
            {"budget_s": budget, "arch": args.arch, "image_size": args.image_size, "sizes": sizes,
             "overrides": overrides, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
