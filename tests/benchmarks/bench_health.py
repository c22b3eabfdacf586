"""Data health on sets with planted problems: near copies across the split, off-domain
outliers, and what a leaking split does to a test score.

Run on demand (not part of the unit suite), on an otherwise idle machine:

    python tests/benchmarks/bench_health.py                 # ~600 images, a few minutes
    python tests/benchmarks/bench_health.py --images 5000   # the time for 5,000 images
    python tests/benchmarks/bench_health.py --leak-run      # also train on a leaking vs a group-aware split

The base set is recipe_datasets' "objects" (pictures of everyday objects on
texture photos; Debian icon themes and gimp-data, fetched with apt-get
download when missing), in train/val/test folders. Planted:

* near copies: a share of the training images copied into val or test (with
  their labels), each made one of three ways: resized (55-80 %), cropped
  (80-92 % of the area, off-centre), or re-saved as JPEG (quality 25-50);
* outliers: images from elsewhere put into the training label folders:
  blank frames, screenshots of text, handwritten-digit mosaics (scikit-learn's
  ``load_digits``), noise.

Reported: recall and precision of the planted cross-split pairs (a pair is
found when both images are in one group; precision counts the found
cross-split pairs that were planted) at several thresholds from one feature
extraction, the planted outliers' recall among the top-ranked outliers and
among Datalab's flags, and the seconds of each stage. ``--leak-run`` trains
one small model twice on a label-folder copy with many near copies: once on
the seeded split (copies leak into test) and once with ``split_groups`` set to
the report (each group in one split), and prints both test scores.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent))

from recipe_datasets import build_dataset  # noqa: E402

from mlcls_gui.core.health.check import HealthOptions, check_health  # noqa: E402
from mlcls_gui.core.health.features import image_features  # noqa: E402
from mlcls_gui.core.health.findings import find_issues  # noqa: E402

logger = logging.getLogger("bench.health")
THRESHOLDS = (0.13, 0.4, 0.5, 0.6, 0.7)
OUTLIER_K = (10, 20, 40)
COPY_KINDS = ("resized", "cropped", "jpeg")
OUTLIER_KINDS = ("blank", "screenshot", "digits", "noise")


def plant_copies(root: Path, share: float, rng: np.random.Generator) -> list[tuple[str, str, str]]:
    """Copy ``share`` of the training images into val or test; (source, copy, kind) paths."""
    sources = sorted((root / "train").rglob("*.png"))
    chosen = rng.choice(len(sources), size=max(1, int(share * len(sources))), replace=False)
    planted = []
    for number, index in enumerate(sorted(chosen)):
        source = sources[index]
        kind = COPY_KINDS[number % len(COPY_KINDS)]
        split = ("val", "test")[number % 2]
        folder = root / split / source.parent.name
        folder.mkdir(parents=True, exist_ok=True)
        image = Image.open(source).convert("RGB")
        w, h = image.size
        if kind == "resized":
            scale = rng.uniform(0.55, 0.8)
            copy, name = image.resize((int(w * scale), int(h * scale)), Image.Resampling.BILINEAR), "png"
        elif kind == "cropped":
            side = np.sqrt(rng.uniform(0.8, 0.92))
            cw, ch = int(w * side), int(h * side)
            left, top = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
            copy, name = image.crop((left, top, left + cw, top + ch)), "png"
        else:
            copy, name = image, "jpg"
        target = folder / f"copy_{number:05d}.{name}"
        copy.save(target, **({"quality": int(rng.integers(25, 51))} if name == "jpg" else {}))
        planted.append((str(source), str(target), kind))
    return planted


def plant_outliers(root: Path, count: int, size: int, rng: np.random.Generator) -> list[tuple[str, str]]:
    """Off-domain images in the training label folders; (path, kind)."""
    from sklearn.datasets import load_digits

    digits = load_digits().images
    folders = sorted(p for p in (root / "train").iterdir() if p.is_dir())
    planted = []
    for number in range(count):
        kind = OUTLIER_KINDS[number % len(OUTLIER_KINDS)]
        if kind == "blank":
            image = Image.new("RGB", (size, size), tuple(int(v) for v in rng.integers(0, 256, 3)))
        elif kind == "screenshot":
            image = Image.new("RGB", (size, size), "white")
            draw = ImageDraw.Draw(image)
            for line in range(0, size, 12):
                draw.text((4, line), " ".join("lorem ipsum dolor"[int(rng.integers(0, 12)):].split()), fill="black")
            draw.rectangle((0, 0, size - 1, 10), fill=(60, 90, 200))
        elif kind == "digits":
            cells = [digits[int(rng.integers(len(digits)))] for _ in range(4)]
            mosaic = np.vstack([np.hstack(cells[:2]), np.hstack(cells[2:])])
            image = Image.fromarray((mosaic * 255 / 16).astype(np.uint8)).convert("RGB").resize((size, size))
        else:
            image = Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
        target = folders[number % len(folders)] / f"outlier_{number:04d}.png"
        image.save(target)
        planted.append((str(target), kind))
    return planted


def pair_scores(groups: list, paths: list[str], splits: dict[str, str],
                planted: list[tuple[str, str, str]]) -> dict[str, float]:
    """Recall of the planted pairs (per kind too), precision of the found cross-split pairs."""
    group_of = {paths[member]: number for number, group in enumerate(groups) for member in group.members}
    found_pairs = {frozenset((paths[a], paths[b])) for group in groups
                   for a, b in itertools.combinations(group.members, 2)
                   if splits[paths[a]] != splits[paths[b]]}
    planted_pairs = {frozenset((source, copy)) for source, copy, _ in planted}
    hits = {kind: 0 for kind in COPY_KINDS}
    for source, copy, kind in planted:
        if source in group_of and group_of[source] == group_of.get(copy):
            hits[kind] += 1
    scores = {"recall": sum(hits.values()) / len(planted)}
    for kind in COPY_KINDS:
        total = sum(1 for *_p, k in planted if k == kind)
        scores[f"recall {kind}"] = hits[kind] / max(1, total)
    scores["precision"] = len(found_pairs & planted_pairs) / max(1, len(found_pairs))
    scores["found pairs"] = len(found_pairs)
    return scores


def bench_detection(args: argparse.Namespace, work: Path) -> dict:
    rng = np.random.default_rng(args.seed)
    started = time.monotonic()
    root = build_dataset("objects", work / "data", train_images=int(args.images * 0.7),
                         test_images=int(args.images * 0.15), image_size=args.image_size, work=work / "cache",
                         seed=args.seed)
    planted = plant_copies(root, args.copy_share, rng)
    outliers = plant_outliers(root, args.outliers, args.image_size, rng)
    built = time.monotonic() - started
    paths = sorted(str(p) for p in root.rglob("*") if p.suffix in (".png", ".jpg"))
    splits = {path: Path(path).relative_to(root).parts[0] for path in paths}
    started = time.monotonic()
    features = image_features(paths, image_size=args.extractor_size)
    extracted = time.monotonic() - started
    rows = {}
    datalab_seconds = 0.0
    for threshold in THRESHOLDS:
        started = time.monotonic()
        found = find_issues(features.vectors, layout_vectors=features.layout_vectors, threshold=threshold)
        datalab_seconds = time.monotonic() - started
        rows[threshold] = pair_scores(found.groups, features.paths, splits, planted)
    planted_outliers = {path for path, _ in outliers}
    outlier_rows = {}
    for k in OUTLIER_K:
        found = find_issues(features.vectors, outlier_neighbours=k)
        order = np.argsort(found.outlier_scores)
        top = {features.paths[i] for i in order[:len(outliers)]}
        flagged = {features.paths[i] for i in np.flatnonzero(found.outlier_flags)}
        row = {
            "recall in top N": len(top & planted_outliers) / len(planted_outliers),
            "recall of flags": len(flagged & planted_outliers) / len(planted_outliers),
            "precision of flags": len(flagged & planted_outliers) / max(1, len(flagged)),
            "flagged": len(flagged),
        }
        for kind in OUTLIER_KINDS:
            kind_paths = {path for path, kind_of in outliers if kind_of == kind}
            row[f"top-N {kind}"] = len(top & kind_paths) / max(1, len(kind_paths))
        outlier_rows[k] = row
    started = time.monotonic()
    report = check_health(root, HealthOptions(image_size=args.extractor_size))
    whole = time.monotonic() - started
    print(f"\nSet: {len(paths)} images ({len(planted)} planted cross-split copies, {len(outliers)} planted "
          f"outliers), built in {built:.0f} s; features ({features.source}) in {extracted:.1f} s "
          f"({1000 * extracted / len(paths):.1f} ms an image); Datalab in {datalab_seconds:.1f} s; "
          f"the whole check_health (scan, features, Datalab, PCA map) in {whole:.1f} s.")
    print("\n| threshold | recall | resized | cropped | JPEG | precision | cross-split pairs found |")
    print("|---|---|---|---|---|---|---|")
    for threshold, row in rows.items():
        print(f"| {threshold:g} | {row['recall']:.3f} | {row['recall resized']:.3f} | {row['recall cropped']:.3f} | "
              f"{row['recall jpeg']:.3f} | {row['precision']:.3f} | {row['found pairs']} |")
    print("\n| outlier k | recall in top N | flags: recall | precision | flagged | " +
          " | ".join(f"top-N {kind}" for kind in OUTLIER_KINDS) + " |")
    print("|---" * (5 + len(OUTLIER_KINDS)) + "|")
    for k, row in outlier_rows.items():
        print(f"| {k} | {row['recall in top N']:.3f} | {row['recall of flags']:.3f} | {row['precision of flags']:.3f} | "
              f"{row['flagged']} | " + " | ".join(f"{row[f'top-N {kind}']:.3f}" for kind in OUTLIER_KINDS) + " |")
    print("check_health: " + " ".join(report.summary_lines()))
    return {"images": len(paths), "planted_copies": len(planted), "planted_outliers": len(outliers),
            "feature_seconds": extracted, "datalab_seconds": datalab_seconds, "check_seconds": whole,
            "pairs": {str(k): v for k, v in rows.items()}, "outliers": {str(k): v for k, v in outlier_rows.items()}}


def bench_leak(args: argparse.Namespace, work: Path) -> dict:
    """The same small run on a leaking seeded split and on the group-aware one."""
    from mlcls_gui.core.config import TrainConfig
    from mlcls_gui.core.training.engine import Trainer

    rng = np.random.default_rng(args.seed + 1)
    base = build_dataset("objects", work / "leak-data", train_images=args.leak_images, test_images=8,
                         image_size=args.image_size, work=work / "cache", seed=args.seed + 1)
    root = work / "leak-root"  # label folders only: the seeded split decides where copies land
    for image in sorted((base / "train").rglob("*.png")):
        folder = root / image.parent.name
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy2(image, folder / image.name)
        for copy_number in range(2 if rng.random() < args.leak_share else 0):
            kind = COPY_KINDS[int(rng.integers(len(COPY_KINDS)))]
            picture = Image.open(image).convert("RGB")
            if kind == "resized":
                picture = picture.resize((int(picture.width * 0.7), int(picture.height * 0.7)))
            elif kind == "cropped":
                picture = picture.crop((6, 6, picture.width - 6, picture.height - 6))
            picture.save(folder / f"{image.stem}_copy{copy_number}.{'jpg' if kind == 'jpeg' else 'png'}",
                         **({"quality": 40} if kind == "jpeg" else {}))
    report_path = work / "leak-health.json"
    report = check_health(root, HealthOptions(image_size=args.extractor_size, seed=args.seed))
    report.write_json(report_path)
    print("\nLeak run data: " + " ".join(report.summary_lines()))
    results = {}
    for name, groups in (("seeded split (leaking)", ""), ("group-aware split", str(report_path))):
        config = TrainConfig(images_root=str(root), save_model_folder=str(work / f"out-{len(results)}"),
                             arch=args.leak_arch, image_size=64, n_epochs=args.leak_epochs,
                             early_stop_epoch_limit=args.leak_epochs, batch_size=16, pretrained=False,
                             device="cpu", seed=args.seed, split_groups=groups)
        result = Trainer(config).run()
        summary = json.loads((Path(result.output_dir) / "summary.json").read_text())
        results[name] = {key: summary.get(key) for key in ("test_map", "test_macro_f1", "test_exact_match")}
        print(f"{name}: test mAP {summary.get('test_map')}, macro F1 {summary.get('test_macro_f1')}")
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=600, help="images of the base set (before planting)")
    parser.add_argument("--image-size", type=int, default=160, help="size of the base set's images")
    parser.add_argument("--extractor-size", type=int, default=160, help="the pretrained extractor's input size")
    parser.add_argument("--copy-share", type=float, default=0.1, help="share of training images copied across")
    parser.add_argument("--outliers", type=int, default=24)
    parser.add_argument("--leak-run", action="store_true")
    parser.add_argument("--leak-images", type=int, default=300)
    parser.add_argument("--leak-share", type=float, default=0.4, help="share of images given two near copies")
    parser.add_argument("--leak-epochs", type=int, default=12)
    parser.add_argument("--leak-arch", default="resnet18")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="write the figures as JSON")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    with tempfile.TemporaryDirectory(prefix="bench-health-") as folder:
        work = Path(folder)
        figures = {"detection": bench_detection(args, work)}
        if args.leak_run:
            figures["leak"] = bench_leak(args, work)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
