"""The architecture registry: names, suggestions, defaults, and timm models
(one CNN, one ConvNeXt, one ViT; random weights only, nothing is downloaded)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest
import timm
import torch
from torch import nn

from mlcls_gui.core.config import ARCHITECTURES, TrainConfig
from mlcls_gui.core.data.imagenet import IMAGENET_MEAN, IMAGENET_STD
from mlcls_gui.core.errors import CheckpointError, ConfigError, ModelError
from mlcls_gui.core.inference.predict import Predictor
from mlcls_gui.core.model_file.checkpoint import save_atomic
from mlcls_gui.core.model_file.contents import read_model_file
from mlcls_gui.core.models import build as models
from mlcls_gui.core.models import registry
from mlcls_gui.core.models.architectures import torchvision_family

CNN = "timm:resnet10t"  # BatchNorm, head "fc"
CONVNEXT = "timm:convnext_atto"  # head "head.fc" behind a LayerNorm that belongs to the extractor
VIT = "timm:vit_tiny_patch16_224"  # tokens, position embeddings sized by the image
SIZE = 32
TIMM_MODELS = (CNN, CONVNEXT, VIT)


@pytest.fixture(scope="module", params=TIMM_MODELS)
def timm_model(request: pytest.FixtureRequest) -> tuple[str, nn.Module]:
    torch.manual_seed(0)
    return request.param, models.build_model(request.param, 3, image_size=SIZE).eval()


# ------------------------------------------------------------------- names
def test_old_names_and_tiny_cnn_are_builtin_and_checked_without_torch():
    assert registry.TORCHVISION_NAMES == torchvision_family.NAMES
    for name in registry.BUILTIN_NAMES:
        TrainConfig(arch=name)  # old config files keep working
    code = ("import sys; from mlcls_gui.core import config; from mlcls_gui.core.models import registry; "
            "[registry.validate(n) for n in registry.BUILTIN_NAMES]; config.TrainConfig(arch='tiny_cnn'); "
            "print('torch' in sys.modules, 'timm' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]  # the window validates its form with this


def test_the_choice_list_holds_the_builtin_and_recommended_names():
    assert ARCHITECTURES[: len(registry.BUILTIN_NAMES)] == registry.BUILTIN_NAMES
    recommended = [name for names in registry.RECOMMENDED.values() for name in names]
    assert set(recommended) <= set(ARCHITECTURES)
    for name in recommended:
        assert registry.describe(name).has_pretrained, name


@pytest.mark.parametrize("arch, hint", [
    ("resnet19", "Did you mean 'resnet18'?"),
    ("convnext_atto", "Did you mean 'timm:convnext_atto'?"),
    ("timm:convnext_atoo", "Did you mean timm:convnext_atto"),
    ("timm:convnext_atto.nope", "timm:convnext_atto.d2_in1k"),
    ("timm:deit_tiny_distilled_patch16_224", "without 'distilled'"),
    ("timm:crossvit_9_240", "two classifier heads (one per branch)"),
    ("timm:", "timm has no model"),
])
def test_an_unknown_name_is_refused_with_a_suggestion(arch, hint):
    with pytest.raises(ModelError) as info:
        registry.validate(arch)
    assert hint in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(ConfigError, match=r"^`arch`: "):
        TrainConfig(arch=arch)


def test_timm_names_are_accepted_by_the_config_with_or_without_a_tag():
    assert TrainConfig(arch=CONVNEXT).arch == CONVNEXT
    assert TrainConfig(arch=CONVNEXT + ".d2_in1k").arch == CONVNEXT + ".d2_in1k"
    assert TrainConfig.from_dict({"arch": VIT}).arch == VIT


def test_search_finds_every_word_and_puts_recommended_first():
    assert registry.search("convnext atto")[:1] == ["timm:convnext_atto"]
    assert all("vit" in n and "small" in n for n in registry.search("VIT small"))
    assert registry.search("")[0] == registry.RECOMMENDED["small and fast"][0]


# ------------------------------------------------------------- defaults
def test_default_input_comes_from_the_weights_meta():
    assert registry.default_input("resnet18") == (224, IMAGENET_MEAN, IMAGENET_STD)
    assert registry.default_input("tiny_cnn").size == 64
    size, mean, std = registry.default_input(VIT)  # timm's pretrained_cfg
    assert (size, mean, std) == (224, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    assert registry.default_input("timm:fastvit_t8").size == 256


def test_describe_counts_parameters_without_building_real_weights():
    info = registry.describe("tiny_cnn")
    assert info.parameters == sum(p.numel() for p in models.build_model("tiny_cnn", 2).parameters())
    assert 1000 < info.parameters < 10_000 and not info.has_pretrained and info.family == "builtin"
    assert registry.describe(CONVNEXT).parameters > 3_000_000


# ------------------------------------------------------------- timm models
def test_timm_model_has_one_output_per_label_where_the_registry_says(timm_model):
    arch, model = timm_model
    head = models.head_module(model, arch)
    assert head is model.get_classifier() and head.out_features == 3
    assert f"{registry.head_path(arch)}.weight" in model.state_dict()
    with torch.no_grad():
        assert model(torch.zeros(2, 3, SIZE, SIZE)).shape == (2, 3)


def test_timm_feature_extractor_then_head_is_the_model(timm_model):
    arch, model = timm_model
    extractor = models.feature_extractor(model, arch)
    x = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        composed = models.head_module(model, arch)(extractor(x))
        assert torch.allclose(composed, model(x), atol=1e-5)
    assert not list(extractor.parameters())  # a view: it never owns (or moves) the head


def test_frozen_timm_extractor_trains_only_the_head_and_keeps_its_statistics():
    torch.manual_seed(0)
    model = models.build_model(CNN, 3, freeze_extractor=True)
    head = models.head_module(model, CNN)
    assert {id(p) for p in models.trainable_parameters(model)} == {id(p) for p in head.parameters()}
    bn = next(m for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    before = bn.running_mean.clone()
    models.set_train_mode(model, CNN, frozen=True)
    assert not bn.training and head.training
    optimizer = torch.optim.Adam(models.trainable_parameters(model), lr=0.1)
    model(torch.randn(4, 3, SIZE, SIZE) * 5 + 3).sum().backward()
    optimizer.step()
    assert torch.equal(bn.running_mean, before)


def test_a_vit_is_built_at_the_image_size_and_at_its_own_without_one():
    small = models.build_model(VIT, 2, image_size=SIZE)
    native = models.build_model(VIT, 2)
    assert small.pos_embed.shape[1] == (SIZE // 16) ** 2 + 1
    assert native.pos_embed.shape[1] == (224 // 16) ** 2 + 1
    # CNNs take any size: nothing is passed to timm for them.
    assert models.build_model(CNN, 2, image_size=SIZE)(torch.zeros(1, 3, 48, 48)).shape == (1, 2)


def test_timm_models_whose_head_is_not_one_linear_layer_are_refused():
    info = registry.describe("timm:dla46_c")  # classifies with a 1x1 convolution
    assert "not supported" in info.problem and "Conv2d" in info.problem
    with pytest.raises(ModelError, match="timm:dla46_c is not supported"):
        models.build_model("timm:dla46_c", 2)
    assert registry.describe(CONVNEXT).problem == ""


def test_saliency_targets_are_the_last_blocks():
    resnet = models.build_model("resnet18", 2)
    assert models.saliency_target(resnet, "resnet18").module is resnet.layer4[-1]
    tiny = models.build_model("tiny_cnn", 2)
    assert models.saliency_target(tiny, "tiny_cnn").module is tiny.features[-1]
    vit = models.build_model(VIT, 2, image_size=SIZE)
    target = models.saliency_target(vit, VIT)
    assert target.module is vit.blocks[-1] and (target.layout, target.prefix_tokens) == ("NLC", 1)
    convnext = models.build_model(CONVNEXT, 2)
    assert models.saliency_target(convnext, CONVNEXT).module is convnext.stages[-1]


# ----------------------------------------------------------------- weights
def test_vit_weights_file_of_another_size_is_resampled_and_loaded(tmp_path):
    from safetensors.torch import save_file

    source = timm.create_model(VIT.removeprefix("timm:"), num_classes=1000)  # as an ImageNet file
    path = tmp_path / "vit.safetensors"
    save_file(source.state_dict(), str(path))
    model = models.build_model(VIT, 3, pretrained=True, weights_file=str(path), image_size=SIZE)
    assert torch.equal(model.blocks[0].attn.qkv.weight, source.blocks[0].attn.qkv.weight)
    assert model.pos_embed.shape[1] == (SIZE // 16) ** 2 + 1 and model.head.out_features == 3


def test_a_weights_file_of_another_timm_model_is_refused(tmp_path):
    path = tmp_path / "resnet.pth"
    torch.save(timm.create_model("resnet10t").state_dict(), path)
    with pytest.raises(ModelError, match=f"does not match {CONVNEXT}"):
        models.build_model(CONVNEXT, 2, pretrained=True, weights_file=str(path))


def test_offline_timm_pretrained_gives_the_actionable_error(monkeypatch):
    real = timm.create_model

    def offline(name, pretrained=False, **kwargs):
        if pretrained:
            raise FileNotFoundError("An error happened while trying to locate the file on the Hub and "
                                    "we cannot find the requested files in the local cache.")
        return real(name, pretrained=False, **kwargs)

    monkeypatch.setattr(timm, "create_model", offline)
    with pytest.raises(ModelError) as info:
        models.build_model(CNN, 2, pretrained=True)
    message = str(info.value)
    assert message.startswith(f"Could not get the pretrained weights for {CNN}")
    assert "weights_file" in message and "pretrained=false" in message and ".safetensors" in message


def test_tiny_cnn_has_no_pretrained_weights():
    with pytest.raises(ModelError, match="pretrained=false"):
        models.build_model("tiny_cnn", 2, pretrained=True)


# -------------------------------------------------------------- model files
def _model_file(tmp_path, arch: str, labels: int = 3):
    model = models.build_model(arch, labels, image_size=SIZE)
    payload = {
        "kind": "model", "arch": arch, "labels": [f"l{i}" for i in range(labels)], "image_size": SIZE,
        "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "threshold": 0.5,
        "config": dataclasses.asdict(TrainConfig(arch=arch, image_size=SIZE, pretrained=False)),
        "model_state": model.state_dict(),
    }
    path = tmp_path / "final_model.pt"
    save_atomic(payload, path)
    return path, model


def test_a_vit_model_file_predicts_what_its_model_computes(tmp_path):
    path, model = _model_file(tmp_path, VIT)
    predictor = Predictor.from_file(path)
    images = torch.randint(0, 256, (2, 3, SIZE, SIZE), dtype=torch.uint8)
    with torch.no_grad():
        expected = torch.sigmoid(model.eval()((images.float() / 255 - 0.5) / 0.5))
    assert torch.allclose(predictor.probabilities(images), expected, atol=1e-5)


def test_a_model_file_whose_timm_head_does_not_fit_its_labels_is_refused(tmp_path):
    path, _ = _model_file(tmp_path, CONVNEXT)
    payload = torch.load(path, weights_only=True)
    payload["labels"] = ["a", "b"]
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match=r"labels: 2 labels, but the classifier .* 3 outputs"):
        read_model_file(path)
