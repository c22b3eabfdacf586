"""The same images as label folders and as a CSV train alike; unknown cells
change the loss mask and the metrics' mask, never the labels or the split."""

from __future__ import annotations

import csv
import json
import math
import os
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_config

from mlcls_gui.core.data.audit import audit_dataset
from mlcls_gui.core.data.dataset import scan_data_root
from mlcls_gui.core.data.loaders import DecodedImageDataset
from mlcls_gui.core.evaluation.metrics import compute_metrics, exact_match_count
from mlcls_gui.core.evaluation.thresholds import tune_thresholds
from mlcls_gui.core.ops.evaluate import evaluate_model_file
from mlcls_gui.core.training.engine import Trainer
from mlcls_gui.core.training.resume import split_fingerprint


@pytest.fixture()
def data(tiny_root: Path, tmp_path: Path) -> Path:
    """A copy of the tiny label-folder set (the CSVs go beside it, not into it)."""
    return Path(shutil.copytree(tiny_root, tmp_path / "data"))


def _write_csv(path: Path, folder: Path, *, columns: bool, unknown: set[tuple[str, str]] = frozenset(),
               shuffle_seed: int = 0) -> Path:
    """Every image of the label folders under ``folder`` as a CSV row (rows
    shuffled: the file's order must not matter). ``unknown`` holds
    (file name, label) cells to leave empty."""
    labels = sorted({part for d in folder.iterdir() for part in d.name.split("+")})
    rows = []
    for image in sorted(folder.rglob("*.png")):
        rel = os.path.relpath(image, path.parent)
        carried = image.parent.name.split("+")
        if columns:
            rows.append([rel] + ["" if (image.name, label) in unknown else str(int(label in carried))
                                 for label in labels])
        else:
            rows.append([rel, "|".join(carried)])
    random.Random(shuffle_seed).shuffle(rows)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path"] + (labels if columns else ["labels"]))
        writer.writerows(rows)
    return path


def _train(root: Path, out: Path, **changes) -> tuple[dict, list[dict]]:
    cfg = tiny_config(root, out, arch="tiny_cnn", n_epochs=2, seed=7, **changes)
    Trainer(cfg).run()
    summary = json.loads((out / "summary.json").read_text())
    with open(out / "metrics.csv", newline="") as handle:
        history = [{k: v for k, v in row.items() if k not in ("epoch_seconds", "images_per_second")}
                   for row in csv.DictReader(handle)]
    return summary, history


def test_folders_and_csv_scan_to_the_same_split(data, tmp_path):
    folder = scan_data_root(data, val_fraction=0.2, test_fraction=0.2, seed=7)
    for columns in (False, True):
        path = _write_csv(tmp_path / f"set{int(columns)}.csv", data, columns=columns, shuffle_seed=int(columns))
        from_csv = scan_data_root(path, val_fraction=0.2, test_fraction=0.2, seed=7)
        assert from_csv.layout == "csv" and from_csv.labels == folder.labels
        for name in ("train", "val", "test"):
            assert from_csv.split(name) == folder.split(name), name
        # Paths are hashed relative to the CSV's folder, so a moved set still matches.
        assert split_fingerprint(from_csv)["train"]["images"] == len(folder.train)


def test_folders_and_csv_train_to_the_same_metrics(data, tmp_path):
    folder_summary, folder_history = _train(data, tmp_path / "out_folders")
    path = _write_csv(tmp_path / "labels.csv", data, columns=True, shuffle_seed=3)
    csv_summary, csv_history = _train(path, tmp_path / "out_csv")
    assert csv_history == folder_history
    for key in ("test_exact_match", "test_map", "test_macro_f1", "best_epoch", "thresholds"):
        assert csv_summary[key] == folder_summary[key], key
    # The CSV root is evaluated like the folder root, by the command-line's evaluation.
    model = tmp_path / "out_csv" / "final_model.pt"
    on_csv = evaluate_model_file(model, path, split="test")
    on_folders = evaluate_model_file(model, data, split="test")
    assert on_csv.at_thresholds.to_dict() == on_folders.at_thresholds.to_dict()
    assert on_csv.source["data_root"] == str(path.resolve())


