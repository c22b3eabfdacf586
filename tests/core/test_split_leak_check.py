"""A run trained on a leaking split says so in its summary (the near-copy check)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from conftest import tiny_config
from PIL import Image

from mlcls_gui.cli import main
from mlcls_gui.core.data.demo import write_demo_dataset
from mlcls_gui.core.health.split_check import near_copies_across_splits
from mlcls_gui.core.output_names import SUMMARY_NAME
from mlcls_gui.core.training.engine import Trainer
from mlcls_gui.core.training.engine.reports import leak_warning


def _leaking_root(tmp_path: Path) -> Path:
    """The demo set, each image of two folders also there as a resized copy: the seeded
    split scatters the copies over train, val and test."""
    root = write_demo_dataset(tmp_path / "data", images_per_folder=8, image_size=96)
    for folder in ("circle", "cross+triangle"):
        for path in sorted((root / folder).glob("*.png")):
            Image.open(path).resize((80, 80)).save(path.with_name(f"{path.stem}_copy.png"))
    return root


def test_a_leaking_split_is_counted_in_the_summary_and_the_message(tmp_path: Path):
    root = _leaking_root(tmp_path)
    cfg = tiny_config(root, tmp_path / "out", n_epochs=1, check_split_leakage=True)
    result = Trainer(cfg, split_check=near_copies_across_splits).run()
    summary = json.loads((Path(result.output_dir) / SUMMARY_NAME).read_text(encoding="utf-8"))
    check = summary["near_copies_across_splits"]
    assert check["test_images_with_copy_in_train"] >= 2 and check["checked_images"] == sum(
        summary["split_sizes"].values())
    assert all("_copy" in a or "_copy" in b for a, b in check["examples"])
    assert "have a near copy in training" in summary["message"]


def test_no_copies_say_nothing_and_the_field_turns_the_check_off(tmp_path: Path):
    nothing = {"test_images_with_copy_in_train": 0, "val_images_with_copy_in_train": 0}
    assert leak_warning(nothing) == "" and leak_warning(None) == ""
    root = write_demo_dataset(tmp_path / "clean", images_per_folder=4, image_size=32)
    calls = []
    off = Trainer(tiny_config(root, tmp_path / "off", n_epochs=1), split_check=calls.append).run()
    assert calls == [] and json.loads((Path(off.output_dir) / SUMMARY_NAME).read_text())[
        "near_copies_across_splits"] is None


def test_the_train_command_runs_the_check(tmp_path: Path, capsys):
    root = _leaking_root(tmp_path)
    shutil.rmtree(root / "square")  # fewer images: a quicker run
    out = tmp_path / "cli"
    code = main(["train", "--set", f"images_root={root}", "--set", f"save_model_folder={out}",
                 "--set", "arch=tiny_cnn", "--set", "pretrained=false", "--set", "image_size=32",
                 "--set", "n_epochs=1", "--set", "device=cpu", "--quiet"])
    assert code == 0
    summary = json.loads((out / SUMMARY_NAME).read_text(encoding="utf-8"))
    assert summary["near_copies_across_splits"]["test_images_with_copy_in_train"] >= 1
