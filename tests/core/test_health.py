"""Data health: near copies across the split and with other labels, outliers, the map,
the JSON report and the CLI. Features from the ImageNet weights a package ships."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mlcls_gui.cli import main
from mlcls_gui.core.data.demo import write_demo_dataset
from mlcls_gui.core.health import findings
from mlcls_gui.core.health.check import HealthOptions, check_health
from mlcls_gui.core.health.findings import find_issues
from mlcls_gui.core.health.report import REPORT_FORMAT

FAST = HealthOptions(image_size=96)


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """train/ and test/ folders; one training image copied into test (same labels), one into
    another label folder of train (other labels), and one blank frame."""
    root = tmp_path_factory.mktemp("health") / "data"
    write_demo_dataset(root / "train", images_per_folder=6, seed=1)
    write_demo_dataset(root / "test", images_per_folder=2, seed=2)
    source = sorted((root / "train" / "circle+square").glob("*.png"))[0]
    shutil.copy2(source, root / "test" / "circle+square" / "leaked.png")
    other = sorted((root / "train" / "cross").glob("*.png"))[0]
    shutil.copy2(other, root / "train" / "triangle" / "relabelled.png")
    Image.new("RGB", (64, 64), (250, 250, 250)).save(root / "train" / "square" / "blank.png")
    return root


def test_the_groups_say_which_cross_the_split_and_which_disagree_on_labels(planted: Path) -> None:
    report = check_health(planted, FAST)
    by_path = {frozenset(report.images[i].path for i in group.images): group for group in report.groups}
    leaked = by_path[frozenset({"train/circle+square/circle_square_000.png", "test/circle+square/leaked.png"})]
    assert leaked.crosses_splits and not leaked.labels_differ and leaked.sureness > 0.9
    relabelled = by_path[frozenset({"train/cross/cross_000.png", "train/triangle/relabelled.png"})]
    assert relabelled.labels_differ and not relabelled.crosses_splits
    counts = report.counts()
    assert counts["test_images_with_a_copy_in_train"] >= 1 and counts["groups_with_different_labels"] >= 1
    assert any("test image(s) have a near copy in train" in line for line in report.summary_lines())
    assert report.split == {"given": "train/val/test folders"}
    # Every image ranked once, most unusual first; a map point for each.
    assert sorted(o.image for o in report.outliers) == list(range(len(report.images)))
    scores = [o.score for o in report.outliers]
    assert scores == sorted(scores) and len(report.map_xy) == len(report.images)


def test_the_report_file_and_the_cli(planted: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "health.json"
    assert main(["health", str(planted), "--json", str(out), "--image-size", "96", "--top", "3"]) == 0
    printed = capsys.readouterr().out
    assert "near copy in train" in printed and "LEAK" in printed and f"JSON: {out}" in printed
    data = json.loads(out.read_text())
    assert data["format"] == REPORT_FORMAT and data["root"] == str(planted)
    assert len(data["map"]["points"]) == len(data["images"]) == data["counts"]["images"]
    group = next(g for g in data["groups"] if "test/circle+square/leaked.png" in g["images"])
    assert group["crosses_splits"] and set(group["splits"]) == {"train", "test"}
    assert all(not Path(path).is_absolute() for g in data["groups"] for path in g["images"])
    # A report never replaces a file of the data set (exit 2, before any work).
    image = planted / "train" / "square" / "blank.png"
    before = image.read_bytes()
    assert main(["health", str(planted), "--json", str(image)]) == 2
    assert image.read_bytes() == before


def test_groups_are_connected_copies_and_small_clusters_are_not_groups() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(200, 32)).astype(np.float32)
    vectors[10] = vectors[3] + 0.01 * rng.normal(size=32)
    vectors[11] = vectors[10] + 0.01 * rng.normal(size=32)  # a copy of the copy joins the group
    found = find_issues(vectors, threshold=0.13)
    assert [sorted(group.members) for group in found.groups] == [[3, 10, 11]]
    assert found.outlier_scores.shape == (200,) and found.outlier_flags.dtype == bool


def test_three_copies_stay_one_group_and_a_look_alike_as_near_as_its_neighbours_is_not_linked(
        monkeypatch) -> None:
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(300, 32)).astype(np.float32)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    radius = findings.NEAR_DUPLICATE_THRESHOLD * np.median(
        np.sort(1 - unit @ unit.T, axis=1)[:, 1])  # the radius Datalab uses (cosine distance)

    def at_distance(row: int, distance: float) -> np.ndarray:
        """A vector at this cosine distance from ``row``."""
        away = rng.normal(size=32)
        away -= (away @ unit[row]) * unit[row]
        return (1 - distance) * unit[row] + np.sqrt(1 - (1 - distance) ** 2) * away / np.linalg.norm(away)

    vectors[40], vectors[41] = at_distance(5, 0.2 * radius), at_distance(5, 0.25 * radius)  # two copies of 5
    # A look-alike of image 7 inside the radius, while 7 has another neighbour just outside
    # it and hardly farther: no clear pair, no link.
    vectors[8], vectors[9] = at_distance(7, 0.9 * radius), at_distance(7, 1.1 * radius)
    groups = [sorted(group.members) for group in find_issues(vectors).groups]
    assert [5, 40, 41] in groups
    assert not any(7 in group for group in groups), groups
    # Without the ratio test the radius alone links the look-alike (the test can fail).
    monkeypatch.setattr(findings, "RATIO", 99.0)
    assert any(7 in group.members for group in find_issues(vectors).groups)


def test_an_exported_model_is_refused_with_what_to_use(planted: Path, tmp_path: Path) -> None:
    from mlcls_gui.core.errors import ConfigError

    fake = tmp_path / "model.onnx"
    fake.write_bytes(b"not really onnx")
    with pytest.raises((ConfigError, Exception)) as caught:
        check_health(planted, HealthOptions(model=str(fake)))
    assert "onnx" in str(caught.value).lower()


def test_a_cancel_after_the_features_ends_the_check_before_datalab(planted: Path) -> None:
    from mlcls_gui.core.review.label_review import ReviewCancelled

    seen: list[tuple[int, int, str]] = []

    def should_stop() -> bool:  # Cancel pressed once every feature is computed
        return bool(seen) and seen[-1][2] == "Computing image features" and seen[-1][0] == seen[-1][1] > 0

    with pytest.raises(ReviewCancelled):
        check_health(planted, FAST, on_progress=lambda done, total, stage="": seen.append((done, total, stage)),
                     should_stop=should_stop)
    assert seen[-1][2] == "Computing image features" and not any("Datalab" in stage for *_n, stage in seen)
