"""train --preset: the preset first, then the config file's fields, then --set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlcls_gui.cli import main
from mlcls_gui.core.presets import preset_values


def _saved(tmp_path: Path, *argv: str) -> dict:
    out = tmp_path / "out.json"
    assert main(["train", *argv, "--save-config", str(out)]) == 0
    return json.loads(out.read_text(encoding="utf-8"))


def test_a_preset_sets_its_fields(tmp_path: Path) -> None:
    saved = _saved(tmp_path, "--preset", "recommended")
    for name, value in preset_values("recommended").items():
        assert saved[name] == value, name
    assert saved["lr_schedule"] != "step"  # a preset that changed nothing would pass the loop above


def test_the_config_file_overrides_the_preset_and_set_overrides_both(tmp_path: Path) -> None:
    config = tmp_path / "partial.json"
    config.write_text(json.dumps({"loss": "focal", "n_epochs": 7}), encoding="utf-8")
    saved = _saved(tmp_path, str(config), "--preset", "recommended", "--set", "n_epochs=9")
    assert saved["loss"] == "focal"  # the file's
    assert saved["n_epochs"] == 9  # --set's
    assert saved["lr_schedule"] == preset_values("recommended")["lr_schedule"]  # the preset's


def test_an_unknown_preset_is_refused_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--preset", "fastest"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'fastest'" in capsys.readouterr().err
