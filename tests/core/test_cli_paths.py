"""Paths the system refuses (too long, missing, a file for a folder) give one line and exit 2."""

import json

import pytest
from conftest import tiny_config

from mlcls_gui.cli import main
from mlcls_gui.core.training.engine import Trainer

LONG_NAME = "n" * 300  # over the 255 characters a path component may have
LONG_PATH = "/tmp/" + "/".join(["d" * 200] * 25)  # over 4096 characters


@pytest.fixture(scope="module")
def model_file(tiny_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("model")
    Trainer(tiny_config(tiny_root, out, n_epochs=1)).run()
    return out / "final_model.pt"


def _one_line_error(capsys, *words: str) -> None:
    err = capsys.readouterr().err.strip()
    assert err.startswith("mlcls-gui: error:") and "Traceback" not in err, err
    assert len(err.splitlines()) == 1, err
    for word in words:
        assert word in err, err


@pytest.mark.parametrize("bad", [LONG_NAME, LONG_PATH], ids=["long-name", "long-path"])
def test_too_long_paths_in_every_command(bad, tiny_root, model_file, tmp_path, capsys):
    long_child = str(tmp_path / bad) if bad == LONG_NAME else bad
    commands = [
        ["scan", long_child],
        ["audit", long_child],
        ["train", "--set", f"images_root={long_child}", "--set", "n_epochs=1"],
        ["train", "--set", f"images_root={tiny_root}", "--set", f"save_model_folder={long_child}"],
        ["train", "--resume", long_child],
        ["evaluate", str(model_file), long_child],
        ["evaluate", long_child, str(tiny_root)],
        ["predict", long_child, str(tiny_root)],
        ["train", long_child],
    ]
    for argv in commands:
        assert main(argv) == 2, argv
        _one_line_error(capsys)
    # predict with a too-long image path: that input is skipped with its reason.
    assert main(["predict", str(model_file), long_child]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "No image files to predict" in captured.err


def test_output_files_into_missing_or_non_folder_paths(tiny_root, model_file, tmp_path, capsys):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    missing = tmp_path / "missing" / "out.json"
    cases = [
        (["evaluate", str(model_file), str(tiny_root), "--json", str(missing)], "does not exist"),
        (["evaluate", str(model_file), str(tiny_root), "--json", str(tmp_path)], "is a folder"),
        (["audit", str(tiny_root), "--json", str(a_file / "x.json")], "does not exist"),
        (["train", "--save-config", str(missing)], "does not exist"),
        (["predict", str(model_file), str(tiny_root), "--csv", str(missing)], "does not exist"),
        (["predict", str(model_file), str(tiny_root), "--copy-to", str(a_file)], "is a file"),
        (["predict", str(model_file), str(tiny_root), "--copy-to", str(tmp_path / "no" / "dir")],
         "does not exist"),
        (["demo-data", str(a_file)], "is a file"),
        (["demo-data", str(a_file / "demo")], "does not exist"),
    ]
    for argv, words in cases:
        assert main(argv) == 2, argv
        _one_line_error(capsys, words)
    assert a_file.read_text() == "x"


def test_a_deeply_nested_config_is_refused_in_one_line(tmp_path, capsys):
    config = tmp_path / "deep.json"
    config.write_text("[" * 100_000 + "]" * 100_000)
    assert main(["train", str(config)]) == 2
    _one_line_error(capsys, "nested too deeply")


def test_predict_reports_an_unreadable_sub_folder(model_file, tiny_root, tmp_path, capsys, monkeypatch):
    import os

    data = tmp_path / "data"
    (data / "fine").mkdir(parents=True)
    (data / "locked").mkdir()
    import shutil

    shutil.copy(next((tiny_root / "circle").iterdir()), data / "fine" / "a.png")
    real_scandir = os.scandir

    def scandir(path=".", *a):
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path, *a)

    monkeypatch.setattr(os, "scandir", scandir)
    assert main(["predict", str(model_file), str(data), "--json"]) == 0
    captured = capsys.readouterr()
    assert len(json.loads(captured.out)["predictions"]) == 1
    assert "locked: cannot read folder (Permission denied)" in captured.err
