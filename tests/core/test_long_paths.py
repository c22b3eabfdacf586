"""Paths the system refuses — a name over 255 characters, a path over 4096,
an unreadable folder — give the module's one-line error or a rejected entry,
never a traceback and never a silent omission."""

import errno
import os
from pathlib import Path

import pytest
from PIL import Image

from mlcls_gui.core.data.dataset import scan_data_root
from mlcls_gui.core.data.images import ImageLoadError, load_rgb, load_rgb_resized, probe_image
from mlcls_gui.core.errors import ConfigError, DatasetError
from mlcls_gui.core.inference.predict import (
    Prediction,
    copy_into_label_folders,
    expand_image_paths,
    write_predictions_csv,
)
from mlcls_gui.core.model_file.checkpoint import save_atomic
from mlcls_gui.core.models import build as models
from mlcls_gui.core.ops.evaluate import evaluate_model_file

DENIED = "cannot read folder (Permission denied)"


def _img(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (200, 40, 40)).save(path)
    return path


def _long_name(base: Path) -> Path:
    return base / ("n" * 300)


def _long_path(base: Path) -> Path:
    return base.joinpath(*["d" * 200] * 21)  # every name is fine, the whole is over 4096


@pytest.fixture(params=["name", "path"])
def too_long(request, tmp_path) -> Path:
    return _long_name(tmp_path) if request.param == "name" else _long_path(tmp_path)


def _one_line(error: BaseException) -> str:
    text = str(error)
    assert "\n" not in text and error.__cause__ is None
    return text


# ------------------------------------------------------------------ over-long paths
def test_scan_refuses_a_too_long_root_in_one_line(too_long):
    with pytest.raises(DatasetError) as info:
        scan_data_root(too_long)
    assert "path too long" in _one_line(info.value) and str(too_long) in str(info.value)


def test_evaluate_refuses_a_too_long_data_root(too_long, tmp_path):
    model = tmp_path / "model.pt"
    save_atomic({
        "arch": "mobilenet_v3_small", "labels": ["a", "b"], "image_size": 16,
        "mean": [0.5] * 3, "std": [0.25] * 3,
        "model_state": models.build_model("mobilenet_v3_small", 2).state_dict(),
    }, model)
    with pytest.raises(DatasetError) as info:
        evaluate_model_file(model, too_long)
    assert "path too long" in _one_line(info.value)


def test_predict_inputs_that_are_too_long_are_rejected(tmp_path):
    good = _img(tmp_path / "ok.png")
    inputs = [_long_name(tmp_path), _long_path(tmp_path), _long_name(tmp_path).with_suffix(".png")]
    images, rejected = expand_image_paths([*inputs, good])
    assert images == [str(good)]
    assert [path for path, _ in rejected] == [str(p) for p in inputs]
    assert all(reason.startswith("cannot read (path too long") for _, reason in rejected)


@pytest.mark.parametrize("load", [probe_image, load_rgb, lambda p: load_rgb_resized(p, 8)])
def test_loading_a_too_long_image_path_is_an_image_load_error(too_long, load):
    with pytest.raises(ImageLoadError, match="cannot read file"):
        load(too_long.with_suffix(".png"))


# ------------------------------------------------------------------ outputs
def test_predictions_csv_needs_an_existing_folder(tmp_path, too_long):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    cases = {
        tmp_path / "missing" / "p.csv": "does not exist",
        blocker / "p.csv": "is a file, not a folder",
        tmp_path: "it is a folder",
        too_long / "p.csv": "path too long",
        _long_name(tmp_path).with_suffix(".csv"): "path too long",  # in an existing folder
    }
    for target, message in cases.items():
        with pytest.raises(ConfigError) as info:
            write_predictions_csv(target, ["a"], [])
        text = _one_line(info.value)
        assert message in text and str(target) in text, text
    write_predictions_csv(tmp_path / "ok.csv", ["a"], [Prediction("x.png", {"a": 0.7}, ("a",))])
    assert (tmp_path / "ok.csv").read_text().splitlines()[1] == "x.png,0.700000,a,"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt", "ok.csv"]  # no .partial left


def test_copy_into_label_folders_target_checks(tmp_path, too_long):
    source = _img(tmp_path / "in" / "x.png")
    predictions = [Prediction(str(source), {"a": 0.9}, ("a",))]
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    cases = {
        blocker: "is a file, not a folder",
        tmp_path / "missing" / "out": "does not exist",
        too_long: "path too long",
    }
    for target, message in cases.items():
        with pytest.raises(ConfigError) as info:
            copy_into_label_folders(predictions, target)
        text = _one_line(info.value)
        assert message in text and str(target) in text, text
    assert blocker.read_text() == "x"
    assert copy_into_label_folders(predictions, tmp_path / "new") == 1  # created: its parent exists
    assert (tmp_path / "new" / "a" / "x.png").is_file()


# ------------------------------------------------------------------ unreadable folders
def _root_with_locked_folder(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "root"
    for i in range(3):
        _img(root / "cat" / f"{i}.png")
        _img(root / "dog" / f"{i}.png")
    locked = root / "cat" / "locked"
    _img(locked / "hidden.png")
    return root, locked


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads every folder")
def test_predict_reports_an_unreadable_sub_folder(tmp_path):
    root, locked = _root_with_locked_folder(tmp_path)
    locked.chmod(0)
    try:
        images, rejected = expand_image_paths([root / "cat"])
        scanned = scan_data_root(root)
    finally:
        locked.chmod(0o755)
    assert len(images) == 3
    assert rejected == [(str(locked), DENIED)]
    assert [(s.path, s.reason) for s in scanned.skipped] == [(str(locked), DENIED)]


def test_predict_reports_an_unreadable_sub_folder_even_as_root(tmp_path, monkeypatch):
    root, locked = _root_with_locked_folder(tmp_path)
    real_scandir = os.scandir

    def scandir(path="."):
        if os.fspath(path) == str(locked):
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)  # os.walk lists folders with os.scandir
    images, rejected = expand_image_paths([root / "cat", root / "dog"])
    assert len(images) == 6 and str(locked / "hidden.png") not in images
    assert rejected == [(str(locked), DENIED)]
    scanned = scan_data_root(root)
    assert [(s.path, s.reason) for s in scanned.skipped] == [(str(locked), DENIED)]


def test_an_unreadable_input_folder_is_not_called_empty(tmp_path, monkeypatch):
    folder = tmp_path / "photos"
    _img(folder / "a.png")
    real_scandir = os.scandir

    def scandir(path="."):
        if os.fspath(path) == str(folder):
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    assert expand_image_paths([folder]) == ([], [(str(folder), DENIED)])
