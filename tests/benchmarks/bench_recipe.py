"""The training recipe: the seed preset against Recommended, at equal wall time.

Run on demand (not part of the unit suite), on an otherwise idle machine:

    python tests/benchmarks/bench_recipe.py              # 3 datasets, ~19 min on 2 cores
    python tests/benchmarks/bench_recipe.py --repeats 3  # each pair 3 times, about an hour
    python tests/benchmarks/bench_recipe.py --quick      # smaller data, ~3 min smoke run
    python tests/benchmarks/bench_recipe.py --budget-s 300 --json recipe.json

Datasets (``recipe_datasets.py``): demo shapes, digit-scan mosaics and texture-
photo collages, each with test images from other sources than training.

Equal wall time: a 3-epoch probe run measures each preset's epoch time on the
dataset (training, validation and checkpoint: the time between two epoch
ends), then the run gets as many epochs as fit into ``--budget-s`` (its
schedule is planned for that length, as a user would set it). The actual wall
times are reported beside the scores.

Time to a score: after every epoch a hook evaluates the test split with the
weights the run would keep if it ended there (its best-so-far weights, EMA or
raw), so each run yields a curve of test mAP against wall time; the hook's own
time is left out of the clock. "Time to reach" is the first point of a curve at
or above the seed preset's final test mAP.

Reach: the hook also scores the weights of every epoch as they are, and the
report prints the best of those ("peak") beside the mAP the error target
needs. A peak below the need says no choice of checkpoint in that run could
have met the target; the per-label test AP says which labels hold it back.

Spread: ``--repeats N`` trains each preset N times (training seeds --seed,
--seed+1, …, same data; "rep" in the tables) and reports every pair and
their mean, since one run's score on a small set can move by several points
with the seed.

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
from typing import Any, Iterator

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from recipe_datasets import DATASETS, DataUnavailable, build_dataset  # noqa: E402

from mlcls_gui.core.config import TrainConfig  # noqa: E402
from mlcls_gui.core.presets import PRESET_NAMES, apply_preset  # noqa: E402
from mlcls_gui.core.training.engine import Trainer  # noqa: E402
from mlcls_gui.core.training.engine.hook_base import Hook  # noqa: E402

logger = logging.getLogger("bench")

# Full run: 3 datasets × 2 presets × (probe + budget) ≈ 19 min on 2 cores.
FULL = {"train_images": 400, "test_images": 150, "budget_s": 200.0}
QUICK = {"train_images": 120, "test_images": 48, "budget_s": 15.0}


class TestCurve(Hook):
    """Test mAP of the run's best-so-far weights after every epoch, against wall
    time without this hook's own evaluations."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.own_seconds = 0.0
        self.points: list[tuple[float, int, float]] = []  # (seconds, epoch, test mAP)
        self.epoch_maps: list[float] = []  # test mAP of each epoch's weights as they are
        self._last = math.nan

    def on_epoch_end(self, run: Any, epoch: int, row: dict[str, float], improved: bool) -> None:
        begun = time.monotonic()
        elapsed = begun - self.started - self.own_seconds
        self.epoch_maps.append(self._test_map(run))
        if improved or math.isnan(self._last):
            self._last = self._best_weights_map(run)
        self.points.append((elapsed, epoch, self._last))
        self.own_seconds += time.monotonic() - begun

    @staticmethod
    def _test_map(run: Any) -> float:
        # evaluate() leaves eval mode on; the next epoch sets the train mode again.
        return float(run.evaluate("test", stoppable=False).report.mean_average_precision)

    @staticmethod
    def _best_weights_map(run: Any) -> float:
        state = run.state
        current = {k: v.detach().clone() for k, v in state.model.state_dict().items()}
        if run.best_state is not None:
            state.model.load_state_dict(run.best_state)
        try:
            return TestCurve._test_map(run)
        finally:
            state.model.load_state_dict(current)


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
    training_seed: int = 0
    peak_test_map: float = math.nan  # the best test mAP of any epoch's weights as they were
    test_per_label_ap: dict[str, float | None] = field(default_factory=dict)
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


