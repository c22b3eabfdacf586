"""The fast paths keep results equivalent to the seed's plain pipeline."""

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_config
from PIL import Image
from torchvision import transforms as T

from mlcls_gui.core.data.batch_transforms import BatchTransform
from mlcls_gui.core.data.cache import CacheBudget, FeatureStore, ImageCache
from mlcls_gui.core.data.imagenet import IMAGENET_MEAN, IMAGENET_STD
from mlcls_gui.core.data.images import load_rgb, load_rgb_resized
from mlcls_gui.core.data.loaders import pil_to_uint8_tensor
from mlcls_gui.core.inference.predict import Predictor
from mlcls_gui.core.training.engine import Trainer
from mlcls_gui.core.training.precision import choose_precision


def _photo(path: Path, size=(400, 300)) -> Path:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size[1], 0:size[0]]
    pixels = np.stack([xx % 256, yy % 256, (xx + yy) % 256], -1) + rng.normal(0, 3, (size[1], size[0], 3))
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path, quality=95)
    return path


def _seed_eval_transform(image_size: int) -> T.Compose:
    """The seed script's evaluation transform, as it wrote it."""
    return T.Compose([T.Resize((image_size, image_size)), T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])


def test_batch_eval_transform_equals_the_seeds(tmp_path):
    path = _photo(tmp_path / "p.jpg")
    seed = _seed_eval_transform(64)(load_rgb(path))
    ours = BatchTransform(torch.device("cpu"))(
        pil_to_uint8_tensor(load_rgb_resized(path, 64, fast_decode=False))[None], augment=False)[0]
    assert torch.allclose(ours, seed, atol=1e-5)


def test_fast_decode_is_close_to_full_decode(tmp_path):
    path = _photo(tmp_path / "big.jpg", (1600, 1200))
    full = np.asarray(load_rgb_resized(path, 224, fast_decode=False), dtype=np.float32)
    fast = np.asarray(load_rgb_resized(path, 224, fast_decode=True), dtype=np.float32)
    assert fast.shape == full.shape == (224, 224, 3)
    assert np.abs(fast - full).mean() < 3.0  # a few grey levels of resampling difference


def test_augmentation_flips_and_rotates_per_image():
    images = torch.zeros(64, 3, 32, 32, dtype=torch.uint8)
    images[:, :, :, :16] = 255  # left half white
    flip_only = BatchTransform(torch.device("cpu"), horizontal_flip=True, mean=(0, 0, 0), std=(1, 1, 1),
                               generator=torch.Generator().manual_seed(0))
    out = flip_only(images, augment=True)
    flipped = out[:, 0, 16, 0] == 0  # left edge black => this image was flipped
    assert 10 < int(flipped.sum()) < 54
    assert torch.equal(flip_only(images, augment=False), images.float() / 255)
    rotate = BatchTransform(torch.device("cpu"), rotation_degrees=15, mean=(0, 0, 0), std=(1, 1, 1),
                            generator=torch.Generator().manual_seed(0))
    full = torch.full((8, 3, 32, 32), 255, dtype=torch.uint8)
    rotated = rotate(full, augment=True)
    assert torch.allclose(rotated[:, :, 16, 16], torch.ones(8, 3))  # centre stays
    corners = rotated[:, 0, 0, 0]
    assert int((corners < 0.5).sum()) >= 4  # corners rotate in black, as RandomRotation
    black_area = (rotated[:, 0] < 0.5).sum(dim=(1, 2))
    assert len(set(black_area.tolist())) > 4  # each image has its own angle


def test_image_cache_respects_its_budget():
    per_image = 3 * 8 * 8
    budget = CacheBudget(per_image * 3)
    cache = ImageCache(5, 8, budget)
    assert cache.capacity == 3 and budget.left == 0
    images = torch.arange(5 * per_image, dtype=torch.int64).remainder(256).to(torch.uint8).view(5, 3, 8, 8)
    cache.put_many(torch.arange(5), images)
    assert cache.get(0) is not None and cache.get(4) is None and not cache.complete
    assert torch.equal(cache.gather(torch.tensor([2, 0])), images[[2, 0]])
    empty = ImageCache(5, 8, budget)
    assert empty.capacity == 0 and empty.get(0) is None


