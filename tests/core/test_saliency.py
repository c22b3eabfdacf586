"""Grad-CAM saliency maps: every architecture family, the peak on the object,
the square model input mapped back onto non-square images."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from PIL import Image

from mlcls_gui.core.errors import ConfigError, ModelError
from mlcls_gui.core.inference.heatmap import blend_heatmap, turbo
from mlcls_gui.core.inference.predict import Predictor
from mlcls_gui.core.inference.saliency import saliency_map
from mlcls_gui.core.model_file.contents import ModelFile
from mlcls_gui.core.models import build as models

LABELS = ["object", "other"]


def make_predictor(arch: str, size: int, state: dict | None = None) -> Predictor:
    torch.manual_seed(0)
    model = models.build_model(arch, len(LABELS), pretrained=False, image_size=size)
    return Predictor(ModelFile.from_payload({
        "arch": arch, "labels": LABELS, "image_size": size,
        "model_state": state if state is not None else model.state_dict(),
        "mean": [0.5] * 3, "std": [0.25] * 3,
    }))


def noise_image(width: int, height: int, seed: int = 0) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels, mode="RGB")


def brightness_detector(size: int = 64) -> Predictor:
    """tiny_cnn set by hand: every channel is the local brightness above mid-grey,
    and label "object" adds them up while "other" subtracts them."""
    model = models.build_model("tiny_cnn", len(LABELS), pretrained=False)
    state = model.state_dict()
    for key, value in state.items():
        if key.startswith("features") and key.endswith("0.weight"):  # the 3×3 convolutions
            state[key] = torch.full_like(value, 1.0 / (9 * value.shape[1]))
        elif key.endswith("running_var") or (key.endswith(".1.weight")):
            state[key] = torch.ones_like(value)
        elif key.endswith("running_mean") or key.endswith(".1.bias"):
            state[key] = torch.zeros_like(value)
    state["fc.weight"] = torch.stack([torch.ones(32), -torch.ones(32)])
    state["fc.bias"] = torch.zeros(2)
    return make_predictor("tiny_cnn", size, state)


def object_image(width: int, height: int, box: tuple[int, int, int, int]) -> Image.Image:
    """Black, with a white rectangle at ``box`` = (left, top, right, bottom)."""
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    left, top, right, bottom = box
    pixels[top:bottom, left:right] = 255
    return Image.fromarray(pixels, mode="RGB")


def peak(heatmap: np.ndarray) -> tuple[int, int]:
    """(x, y) of the hottest pixel."""
    y, x = np.unravel_index(int(np.argmax(heatmap)), heatmap.shape)
    return int(x), int(y)


@pytest.mark.parametrize("arch, size", [
    # Sizes that leave the target block a grid of at least 2×2 cells.
    ("tiny_cnn", 32),
    ("resnet18", 64),
    ("mobilenet_v3_small", 64),
    ("efficientnet_b0", 64),
    ("timm:resnet10t", 64),
    ("timm:convnext_atto", 64),
    ("timm:vit_tiny_patch16_224", 32),  # tokens: class token first, then a 2×2 grid
])
def test_every_family_gives_a_map_the_size_of_the_image(arch: str, size: int) -> None:
    predictor = make_predictor(arch, size)
    image = noise_image(50, 30)
    heatmap = saliency_map(predictor, image, "object")
    assert heatmap.shape == (30, 50)
    assert heatmap.dtype == np.float32
    assert heatmap.min() >= 0.0 and heatmap.max() <= 1.0
    other = saliency_map(predictor, image, "other")
    # Random weights still see something for one of the two labels, and the maps differ per label.
    assert max(heatmap.max(), other.max()) > 0.5
    assert not np.allclose(heatmap, other)
    # Nothing is left in the model: no gradients, no hooks.
    assert all(p.grad is None for p in predictor.model.parameters())
    assert not any(m._forward_hooks for m in predictor.model.modules())


def test_the_map_peaks_on_the_object() -> None:
    predictor = brightness_detector()
    box = (40, 8, 56, 24)
    heatmap = saliency_map(predictor, object_image(64, 64, box), "object")
    x, y = peak(heatmap)
    assert 40 - 4 <= x < 56 + 4 and 8 - 4 <= y < 24 + 4, (x, y)
    left, top, right, bottom = box
    inside = heatmap[top:bottom, left:right].mean()
    outside = heatmap.sum() - heatmap[top:bottom, left:right].sum()
    outside /= heatmap.size - (right - left) * (bottom - top)
    assert inside > 5 * outside
    # "other" is only lowered by the bright object: nothing speaks for it.
    assert not saliency_map(predictor, object_image(64, 64, box), "other").any()


@pytest.mark.parametrize("width, height, box", [
    # Near an edge: a map padded or cropped to a square instead of stretched lands elsewhere.
    (128, 64, (88, 4, 112, 16)),   # 2:1, the object at the top right
    (64, 128, (4, 88, 16, 112)),   # 1:2, the object at the left, low
    (200, 50, (150, 4, 190, 20)),  # 4:1, the object at the top right
])
def test_a_non_square_image_maps_back_onto_its_own_aspect_ratio(
        width: int, height: int, box: tuple[int, int, int, int]) -> None:
    predictor = brightness_detector()
    heatmap = saliency_map(predictor, object_image(width, height, box), "object")
    assert heatmap.shape == (height, width)
    left, top, right, bottom = box
    # One cell of the model's 8×8 grid, stretched back, is the tolerance.
    cell_x, cell_y = width / 8, height / 8
    x, y = peak(heatmap)
    assert heatmap[y, x] > 0.8  # the hottest point is inside the image, not cut off
    assert left - cell_x <= x < right + cell_x and top - cell_y <= y < bottom + cell_y, (x, y, box)
    # The hot area has the object's extent on both axes (padding or cropping to a
    # square would stretch it on the short axis).
    rows = np.flatnonzero(heatmap.max(axis=1) >= 0.5)
    columns = np.flatnonzero(heatmap.max(axis=0) >= 0.5)
    assert top - cell_y <= rows.min() and rows.max() < bottom + cell_y, (rows, box)
    assert left - cell_x <= columns.min() and columns.max() < right + cell_x, (columns, box)
    ys, xs = np.mgrid[0:height, 0:width]
    cx, cy = (heatmap * xs).sum() / heatmap.sum(), (heatmap * ys).sum() / heatmap.sum()
    assert left <= cx < right and top <= cy < bottom, (cx, cy, box)


def test_an_unknown_label_names_the_models_labels() -> None:
    predictor = make_predictor("tiny_cnn", 32)
    with pytest.raises(ConfigError, match="no label 'dog'; its labels are: object, other"):
        saliency_map(predictor, noise_image(32, 32), "dog")


def test_a_model_without_gradients_is_refused_with_a_reason() -> None:
    predictor = make_predictor("tiny_cnn", 32)
    predictor.model = None  # as an exported ONNX model: a session, no torch module
    with pytest.raises(ModelError, match=r"\.pt"):
        saliency_map(predictor, noise_image(32, 32), "object")


def test_inside_inference_mode_and_beside_another_thread_predicting() -> None:
    predictor = brightness_detector()
    image = object_image(64, 64, (40, 8, 56, 24))
    expected = saliency_map(predictor, image, "object")
    stop = threading.Event()

    def predict_meanwhile() -> None:  # the Predict panel predicts with the same model
        batch = torch.randint(0, 255, (4, 3, 64, 64), dtype=torch.uint8)
        while not stop.is_set():
            predictor.probabilities(batch)

    worker = threading.Thread(target=predict_meanwhile)
    worker.start()
    try:
        with torch.inference_mode():
            for _ in range(5):
                np.testing.assert_allclose(saliency_map(predictor, image, "object"), expected, atol=1e-5)
    finally:
        stop.set()
        worker.join()


def test_blend_keeps_the_size_and_colours_hot_areas_red() -> None:
    image = Image.new("RGB", (40, 20), (128, 128, 128))
    heatmap = np.zeros((20, 40), dtype=np.float32)
    heatmap[:, 20:] = 1.0
    blended = blend_heatmap(image, heatmap, alpha=0.5)
    assert blended.size == (40, 20) and blended.mode == "RGB"
    cold, hot = blended.getpixel((5, 10)), blended.getpixel((35, 10))
    assert max(cold) < 128  # turbo's cold end is near black: what the model ignored is dimmed
    assert hot[0] > hot[1] > hot[2] and hot[0] > 128  # red
    assert blend_heatmap(image, heatmap, alpha=0.0).tobytes() == image.tobytes()
    with pytest.raises(ValueError, match="does not match"):
        blend_heatmap(image, heatmap.T)


def test_turbo_runs_from_dark_through_blue_and_green_to_red() -> None:
    colours = turbo(np.array([0.0, 0.2, 0.45, 1.0], dtype=np.float32))
    assert colours.shape == (4, 3)
    assert colours[0].sum() < 0.5  # near black
    assert colours[1].argmax() == 2 and colours[2].argmax() == 1 and colours[3].argmax() == 0
    assert colours.min() >= 0 and colours.max() <= 1
