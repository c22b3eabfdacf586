"""The labelling queue: suggestions from a model or a linear probe, and its three orders."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import tiny_config

from mlcls_gui.core.data.demo import write_demo_dataset
from mlcls_gui.core.errors import DatasetError
from mlcls_gui.core.labelling.ordering import at_random, by_diversity, by_uncertainty, threshold_margins
from mlcls_gui.core.labelling.probe import fit_probe
from mlcls_gui.core.labelling.queue import build_queue
from mlcls_gui.core.training.engine import Trainer


def test_uncertainty_puts_a_label_nearest_its_threshold_first():
    probabilities = np.array([[0.99, 0.01], [0.52, 0.02], [0.9, 0.35]])
    thresholds = np.array([0.5, 0.4])
    assert list(by_uncertainty(probabilities, thresholds)) == [1, 2, 0]
    assert threshold_margins(np.array([[0.5, 0.9]]), np.array([0.5, 0.5]))[0] == pytest.approx(0.0, abs=1e-6)


def test_diversity_asks_about_the_unlike_image_before_near_copies_of_the_labelled():
    labelled = np.array([[1.0, 0.0, 0.0]])
    pool = np.array([[0.99, 0.05, 0.0], [0.0, 0.0, 1.0], [0.98, 0.0, 0.1], [0.0, 1.0, 0.0]])
    order = list(by_diversity(pool, labelled))
    assert set(order[:2]) == {1, 3} and sorted(order) == [0, 1, 2, 3]
    assert sorted(at_random(5, seed=1)) == [0, 1, 2, 3, 4]


def test_the_probe_learns_a_separable_label_and_gives_a_one_class_label_its_share():
    features = np.array([[1.0, 0.1], [0.9, 0.0], [0.1, 1.0], [0.0, 0.9]])
    targets = np.array([[1, 1], [1, 1], [0, 1], [0, 1]])
    probe = fit_probe(features, targets, ["cat", "always"])
    p = probe.probabilities(np.array([[1.0, 0.05], [0.05, 1.0]]))
    assert p[0, 0] > 0.5 > p[1, 0] and np.allclose(p[:, 1], 1.0)


@pytest.fixture
def root_with_unlabelled(tmp_path: Path) -> Path:
    root = write_demo_dataset(tmp_path / "data", images_per_folder=6, image_size=64)
    waiting = root / "unlabelled"
    waiting.mkdir()
    for folder in ("circle", "square", "triangle"):
        source = sorted((root / folder).glob("*.png"))[-1]
        shutil.move(source, waiting / f"{folder}_new.png")
    (waiting / "broken.png").write_bytes(b"not an image")
    return root


def test_without_a_model_a_probe_on_pretrained_features_suggests_the_labels(root_with_unlabelled: Path):
    queue = build_queue(root_with_unlabelled, order="uncertainty")
    assert "linear probe" in queue.source and len(queue) == 3 and list(queue.unreadable) == [
        str(root_with_unlabelled / "unlabelled" / "broken.png")]
    right = sum(Path(item.path).stem.split("_")[0] in item.suggested for item in queue.items)
    assert right >= 2, [(Path(i.path).name, i.suggested) for i in queue.items]
    margins = [item.margin for item in queue.items]
    assert margins == sorted(margins)
    diverse = build_queue(root_with_unlabelled, order="diversity")
    assert sorted(i.path for i in diverse.items) == sorted(i.path for i in queue.items)


def test_a_model_file_gives_the_suggestions_and_its_thresholds(root_with_unlabelled: Path, tmp_path: Path):
    result = Trainer(tiny_config(root_with_unlabelled, tmp_path / "out", image_size=32, n_epochs=1)).run()
    queue = build_queue(root_with_unlabelled, model=result.final_model_path, order="random")
    assert queue.source.startswith("the model") and len(queue) == 3
    assert all(len(item.confidences) == len(queue.labels) for item in queue.items)
    item = queue.items[0]
    assert set(item.suggested) == {label for label, p, t in zip(queue.labels, item.confidences, queue.thresholds)
                                   if not math.isnan(p) and p >= t}


def test_a_root_without_unlabelled_images_says_where_to_put_them(tmp_path: Path):
    root = write_demo_dataset(tmp_path / "plain", images_per_folder=2, image_size=16)
    with pytest.raises(DatasetError, match="no unlabelled images.*unlabelled"):
        build_queue(root)