def test_feature_store_completes_with_unreadable_images():
    store = FeatureStore(3)
    store.put(torch.tensor([0, 2]), torch.ones(2, 4))
    assert not store.complete
    store.mark_unreadable(1)
    assert store.complete and store.readable(torch.tensor([1, 2])).tolist() == [2]


def test_precision_choice():
    cpu = torch.device("cpu")
    assert choose_precision("off", cpu).dtype is None
    assert choose_precision("bf16", cpu).dtype is torch.bfloat16
    assert choose_precision("auto", torch.device("mps")).dtype is None
    assert choose_precision("fp16", cpu).grad_scaler() is None  # scaling is for CUDA fp16 only


def _rows(out: Path) -> list[dict]:
    return list(csv.DictReader(open(out / "metrics.csv")))


@pytest.mark.parametrize("freeze", [False, True])
def test_caches_do_not_change_results(tiny_root, tmp_path, freeze):
    """With and without the image and feature caches, the same numbers come out."""
    common = dict(n_epochs=2, mixed_precision="off", freeze_extractor=freeze)
    on = tmp_path / "on"
    off = tmp_path / "off"
    Trainer(tiny_config(tiny_root, on, **common)).run()
    Trainer(tiny_config(tiny_root, off, cache_images=False, cache_features=False, **common)).run()
    for a, b in zip(_rows(on), _rows(off)):
        for key in ("train_loss", "val_loss", "val_map"):
            assert float(a[key]) == pytest.approx(float(b[key]), rel=1e-4, abs=1e-6), key


def test_frozen_without_augmentation_trains_on_cached_features(tiny_root, tmp_path):
    out = tmp_path / "out"
    trainer = Trainer(tiny_config(tiny_root, out, freeze_extractor=True, rotation_degrees=0.0,
                                  horizontal_flip=False, n_epochs=2))
    trainer.run()
    assert trainer.state.cache_features_for == {"train": True, "val": True, "test": True}
    assert trainer.state.feature_stores["train"].complete
    assert "frozen feature cache: train, val, test" in (out / "train.log").read_text()


def test_partial_image_cache_still_trains(tiny_root, tmp_path):
    out = tmp_path / "out"
    trainer = Trainer(tiny_config(tiny_root, out, cache_budget_mb=1, image_size=256, batch_size=16,
                                  n_epochs=1))
    trainer.run()
    train_cache = trainer.state.sources["train"].dataset.cache
    assert 0 < train_cache.capacity < len(trainer.splits.train)
    import re

    share = re.search(r"image cache: [\d.]+ GB \((\d+)% of the images\)", (out / "train.log").read_text())
    assert share and 0 < int(share.group(1)) < 100


def test_predictor_agrees_with_the_engines_test_metrics(tiny_root, tmp_path):
    from mlcls_gui.core.evaluation.metrics import compute_metrics

    out = tmp_path / "out"
    trainer = Trainer(tiny_config(tiny_root, out, n_epochs=1, mixed_precision="off"))
    result = trainer.run()
    predictor = Predictor.from_file(out / "final_model.pt")
    test = trainer.splits.test
    predictions = predictor.predict_paths([s.path for s in test])
    probs = np.array([[p.probabilities[label] for label in predictor.labels] for p in predictions])
    truth = np.array([[label in s.labels for label in predictor.labels] for s in test], dtype=float)
    report = compute_metrics(probs, truth, predictor.labels)
    assert report.mean_average_precision == pytest.approx(result.summary["test_map"], abs=1e-6)


def test_loader_worker_processes_give_the_same_run(tiny_root, tmp_path):
    """Spawned loader workers only decode; order and augmentation stay in the trainer."""
    common = dict(n_epochs=1, mixed_precision="off", cache_images=False)
    Trainer(tiny_config(tiny_root, tmp_path / "w0", **common)).run()
    Trainer(tiny_config(tiny_root, tmp_path / "w1", num_workers=1, **common)).run()
    a, b = _rows(tmp_path / "w0")[0], _rows(tmp_path / "w1")[0]
    for key in ("train_loss", "val_loss", "val_map"):
        assert float(a[key]) == pytest.approx(float(b[key]), rel=1e-5), key
