"""lr-find's bounds: a data set smaller than one batch and too many steps are
refused in one line before anything is trained or written, and a long test
shows its progress."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from conftest import tiny_config
from PIL import Image

from mlcls_gui.cli import main
from mlcls_gui.commands import lr_find
from mlcls_gui.core.errors import ConfigError, MlclsError
from mlcls_gui.core.progress import never_stop
from mlcls_gui.core.training import lr_finder
from mlcls_gui.core.training.engine import run_state
from mlcls_gui.core.training.lr_finder import MAX_STEPS, LrPoint, find_learning_rate


def _cli_args(root: Path, out: Path, *extra: str) -> list[str]:
    return ["lr-find", "--set", f"images_root={root}", "--set", f"save_model_folder={out}",
            "--set", "arch=tiny_cnn", "--set", "image_size=32", "--set", "batch_size=8",
            "--set", "pretrained=false", "--set", "device=cpu", *extra]


def _one_image_root(folder: Path) -> Path:
    (folder / "cat").mkdir(parents=True)
    Image.new("RGB", (32, 32), (200, 0, 0)).save(folder / "cat" / "only.png")
    return folder


def _refused_in_one_line(capsys: pytest.CaptureFixture, code: int) -> str:
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    return err


# ---------------------------------------------------------------- steps
def test_steps_above_the_maximum_are_refused_saying_the_maximum() -> None:
    lr_finder.check_range(1e-7, 10.0, MAX_STEPS)  # the maximum itself is allowed
    with pytest.raises(ConfigError, match=f"at most {MAX_STEPS}") as caught:
        lr_finder.check_range(1e-7, 10.0, MAX_STEPS + 1)
    assert isinstance(caught.value, MlclsError) and f"{lr_finder.DEFAULT_STEPS} is usual" in str(caught.value)
    assert lr_finder.DEFAULT_STEPS <= MAX_STEPS


def test_the_command_refuses_a_hundred_million_steps_before_scanning(
        tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lr_finder, "scan_data_root", lambda *a, **k: pytest.fail("the data was scanned"))
    out, json_file = tmp_path / "out", tmp_path / "lr.json"
    code = main(_cli_args(tmp_path / "data", out, "--steps", "100000000", "--json", str(json_file)))
    err = _refused_in_one_line(capsys, code)
    assert f"at most {MAX_STEPS}" in err
    assert not out.exists() and not json_file.exists()


def test_the_core_refuses_too_many_steps_too(tiny_root: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=f"at most {MAX_STEPS}"):
        find_learning_rate(tiny_config(tiny_root, tmp_path / "o"), steps=MAX_STEPS * 100)


# ---------------------------------------------------------------- data set size
def test_a_one_image_data_set_is_refused_before_a_model_is_built(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run_state, "build_run_state", lambda *a, **k: pytest.fail("a model was built"))
    root = _one_image_root(tmp_path / "data")
    config = tiny_config(root, tmp_path / "o", val_fraction=0.0, test_fraction=0.0)
    with pytest.raises(ConfigError) as caught:
        find_learning_rate(config, steps=20)
    message = str(caught.value)
    assert "has 1 image(s)" in message and "at least one full batch (`batch_size=8`)" in message
    assert "lower `batch_size`" in message and caught.value.field == "batch_size"


def test_the_command_refuses_a_one_image_data_set_and_writes_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = _one_image_root(tmp_path / "data")
    out, json_file, plot = tmp_path / "out", tmp_path / "lr.json", tmp_path / "lr.png"
    code = main(_cli_args(root, out, "--set", "val_fraction=0", "--set", "test_fraction=0",
                          "--json", str(json_file), "--plot", str(plot)))
    err = _refused_in_one_line(capsys, code)
    assert "at least one full batch (`batch_size=8`)" in err
    assert not out.exists() and not json_file.exists() and not plot.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_one_full_batch_is_enough() -> None:
    lr_finder.check_training_images(8, 8, "data")
    with pytest.raises(ConfigError, match="has 7 image"):
        lr_finder.check_training_images(7, 8, "data")


def test_a_pass_with_no_readable_image_ends_the_test_instead_of_looping() -> None:
    """Every batch of an epoch came back empty (all images unreadable): the sweep
    would start the next epoch for ever."""
    empty = SimpleNamespace(targets=torch.zeros((0, 2)))
    passes = []

    def batches(_split: str, _chunks: list) -> list:
        passes.append(1)
        if len(passes) > 3:
            pytest.fail("the sweep went on after a pass with no readable image")
        return [(empty, None), (empty, None)]

    state = SimpleNamespace(optimizer=torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1),
                            model=torch.nn.Linear(2, 2), train_chunks=lambda: [torch.arange(2)],
                            batches=batches, set_train_mode=lambda: None)
    cfg = SimpleNamespace(arch="tiny_cnn", freeze_extractor=False, keep_norm_stats=False, pretrained=False)
    with pytest.raises(ConfigError, match="No training image could be read"):
        lr_finder._sweep(state, cfg, 1e-7, 10.0, 20, never_stop, None)
    assert len(passes) == 1


# ---------------------------------------------------------------- progress
def test_progress_lines_come_at_a_modest_rate(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    clock = [100.0]
    monkeypatch.setattr(lr_find.time, "monotonic", lambda: clock[0])
    progress = lr_find.Progress(1000)
    for step in range(1, 161):  # one step every 0.125 s (exact in binary): 20 s in all
        clock[0] += 0.125
        progress(LrPoint(step, 1e-7 * step, 0.7, 0.69))
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert captured.out == ""  # stdout keeps the table and the suggestion
    assert 3 <= len(lines) <= math.ceil(20 / lr_find.PROGRESS_SECONDS)
    assert lines[0].startswith("  step 40/1000: lr") and "smoothed loss 0.6900" in lines[0]


def test_the_command_reports_progress_while_it_runs(
        tiny_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lr_find, "PROGRESS_SECONDS", 0.0)  # a line at every step
    torch.set_num_threads(1)
    code = main(_cli_args(tiny_root, tmp_path / "out", "--set", "val_fraction=0.2", "--steps", "12"))
    captured = capsys.readouterr()
    assert code in (0, 1)  # a curve was drawn; whether it allows a suggestion is not the point
    steps = [line for line in captured.err.splitlines() if line.startswith("  step ")]
    assert steps and steps[-1].startswith(f"  step {len(steps)}/12")
    assert "step " not in captured.out.split("Learning-rate test on", 1)[0]