def train(cfg: TrainConfig, curve: TestCurve) -> tuple[dict[str, Any], float]:
    """The run's summary and its wall seconds without the curve's own evaluations."""
    trainer = Trainer(cfg)
    trainer.hooks.append(curve)
    started = curve.started = time.monotonic()
    result = trainer.run()
    return result.summary, time.monotonic() - started - curve.own_seconds


class EpochClock(Hook):
    """When each epoch ended: the time between two ends is an epoch's whole cost
    (training, validation, checkpoint), which is what a run's length adds up."""

    def __init__(self) -> None:
        self.ends: list[float] = []

    def on_epoch_end(self, run: Any, epoch: int, row: dict[str, float], improved: bool) -> None:
        self.ends.append(time.monotonic())


def plan_epochs(cfg: TrainConfig, preset: str, budget_s: float, work: Path) -> tuple[float, int]:
    """Seconds per epoch and the epochs that fit into ``budget_s``, from a probe of
    three epochs: the mean time between epoch ends after the first (which fills the
    image cache), and what the run spends besides (loading, the test, saving)."""
    clock = EpochClock()
    probe = Trainer(cfg.with_values(n_epochs=3, save_model_folder=str(work / f"probe-{preset}")))
    probe.hooks.append(clock)
    started = time.monotonic()
    probe.run()
    probe_seconds = time.monotonic() - started
    epoch_s = (clock.ends[-1] - clock.ends[0]) / (len(clock.ends) - 1)
    overhead = max(0.0, probe_seconds - len(clock.ends) * epoch_s)
    epochs = max(2, int((budget_s - overhead) / epoch_s))
    logger.info("%s: %.2f s/epoch, %.1f s overhead -> %d epochs for %.0f s", preset, epoch_s, overhead,
                epochs, budget_s)
    return epoch_s, epochs


def run_preset(cfg: TrainConfig, preset: str, epoch_s: float, epochs: int, work: Path) -> RunRecord:
    return record_run(cfg, preset, epoch_s, epochs, work / f"run-{preset}-seed{cfg.seed}")


def record_run(cfg: TrainConfig, preset: str, epoch_s: float, epochs: int, out: Path) -> RunRecord:
    """Train ``epochs`` epochs into ``out`` (removed afterwards) and record the scores and curve."""
    curve = TestCurve()
    summary, seconds = train(cfg.with_values(n_epochs=epochs, save_model_folder=str(out)), curve)
    shutil.rmtree(out, ignore_errors=True)
    return RunRecord(
        preset=preset, epochs=epochs, epoch_seconds=epoch_s, wall_seconds=seconds,
        test_map=float(summary["test_map"]), test_exact_match=float(summary["test_exact_match"]),
        test_macro_f1=float(summary["test_macro_f1"]), best_epoch=int(summary["best_epoch"]),
        reason=str(summary["reason"]), training_seed=cfg.seed,
        peak_test_map=max(curve.epoch_maps, default=math.nan),
        test_per_label_ap=dict(summary.get("test_per_label_ap") or {}), curve=curve.points,
    )


def compare(seed: RunRecord, rec: RunRecord) -> dict[str, Any]:
    seed_error, rec_error = 1 - seed.test_map, 1 - rec.test_map
    cut = (seed_error - rec_error) / seed_error if seed_error > 0 else math.nan
    # The probes plan equal times, but a run can take longer than planned: also read
    # Recommended's curve at the seed run's actual wall time.
    at_seed_wall = [value for t, _e, value in rec.curve if t <= seed.wall_seconds]
    rec_map_at_seed_wall = at_seed_wall[-1] if at_seed_wall else math.nan
    seed_reach = seed.seconds_to_reach(seed.test_map)
    rec_reach = rec.seconds_to_reach(seed.test_map)
    return {
        "map_error_cut": cut,
        "map_error_cut_at_seed_wall": (rec_map_at_seed_wall - seed.test_map) / seed_error if seed_error > 0 else math.nan,
        "map_needed_for_target": 1 - 0.5 * seed_error,
        "seed_seconds_to_seed_map": seed_reach,
        "recommended_seconds_to_seed_map": rec_reach,
        # Against the seed's own time to its final score (its best epoch), and its whole run.
        "time_ratio_to_reach": rec_reach / seed_reach if rec_reach is not None and seed_reach else None,
        "time_ratio_vs_seed_run": rec_reach / seed.wall_seconds if rec_reach is not None else None,
        "meets_error_target": bool(cut >= 0.5),
        "meets_time_target": bool(rec_reach is not None and seed_reach and rec_reach <= 0.4 * seed_reach),
    }


