import dataclasses
import json

import pytest

from mlcls_gui.core.config import (
    GROUPS,
    TrainConfig,
    demo_config,
    field_names,
    field_spec,
    parse_field_text,
)
from mlcls_gui.core.errors import ConfigError


def test_defaults_are_the_seed_scripts():
    cfg = TrainConfig()
    assert (cfg.batch_size, cfg.learning_rate, cfg.n_epochs, cfg.early_stop_epoch_limit) == (16, 1e-4, 350, 350)
    assert (cfg.lr_decrease, cfg.lr_step, cfg.weight_decay) == (0.1, 10, 0.3)
    assert (cfg.image_size, cfg.rotation_degrees, cfg.horizontal_flip, cfg.threshold) == (224, 15.0, True, 0.5)
    assert cfg.optimizer == "adamw" and cfg.device == "auto" and cfg.arch == "resnet18"


def test_every_field_has_form_metadata():
    for name in field_names():
        spec = field_spec(name)
        assert spec.label and spec.help and spec.group in GROUPS, name


def test_json_round_trip(tmp_path):
    cfg = TrainConfig(images_root="/data", batch_size=8, arch="efficientnet_b0", freeze_extractor=True)
    path = tmp_path / "c.json"
    cfg.save_json(path)
    assert TrainConfig.load_json(path) == cfg
    assert json.loads(path.read_text())["format_version"] == 1


@pytest.mark.parametrize(
    "data, words",
    [
        ({"batch_sise": 4}, ["batch_sise", "unknown"]),
        ({"batch_size": "16"}, ["batch_size", "integer"]),
        ({"batch_size": 0}, ["batch_size", "[1, 4096]"]),
        ({"learning_rate": 0}, ["learning_rate", "(0, 10]"]),
        ({"horizontal_flip": 1}, ["horizontal_flip", "true or false"]),
        ({"arch": "vgg16"}, ["arch", "resnet18"]),
        ({"device": "gpu"}, ["device", "cuda"]),
        ({"final_model_name": "a/b.pt"}, ["final_model_name", "file name"]),
        ({"val_fraction": 0.5, "test_fraction": 0.5}, ["val_fraction", "0.95"]),
        ({"format_version": 99}, ["format_version", "newer"]),
    ],
)
def test_bad_values_are_refused_naming_the_field(data, words):
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_dict(data)
    for word in words:
        assert word in str(info.value)


def test_not_json_and_missing_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{ not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        TrainConfig.load_json(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        TrainConfig.load_json(tmp_path / "missing.json")


def test_missing_keys_take_defaults_and_ints_fill_floats():
    cfg = TrainConfig.from_dict({"learning_rate": 1, "n_epochs": 3.0})
    assert cfg.learning_rate == 1.0 and isinstance(cfg.learning_rate, float)
    assert cfg.n_epochs == 3 and cfg.batch_size == 16


def test_parse_field_text_and_replace():
    assert parse_field_text("pretrained", "false") is False
    assert parse_field_text("n_epochs", " 12 ") == 12
    assert parse_field_text("learning_rate", "3e-4") == 3e-4
    with pytest.raises(ConfigError, match="n_epochs"):
        parse_field_text("n_epochs", "many")
    cfg = TrainConfig().with_values(n_epochs=5)
    assert cfg.n_epochs == 5
    with pytest.raises(ConfigError, match="n_epochs"):
        dataclasses.replace(cfg, n_epochs=-1)


def test_demo_config_is_offline_and_small(tmp_path):
    cfg = demo_config(tmp_path / "d", tmp_path / "o")
    assert cfg.pretrained is False and cfg.device == "cpu" and cfg.n_epochs <= 30


def test_readme_documents_every_field():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    missing = [name for name in field_names() if f"| `{name}` |" not in readme]
    assert not missing, f"README's config table lacks {missing}"


def test_renamed_fields_are_still_read_under_their_old_names(tmp_path):
    """save_model_dir and checkpoint_dir held file names; their new names say so,
    and configs, checkpoints and --set written with the old names still work."""
    import json

    from mlcls_gui.core.config import current_field_name

    path = tmp_path / "old.json"
    path.write_text(json.dumps({"save_model_dir": "model.pt", "checkpoint_dir": "best.pt", "n_epochs": 3}))
    cfg = TrainConfig.load_json(path)
    assert (cfg.final_model_name, cfg.checkpoint_name, cfg.n_epochs) == ("model.pt", "best.pt", 3)
    # The present name wins when a file holds both.
    both = TrainConfig.from_dict({"checkpoint_dir": "old.pt", "checkpoint_name": "new.pt"})
    assert both.checkpoint_name == "new.pt"
    assert current_field_name("save_model_dir") == "final_model_name"
    assert "save_model_dir" not in TrainConfig().to_dict()


def test_fields_say_when_they_apply_and_train_names_the_unused_ones(tmp_path, capsys):
    from mlcls_gui.cli import main
    from mlcls_gui.core.field_applies import field_applies, unused_settings, when_it_applies
    from mlcls_gui.core.presets import PRESET_NAMES, apply_preset

    assert field_applies("asl_clip", {"loss": "asl"}) and not field_applies("asl_clip", {"loss": "bce"})
    assert not field_applies("early_stop_epoch_limit", {"early_stop_share": 0.25})
    assert when_it_applies("warmup_epochs") == "Applies only with `lr_schedule=cosine` or `lr_schedule=onecycle`."
    assert when_it_applies("learning_rate") == ""
    # No preset sets a field that it then does not use.
    assert {name: unused_settings(apply_preset(TrainConfig(), name)) for name in PRESET_NAMES} == {
        name: [] for name in PRESET_NAMES}
    out = tmp_path / "c.json"
    assert main(["train", "--set", "asl_clip=0.1", "--set", "loss=bce", "--save-config", str(out)]) == 0
    assert "Note: `asl_clip=0.1` is not used: it applies only with `loss=asl`." in capsys.readouterr().err


def test_field_validation_errors_name_the_field():
    """The checks in field_validation.py, reached through TrainConfig and config's lookups."""
    from mlcls_gui.core.config import coerce_field, validate_field

    cases = [
        (dict(log_name="config.json"), "log_name", "is the name of another output of the run"),
        (dict(checkpoint_name="Final_Model.pt"), "checkpoint_name", "one file would overwrite the other"),
        (dict(final_model_name="sub/final.pt"), "final_model_name", "must be a plain file name"),
        (dict(device="gpu"), "device", "is not allowed; expected text matching"),
        (dict(learning_rate=0.0), "learning_rate", "out of range"),
        (dict(arch="no_such_net"), "arch", "no_such_net"),
    ]
    for changes, field, words in cases:
        with pytest.raises(ConfigError) as info:
            TrainConfig(**changes)
        assert info.value.field == field and words in str(info.value), changes
    assert coerce_field("learning_rate", 1) == 1.0 and isinstance(coerce_field("learning_rate", 1), float)
    assert coerce_field("n_epochs", 3.0) == 3
    with pytest.raises(ConfigError, match="expected an integer"):
        coerce_field("n_epochs", "3")
    with pytest.raises(ConfigError, match="Unknown field 'colour'"):
        coerce_field("colour", 1)
    with pytest.raises(ConfigError, match="Unknown field 'colour'"):
        parse_field_text("colour", "1")
    with pytest.raises(ConfigError) as info:
        validate_field("optimizer", "sgd")
    assert info.value.field == "optimizer"
