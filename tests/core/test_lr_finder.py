"""The learning-rate range test: sweep, divergence stop, cancel, suggestion rules,
no file written, and the ``lr-find`` command."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import tiny_config
from PIL import Image

from mlcls_gui.cli import main
from mlcls_gui.core.errors import ConfigError, DatasetError
from mlcls_gui.core.training import lr_finder
from mlcls_gui.core.training.lr_finder import LrPoint, find_learning_rate, steepest, summarise, valley

STEPS = 24


def _config(root: Path, out: Path, **changes):
    return tiny_config(root, out, arch="tiny_cnn", **changes)


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _points(lrs: np.ndarray, losses: np.ndarray) -> list[LrPoint]:
    return [LrPoint(i + 1, float(lr), float(loss), float(loss)) for i, (lr, loss) in enumerate(zip(lrs, losses))]


# ---------------------------------------------------------------- the sweep
def test_sweep_is_exponential_and_writes_nothing(tiny_root: Path, tmp_path: Path) -> None:
    earlier_run = tmp_path / "out"
    earlier_run.mkdir()
    (earlier_run / "final_model.pt").write_bytes(b"an earlier run's model")
    (earlier_run / "metrics.csv").write_text("epoch,train_loss\n1,0.5\n")
    before = _files(earlier_run)
    heard: list[LrPoint] = []

    result = find_learning_rate(_config(tiny_root, earlier_run), start_lr=1e-6, end_lr=1.0, steps=STEPS,
                                on_point=heard.append)

    assert _files(earlier_run) == before  # nothing added, nothing changed
    assert result.stop_reason in ("completed", "diverged")
    assert heard == result.points
    assert [p.step for p in result.points] == list(range(1, len(result.points) + 1))
    lrs = np.array(result.lrs)
    assert lrs[0] == pytest.approx(1e-6)
    # Equal ratios between steps: the rate grows exponentially to end_lr at the last step.
    assert np.allclose(np.diff(np.log(lrs)), math.log(1e6) / (STEPS - 1))
    if result.stop_reason == "completed":
        assert len(result.points) == STEPS and lrs[-1] == pytest.approx(1.0)
    assert all(math.isfinite(p.loss) and math.isfinite(p.smoothed) for p in result.points)
    # The first smoothed value is the first loss itself (debiased average).
    assert result.points[0].smoothed == pytest.approx(result.points[0].loss)
    assert result.suggestion is not None and 1e-6 <= result.suggestion <= 1.0
    assert result.method == "valley" and result.alternatives["valley"] == result.suggestion
    assert json.loads(json.dumps(result.to_dict()))["suggestion"] == result.suggestion


def test_missing_output_folder_is_not_created(tiny_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "never"
    find_learning_rate(_config(tiny_root, out), steps=12)
    assert not out.exists()


def test_stops_when_the_loss_diverges(tiny_root: Path, tmp_path: Path) -> None:
    # Rates up to 1e6 wreck the weights long before the last step.
    result = find_learning_rate(_config(tiny_root, tmp_path / "o", weight_decay=0.0),
                                start_lr=1e-3, end_lr=1e6, steps=60)
    assert result.stop_reason == "diverged"
    assert len(result.points) < 59


def test_cancel_stops_at_the_next_batch_without_a_suggestion(tiny_root: Path, tmp_path: Path) -> None:
    asked = []

    def should_stop() -> bool:
        asked.append(1)
        return len(asked) > 5

    result = find_learning_rate(_config(tiny_root, tmp_path / "o"), steps=50, should_stop=should_stop)
    assert result.stop_reason == "cancelled"
    assert len(result.points) == 5
    assert result.suggestion is None
    assert "Cancelled after 5 of 50 steps" in result.message


def test_uses_the_configured_loss(tiny_root: Path, tmp_path: Path) -> None:
    """The same weights and batches give a different first loss with another loss function."""
    bce = find_learning_rate(_config(tiny_root, tmp_path / "o"), steps=10)
    again = find_learning_rate(_config(tiny_root, tmp_path / "o"), steps=10)
    focal = find_learning_rate(_config(tiny_root, tmp_path / "o", loss="focal"), steps=10)
    assert again.points[0].loss == pytest.approx(bce.points[0].loss)  # deterministic
    assert focal.points[0].loss < bce.points[0].loss * 0.5  # focal turns easy labels down


@pytest.mark.parametrize(("start", "end", "steps", "words"), [
    (0.0, 1.0, 50, "positive"), (1e-3, 1e-4, 50, "larger than the start"),
    (1e-7, 10.0, 3, "at least 10 steps"), (math.nan, 1.0, 50, "positive"),
])
def test_bad_ranges_are_refused(start: float, end: float, steps: int, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        lr_finder.check_range(start, end, steps)


def test_missing_data_folder_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError):
        find_learning_rate(_config(tmp_path / "no-such-folder", tmp_path / "o"), steps=10)


# ---------------------------------------------------------------- suggestion rules
def test_valley_and_steepest_lie_on_the_falling_part() -> None:
    lrs = np.logspace(-6, 0, 61)
    x = np.log10(lrs)
    # Flat, then falling fastest at 1e-3, lowest near 1e-2, then rising steeply.
    losses = 1.0 - 0.5 * (1 + np.tanh((x + 3) * 2)) / 2 + np.where(x > -2, (x + 2) ** 2, 0)
    assert steepest(lrs, losses) == pytest.approx(1e-3, rel=0.3)
    suggested = valley(lrs, losses)
    assert suggested is not None and 1e-6 < suggested < lrs[np.argmin(losses)]


def test_rising_curve_gives_no_valley() -> None:
    lrs = np.logspace(-5, 0, 30)
    losses = np.linspace(0.5, 2.0, 30)
    assert valley(lrs, losses) is None
    assert steepest(lrs, losses) is None
    result = summarise(_points(lrs, losses), 30, "completed")
    assert result.suggestion is None and "did not fall" in result.message


def test_too_few_points_after_an_early_divergence() -> None:
    lrs = np.logspace(-7, -6, 8)
    result = summarise(_points(lrs, np.full(8, 0.7)), 100, "diverged")
    assert result.suggestion is None
    assert "too few points" in result.message and "lower learning rate" in result.message


# ---------------------------------------------------------------- the command
def _cli_args(root: Path, out: Path) -> list[str]:
    return ["lr-find", "--set", f"images_root={root}", "--set", f"save_model_folder={out}",
            "--set", "arch=tiny_cnn", "--set", "image_size=32", "--set", "batch_size=8",
            "--set", "pretrained=false", "--set", "device=cpu", "--set", "val_fraction=0.2"]


def test_command_prints_the_curve_and_writes_json_and_plot(tiny_root: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    json_file, plot_file = tmp_path / "lr.json", tmp_path / "lr.png"
    code = main(_cli_args(tiny_root, out) + ["--steps", "20", "--json", str(json_file), "--plot", str(plot_file)])
    printed = capsys.readouterr().out
    assert code == 0
    data = json.loads(json_file.read_text())
    assert data["suggestion"] > 0 and len(data["points"]) == 20
    assert data["config"]["arch"] == "tiny_cnn"
    assert "<- suggested" in printed and f"--set=learning_rate={data['suggestion']:.2g}" in printed
    assert f"--set=images_root={tiny_root}" in printed  # the hint trains what was tested
    with Image.open(plot_file) as image:
        assert image.size == (720, 440)
        # The curve's blue and the suggestion's green are drawn.
        colours = {c for _, c in image.getcolors(maxcolors=100_000)}
        assert (30, 90, 200) in colours and (0, 150, 70) in colours
    assert not out.exists()


@pytest.mark.parametrize(("extra", "words"), [
    (["--plot", "curve.svg"], "ending in .png"),
    (["--steps", "3"], "at least 10 steps"),
    (["--set", "learning_rate"], "expected FIELD=VALUE"),
    (["--json", "/no/such/folder/x.json"], "does not exist"),
])
def test_command_mistakes_are_one_line(tiny_root: Path, tmp_path: Path, capsys, extra, words) -> None:
    code = main(_cli_args(tiny_root, tmp_path / "out") + extra)
    err = capsys.readouterr().err
    assert code == 2
    assert words in err and len(err.strip().splitlines()) == 1