def mean_of_pairs(pairs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each preset's mean scores over the repeats, and the error cut of those means."""
    means: dict[str, Any] = {}
    for preset in ("seed", "recommended"):
        runs = [pair["runs"][preset] for pair in pairs]
        means[preset] = {key: sum(run[key] for run in runs) / len(runs)
                         for key in ("test_map", "test_exact_match", "test_macro_f1", "peak_test_map")}
        means[preset]["test_map_range"] = (min(run["test_map"] for run in runs), max(run["test_map"] for run in runs))
    seed_error = 1 - means["seed"]["test_map"]
    means["map_error_cut"] = (seed_error - (1 - means["recommended"]["test_map"])) / seed_error if seed_error else math.nan
    means["pairs_meeting_error_target"] = sum(pair["comparison"]["meets_error_target"] for pair in pairs)
    means["pairs_meeting_time_target"] = sum(pair["comparison"]["meets_time_target"] for pair in pairs)
    return means


def _fmt(value: float | None, pattern: str = "{:.3f}") -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else pattern.format(value)


def print_table(results: dict[str, dict[str, Any]]) -> None:
    print(f"\n{'dataset':<9} {'rep':>3} {'preset':<12} {'epochs':>7} {'wall s':>7} {'test mAP':>8} {'exact':>6} "
          f"{'macro F1':>8} {'peak':>6} {'s to seed mAP':>13}")
    for name, entry in results.items():
        for pair in entry["pairs"]:
            seed_map = pair["runs"]["seed"]["test_map"]
            for preset, run in pair["runs"].items():
                record = RunRecord(**run)
                ran = f"{len(run['curve'])}/{run['epochs']}"
                print(f"{name:<9} {pair['repeat']:>3} {preset:<12} {ran:>7} {run['wall_seconds']:>7.1f} "
                      f"{run['test_map']:>8.3f} {run['test_exact_match']:>6.3f} {run['test_macro_f1']:>8.3f} "
                      f"{run['peak_test_map']:>6.3f} {_fmt(record.seconds_to_reach(seed_map), '{:.1f}'):>13}")
    print("(epochs: run / planned; peak: the best test mAP of any epoch's weights in that run, whichever the run kept)")
    print("(at seed s: the cut with Recommended's kept weights as they were at the seed run's wall time)")

    print(f"\n{'dataset':<9} {'rep':>3} {'1-mAP cut':>9} {'(target ≥50%)':>13} {'at seed s':>9} {'needs mAP':>9} "
          f"{'time ratio':>10} {'(target ≤0.40)':>14} {'vs seed run':>11}")
    for name, entry in results.items():
        for pair in entry["pairs"]:
            c = pair["comparison"]
            print(f"{name:<9} {pair['repeat']:>3} {_fmt(c['map_error_cut'], '{:.0%}'):>9} "
                  f"{'met' if c['meets_error_target'] else 'MISSED':>13} "
                  f"{_fmt(c['map_error_cut_at_seed_wall'], '{:.0%}'):>9} {c['map_needed_for_target']:>9.3f} "
                  f"{_fmt(c['time_ratio_to_reach'], '{:.2f}'):>10} {'met' if c['meets_time_target'] else 'MISSED':>14} "
                  f"{_fmt(c['time_ratio_vs_seed_run'], '{:.2f}'):>11}")

    repeated = {name: entry for name, entry in results.items() if len(entry["pairs"]) > 1}
    if repeated:
        print(f"\n{'dataset':<9} {'mean test mAP seed':>18} {'recommended':>12} {'(range)':>13} {'1-mAP cut':>9} "
              f"{'pairs meeting: error':>20} {'time':>5}")
        for name, entry in repeated.items():
            m, n = entry["mean"], len(entry["pairs"])
            low, high = m["recommended"]["test_map_range"]
            print(f"{name:<9} {m['seed']['test_map']:>18.3f} {m['recommended']['test_map']:>12.3f} "
                  f"{f'{low:.3f}-{high:.3f}':>13} {_fmt(m['map_error_cut'], '{:.0%}'):>9} "
                  f"{m['pairs_meeting_error_target']:>16} of {n} {m['pairs_meeting_time_target']:>2} of {n}")

    print("\nTest AP per label (the kept weights):")
    for name, entry in results.items():
        for pair in entry["pairs"]:
            for preset, run in pair["runs"].items():
                aps = "  ".join(f"{label} {_fmt(ap, '{:.2f}')}" for label, ap in run["test_per_label_ap"].items())
                print(f"  {name:<9} {pair['repeat']:>3} {preset:<12} {aps}")


def quiet_runs(threads: int) -> None:
    """The console shows the bench's lines; each run logs its epochs into its own train.log."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(lambda record: record.name.startswith("bench") or record.levelno >= logging.WARNING)
    torch.set_num_threads(threads)


def available_datasets(names: list[str], work: Path, sizes: dict[str, Any],
                       image_size: int) -> Iterator[tuple[str, Path]]:
    """Each dataset built under ``work``, by name; one whose sources are missing is skipped with a warning."""
    for name in names:
        try:
            yield name, build_dataset(name, work / "data", train_images=sizes["train_images"],
                                      test_images=sizes["test_images"], image_size=image_size, work=work)
        except DataUnavailable as exc:
            logger.warning("Skipping %s: %s", name, exc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller data and budget: a ~3 min smoke run")
    parser.add_argument("--budget-s", type=float, help="wall seconds per run (default 200; quick 15)")
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--image-size", type=int, default=48)
    parser.add_argument("--seed", type=int, default=42, help="training seed (of the first repeat)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="train each preset this many times, with training seeds --seed, --seed+1, …")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--presets-json", metavar="FILE",
                        help='extra field values per preset, e.g. {"recommended": {"learning_rate": 0.002}}')
    parser.add_argument("--json", dest="json_file", metavar="FILE", help="write every figure and curve")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    quiet_runs(args.threads)
    sizes = dict(QUICK if args.quick else FULL)
    budget = args.budget_s or sizes["budget_s"]
    overrides = json.loads(Path(args.presets_json).read_text()) if args.presets_json else {}
    assert {"seed", "recommended"} <= set(PRESET_NAMES)

    work = Path(tempfile.mkdtemp(prefix="mlcls-bench-recipe-"))
    results: dict[str, dict[str, Any]] = {}
    started = time.monotonic()
    try:
        for name, root in available_datasets(args.datasets, work, sizes, args.image_size):
            configs = {preset: preset_config(base_config(root, work / "out", args), preset, overrides)
                       for preset in ("seed", "recommended")}
            plans = {preset: plan_epochs(cfg, preset, budget, work / name) for preset, cfg in configs.items()}
            pairs = []
            for repeat in range(args.repeats):
                runs = {}
                for preset, cfg in configs.items():
                    runs[preset] = run_preset(cfg.with_values(seed=args.seed + repeat), preset, *plans[preset],
                                              work / name)
                    logger.info("%s %s (seed %d): test mAP %.3f in %.1f s", name, preset, args.seed + repeat,
                                runs[preset].test_map, runs[preset].wall_seconds)
                pairs.append({"repeat": repeat + 1, "training_seed": args.seed + repeat,
                              "runs": {p: asdict(r) for p, r in runs.items()},
                              "comparison": compare(runs["seed"], runs["recommended"])})
            results[name] = {"pairs": pairs, "mean": mean_of_pairs(pairs)}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_table(results)
    print(f"\nBudget {budget:.0f} s per run, {args.arch} from random weights, {args.image_size} px, "
          f"{args.threads} threads, {args.repeats} repeat(s); total {time.monotonic() - started:.0f} s.")
    if args.json_file:
        Path(args.json_file).write_text(json.dumps(
            {"budget_s": budget, "arch": args.arch, "image_size": args.image_size, "sizes": sizes,
             "repeats": args.repeats, "overrides": overrides, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
