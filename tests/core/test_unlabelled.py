"""Unlabelled images: listed by the scan in no split, labelled by an Apply (into
label folders, or _no_label/ for none of the labels), put back by Undo."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from test_relabel import snapshot

from mlcls_gui.core.data.dataset import scan_data_root
from mlcls_gui.core.data.demo import write_demo_dataset
from mlcls_gui.core.errors import MlclsError
from mlcls_gui.core.review.relabel import apply_label_changes, undo_last_apply


@pytest.fixture
def data(tmp_path: Path) -> Path:
    root = write_demo_dataset(tmp_path / "data", images_per_folder=3, image_size=16)
    waiting = root / "unlabelled" / "batch1"
    waiting.mkdir(parents=True)
    for index, source in enumerate(sorted((root / "circle").glob("*.png"))[:2]):
        shutil.copy(source, waiting / f"new_{index}.png")
    shutil.copy(next((root / "square").glob("*.png")), root / "unlabelled" / "new_2.png")
    return root


def _all(splits) -> dict[str, tuple[str, ...]]:
    return {Path(s.path).name: s.labels for s in splits.train + splits.val + splits.test}


def test_unlabelled_images_are_listed_in_no_split_and_no_label(data: Path) -> None:
    splits = scan_data_root(data)
    assert sorted(Path(p).name for p in splits.unlabelled) == ["new_0.png", "new_1.png", "new_2.png"]
    assert "unlabelled" not in splits.labels and not any(n.startswith("new_") for n in _all(splits))
    assert not any("unlabelled" in s.path for s in splits.skipped)
    text = splits.summary().to_text()
    assert "Unlabelled: 3 image(s) in unlabelled/" in text


def test_apply_moves_unlabelled_images_into_label_folders_and_undo_puts_them_back(data: Path) -> None:
    before = snapshot(data)
    waiting = data / "unlabelled"
    result = apply_label_changes(data, {
        str(waiting / "batch1" / "new_0.png"): ["circle"],
        str(waiting / "batch1" / "new_1.png"): ["circle", "cross"],
        str(waiting / "new_2.png"): [],  # none of these labels
    })
    moved = {Path(c.before).name: Path(c.after).relative_to(data).as_posix() for c in result.changed}
    assert moved == {"new_0.png": "circle/batch1/new_0.png", "new_1.png": "circle+cross/batch1/new_1.png",
                     "new_2.png": "_no_label/new_2.png"}
    splits = scan_data_root(data)
    labelled = _all(splits)
    assert labelled["new_1.png"] == ("circle", "cross") and labelled["new_2.png"] == ()
    assert "_no_label" not in splits.labels and splits.unlabelled == []
    undo_last_apply(data)
    assert snapshot(data) == before


def test_with_given_splits_a_newly_labelled_image_goes_into_train(tmp_path: Path) -> None:
    root = tmp_path / "splits"
    write_demo_dataset(root / "train", images_per_folder=2, image_size=16)
    write_demo_dataset(root / "test", images_per_folder=1, image_size=16)
    (root / "unlabelled").mkdir()
    shutil.copy(next((root / "test" / "circle").glob("*.png")), root / "unlabelled" / "x.png")
    splits = scan_data_root(root)
    assert splits.layout == "splits" and len(splits.unlabelled) == 1
    assert not any("unlabelled" in s.path for s in splits.skipped)
    apply_label_changes(root, {str(root / "unlabelled" / "x.png"): ["triangle"]})
    assert (root / "train" / "triangle" / "x.png").is_file()


def test_a_csv_row_gets_none_of_the_labels_only_where_the_csv_can_say_so(tmp_path: Path) -> None:
    from PIL import Image

    folder = tmp_path / "csv"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        Image.new("RGB", (8, 8)).save(folder / name)
    (folder / "labels.csv").write_text("path,cat,dog\na.png,1,0\nb.png,,\n", encoding="utf-8")
    assert [Path(p).name for p in scan_data_root(folder).unlabelled] == ["b.png"]
    apply_label_changes(folder, {str(folder / "b.png"): []})
    assert (folder / "labels.csv").read_text(encoding="utf-8").splitlines()[2] == "b.png,0,0"

    (folder / "labels.csv").write_text("path,labels\na.png,cat\nb.png,\n", encoding="utf-8")
    with pytest.raises(MlclsError, match="empty 'labels' cell means unknown.*0/1 column"):
        apply_label_changes(folder, {str(folder / "b.png"): []})


_KILL_SCRIPT = """
import os, signal, sys
from mlcls_gui.core.review import file_moves
from mlcls_gui.core.errors import MlclsError
from mlcls_gui.core.review.relabel import apply_label_changes
root = sys.argv[1]
seen = [0]
def hook(name):
    if name == "moved":
        seen[0] += 1
        if seen[0] == 2:
            os.kill(os.getpid(), signal.SIGKILL)
file_moves.FAULT_HOOK = hook
waiting = os.path.join(root, "unlabelled")
apply_label_changes(root, {os.path.join(waiting, "batch1", "new_0.png"): ["circle"],
                           os.path.join(waiting, "batch1", "new_1.png"): ["cross"],
                           os.path.join(waiting, "new_2.png"): []})
"""


def test_a_kill_between_the_moves_leaves_each_image_in_one_place(data: Path) -> None:
    before = snapshot(data)
    names = sorted(p.name for p in data.rglob("*.png"))
    proc = subprocess.run([sys.executable, "-c", _KILL_SCRIPT, str(data)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert sorted(p.name for p in data.rglob("*.png")) == names
    splits = scan_data_root(data)
    in_splits = {n for n in _all(splits) if n.startswith("new_")}
    waiting = {Path(p).name for p in splits.unlabelled}
    assert in_splits and waiting and not in_splits & waiting and len(in_splits | waiting) == 3
    undo_last_apply(data)
    assert snapshot(data) == before
    assert os.path.isfile(data / "unlabelled" / "new_2.png")