def test_unknown_cells_change_the_loss_mask_not_the_labels(data, tmp_path):
    images = sorted(data.rglob("*.png"))
    # Cells known as 0 become unknown: 'cross' for every circle-only image.
    hidden = {(p.name, "cross") for p in images if p.parent.name == "circle"}
    known = _write_csv(tmp_path / "known.csv", data, columns=True)
    partial = _write_csv(tmp_path / "partial.csv", data, columns=True, unknown=hidden)
    a = scan_data_root(known, val_fraction=0.2, test_fraction=0.2, seed=7)
    b = scan_data_root(partial, val_fraction=0.2, test_fraction=0.2, seed=7)
    assert b.labels == a.labels
    for name in ("train", "val", "test"):
        assert [(s.path, s.labels) for s in b.split(name)] == [(s.path, s.labels) for s in a.split(name)]
    targets_a = DecodedImageDataset(a.train, a.labels, 32).targets
    targets_b = DecodedImageDataset(b.train, b.labels, 32).targets
    mask = torch.isnan(targets_b)
    cross = a.labels.index("cross")
    expected = torch.tensor([[Path(s.path).parent.name == "circle" and j == cross for j in range(len(a.labels))]
                             for s in b.train])
    assert mask.any() and torch.equal(mask, expected)
    assert torch.equal(targets_a[~mask], targets_b[~mask]) and (targets_a[mask] == 0).all()
    summary = b.summary()
    assert summary.unknown_counts["cross"] == len(hidden) and summary.unknown_cells == len(hidden)
    assert audit_dataset(b, check_duplicates=False).unknown_counts["cross"] == len(hidden)
    # Training sees the mask: the same seed gives other losses, the same labels.
    _, history_a = _train(known, tmp_path / "out_a")
    summary_b, history_b = _train(partial, tmp_path / "out_b")
    assert history_a[0]["train_loss"] != history_b[0]["train_loss"]
    assert set(summary_b["test_per_label_ap"]) == set(a.labels)
    report = evaluate_model_file(tmp_path / "out_b" / "final_model.pt", partial, split="all")
    assert any("unknown" in w for w in report.warnings)
    circle_rows = [img for img in report.to_dict()["images"] if "/circle/" in img["path"].replace(os.sep, "/")]
    assert circle_rows and all(img["unknown"] == ["cross"] for img in circle_rows)


def test_metrics_leave_unknown_entries_out():
    rng = np.random.default_rng(0)
    probs = rng.random((40, 3))
    truth = (rng.random((40, 3)) > 0.5).astype(np.float64)
    holes = rng.random((40, 3)) < 0.3
    targets = truth.copy()
    targets[holes] = np.nan
    report = compute_metrics(probs, targets, ["a", "b", "c"], [0.4, 0.5, 0.6])
    for j, metrics in enumerate(report.per_label):
        keep = ~holes[:, j]
        alone = compute_metrics(probs[keep][:, [j]], truth[keep][:, [j]], ["x"], [0.4, 0.5, 0.6][j]).per_label[0]
        assert (metrics.precision, metrics.recall, metrics.f1, metrics.support) == (
            alone.precision, alone.recall, alone.f1, alone.support)
        assert metrics.average_precision == pytest.approx(alone.average_precision)
    predicted = probs >= np.array([0.4, 0.5, 0.6])
    wrong = (predicted != (truth >= 0.5)) & ~holes
    assert report.hamming_loss == pytest.approx(wrong.sum() / (~holes).sum())
    assert report.exact_match == pytest.approx((~wrong.any(axis=1)).mean())
    # Filled with wrong answers, the holes would count.
    flipped = np.where(holes, 1 - (predicted.astype(float)), truth)
    assert compute_metrics(probs, flipped, ["a", "b", "c"], [0.4, 0.5, 0.6]).exact_match < report.exact_match


def test_exact_match_and_thresholds_mask_unknown_entries():
    logits = np.array([[2.0, -1.0], [2.0, 3.0], [-2.0, -3.0]])
    targets = np.array([[1.0, np.nan], [1.0, 0.0], [np.nan, np.nan]])
    # Row 0: the known label is right; row 1: one known label wrong; row 2: nothing known.
    assert exact_match_count(logits, targets) == 2
    assert exact_match_count(logits, np.nan_to_num(targets, nan=1.0)) == 0
    probs = np.linspace(0.05, 0.95, 31)[:, None]
    truth = (probs > 0.6).astype(np.float64)
    assert tune_thresholds(probs, truth)[0] > 0.6  # the negatives just below 0.6 push it up
    masked = truth.copy()
    near = (probs > 0.3) & (probs < 0.6)
    masked[near] = np.nan  # unknown: the fit must not see them, so 0.5 separates as well
    keep = ~near[:, 0]
    assert tune_thresholds(probs, masked) == tune_thresholds(probs[keep], truth[keep]) == [0.5]
    everything_unknown = np.full_like(truth, np.nan)
    assert tune_thresholds(probs, everything_unknown) == [0.5]
    assert math.isnan(compute_metrics(probs, everything_unknown, ["a"]).hamming_loss)
