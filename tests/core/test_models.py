import urllib.error

import pytest
import torch
import torchvision

from mlcls_gui.core.errors import ModelError
from mlcls_gui.core.models import build as models
from mlcls_gui.core.models import registry


@pytest.mark.parametrize("arch", registry.BUILTIN_NAMES)
def test_head_has_one_output_per_label(arch):
    model = models.build_model(arch, 5)
    assert models.head_module(model, arch).out_features == 5
    model.eval()
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 64, 64)).shape == (1, 5)


def test_frozen_extractor_trains_only_the_head_and_keeps_bn_statistics():
    model = models.build_model("resnet18", 3, freeze_extractor=True)
    trainable = models.trainable_parameters(model)
    assert {id(p) for p in trainable} == {id(p) for p in model.fc.parameters()}
    bn_before = model.bn1.running_mean.clone()
    conv_before = model.conv1.weight.clone()
    models.set_train_mode(model, "resnet18", frozen=True)
    assert not model.bn1.training and model.fc.training
    opt = torch.optim.Adam(trainable, lr=0.1)
    loss = model(torch.randn(4, 3, 32, 32) * 5 + 3).sum()
    loss.backward()
    opt.step()
    assert torch.equal(model.bn1.running_mean, bn_before)
    assert torch.equal(model.conv1.weight, conv_before)


def test_local_weights_file_is_used(tmp_path):
    source = torchvision.models.resnet18(weights=None)  # 1000-class head, as ImageNet files
    path = tmp_path / "resnet18.pth"
    torch.save(source.state_dict(), path)
    model = models.build_model("resnet18", 4, pretrained=True, weights_file=str(path))
    assert torch.equal(model.conv1.weight, source.conv1.weight)
    assert model.fc.out_features == 4


def test_weights_file_of_another_architecture_is_refused(tmp_path):
    path = tmp_path / "m.pth"
    torch.save(torchvision.models.mobilenet_v3_small(weights=None).state_dict(), path)
    with pytest.raises(ModelError, match="does not match resnet18"):
        models.build_model("resnet18", 2, pretrained=True, weights_file=str(path))
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"garbage")
    with pytest.raises(ModelError, match="not a readable weights file"):
        models.build_model("resnet18", 2, pretrained=True, weights_file=str(junk))


@pytest.mark.parametrize("arch", registry.BUILTIN_NAMES)
def test_feature_extractor_then_head_is_the_model(arch):
    model = models.build_model(arch, 3).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        composed = models.head_module(model, arch)(models.feature_extractor(model, arch)(x))
        assert torch.allclose(composed, model(x), atol=1e-6)


def test_weights_saved_from_a_model_of_ours_load_through_its_model_state(tmp_path):
    source = models.build_model("tiny_cnn", 5)
    path = tmp_path / "final_model.pt"
    torch.save({"model_state": source.state_dict(), "labels": ["a"]}, path)
    model = models.build_model("tiny_cnn", 2, pretrained=True, weights_file=str(path))
    assert torch.equal(model.features[0][0].weight, source.features[0][0].weight)
    assert model.fc.out_features == 2  # the 5-output head was dropped, not loaded


def test_safetensors_weights_file_is_used(tmp_path):
    from safetensors.torch import save_file

    source = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18.safetensors"
    save_file(source.state_dict(), str(path))
    model = models.build_model("resnet18", 4, pretrained=True, weights_file=str(path))
    assert torch.equal(model.layer4[1].conv2.weight, source.layer4[1].conv2.weight)


def test_offline_pretrained_gives_an_actionable_error(monkeypatch):
    real = torchvision.models.get_model

    def offline(name, weights=None, **kw):
        if weights is not None:
            raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")
        return real(name, weights=None, **kw)

    monkeypatch.setattr(torchvision.models, "get_model", offline)
    with pytest.raises(ModelError) as info:
        models.build_model("resnet18", 2, pretrained=True)
    assert "weights_file" in str(info.value) and "pretrained=false" in str(info.value)
