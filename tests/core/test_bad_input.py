"""Messy data roots, hostile files and runtime faults: each works as documented
or is refused with a message that names the thing and the fix."""

import os
import struct
import zlib
from pathlib import Path

import pytest
from conftest import tiny_config
from PIL import Image

from mlcls_gui.core.config import TrainConfig, field_names, field_spec, field_type
from mlcls_gui.core.data.dataset import scan_data_root
from mlcls_gui.core.data.images import ImageLoadError, probe_image
from mlcls_gui.core.errors import ConfigError, DatasetError, DeviceError
from mlcls_gui.core.training import events as ev
from mlcls_gui.core.training.engine import RunControl, Trainer


def _img(path: Path, colour=(10, 120, 200)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (10, 10), colour).save(path)


def _png_header_only(path: Path, width: int, height: int) -> None:
    """A tiny file that claims to be a huge PNG: a decompression bomb's header."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))


def test_decompression_bomb_png_is_skipped(tmp_path):
    bomb = tmp_path / "bomb.png"
    _png_header_only(bomb, 30000, 30000)
    with pytest.raises(ImageLoadError, match="too large"):
        probe_image(bomb)


def test_non_ascii_names_work(tmp_path):
    root = tmp_path / "données"
    for name in ("chat", "chien", "chat+chien", "猫"):
        for i in range(4):
            _img(root / name / f"ü{i}.png")
    splits = scan_data_root(root)
    assert splits.labels == sorted(["chat", "chien", "猫"])
    assert not splits.problems()


def test_symlink_loop_does_not_hang(tmp_path):
    root = tmp_path / "root"
    for name in ("a", "b"):
        for i in range(4):
            _img(root / name / f"{i}.png")
    os.symlink(root / "a", root / "a" / "loop")  # a/loop -> a
    splits = scan_data_root(root)
    assert len(splits.train) + len(splits.val) + len(splits.test) == 8


def test_only_non_images_and_empty_label_folder(tmp_path):
    root = tmp_path / "root"
    (root / "cat").mkdir(parents=True)
    (root / "cat" / "readme.txt").write_text("x")
    (root / "dog").mkdir()
    splits = scan_data_root(root)
    assert any("No usable images" in p for p in splits.problems())
    assert any("holds no usable images" in w for w in splits.warnings)
    assert [Path(s.path).name for s in splits.skipped] == ["readme.txt"]


def test_labels_differing_in_case_warn(tmp_path):
    root = tmp_path / "root"
    for name in ("Cat", "cat", "dog"):
        for i in range(3):
            _img(root / name / f"{i}.png")
    splits = scan_data_root(root)
    assert splits.labels == ["Cat", "cat", "dog"]
    assert any("differ only in case" in w for w in splits.warnings)


def _invalid_values(name: str) -> list:
    spec, kind = field_spec(name), field_type(name)
    bad: list = [None, [1]]
    if kind is bool:
        bad += ["yes", 1]
    elif kind in (int, float):
        bad += ["3"]
        if spec.minimum is not None:
            bad.append(spec.minimum - 1)
        if spec.maximum is not None:
            bad.append(spec.maximum * 2 + 1)
        if kind is float:
            bad.append(float("nan"))
    elif spec.choices:
        bad.append("nonsense")
    elif spec.pattern:
        bad.append("gpu:0")
    else:
        bad.append(42)
    return bad


@pytest.mark.parametrize("name", field_names())
def test_every_fields_invalid_values_are_refused_by_name(name):
    for value in _invalid_values(name):
        with pytest.raises(ConfigError) as info:
            TrainConfig.from_dict({name: value})
        assert name in str(info.value), (name, value)


def test_unavailable_cuda_is_refused_before_training(tiny_root, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(DeviceError, match="choose cpu or auto"):
        Trainer(tiny_config(tiny_root, tmp_path / "o", device="cuda:3")).run()


def test_output_folder_that_cannot_be_created(tiny_root, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="Cannot write to the output folder"):
        Trainer(tiny_config(tiny_root, blocker / "out")).run()


def test_stop_during_evaluation_ends_the_run_cleanly(tiny_root, tmp_path):
    control = RunControl()

    def stop_when_validating(event):
        if isinstance(event, ev.PhaseChanged) and event.phase == "validating" and event.epoch == 2:
            control.request_stop()

    out = tmp_path / "out"
    result = Trainer(tiny_config(tiny_root, out, n_epochs=4), on_event=stop_when_validating,
                     control=control).run()
    assert result.reason is ev.FinishReason.STOPPED
    assert result.summary["epochs_completed"] == 1 and (out / "final_model.pt").is_file()


def test_dataset_error_message_names_the_folder(tmp_path):
    root = tmp_path / "weird"
    _img(root / "+cat" / "0.png")
    with pytest.raises(DatasetError) as info:
        scan_data_root(root)
    assert "'+cat'" in str(info.value) and str(root) in str(info.value)


def test_stop_during_a_checkpoint_write_keeps_it_whole(tiny_root, tmp_path, monkeypatch):
    from mlcls_gui.core.model_file.contents import read_model_file
    from mlcls_gui.core.training.engine import hooks

    control = RunControl()
    real_save = hooks.save_atomic

    def save_while_stop_is_pressed(payload, path):
        control.request_stop()  # pressed while the file is being written
        real_save(payload, path)

    monkeypatch.setattr(hooks, "save_atomic", save_while_stop_is_pressed)
    out = tmp_path / "out"
    result = Trainer(tiny_config(tiny_root, out, n_epochs=4), control=control).run()
    assert result.reason is ev.FinishReason.STOPPED
    assert read_model_file(out / "checkpoint.pt").best_epoch == 1
    assert read_model_file(out / "final_model.pt").epoch == 1


def test_resume_from_a_pickle_payload_never_runs_it(tiny_root, tmp_path):
    import torch

    from mlcls_gui.core.errors import CheckpointError

    class Payload:
        def __reduce__(self):
            return (open, (str(tmp_path / "pwned"), "w"))

    evil = tmp_path / "evil.pt"
    torch.save({"format": "mlcls-gui", "format_version": 1, "x": Payload()}, evil)
    with pytest.raises(CheckpointError, match="not plain weights"):
        Trainer(tiny_config(tiny_root, tmp_path / "out"), resume_from=evil).run()
    assert not (tmp_path / "pwned").exists()
