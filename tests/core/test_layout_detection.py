"""Which layout a data root is read in: label folders, or train/val/test splits
given as folders of label folders; the choice comes with its reason."""

import logging
from pathlib import Path

from PIL import Image

from mlcls_gui.core.data.dataset import scan_data_root
from mlcls_gui.core.data.splits import DatasetSummary


def _images(folder: Path, count: int = 4) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.new("RGB", (8, 8), (40 * i, 100, 30)).save(folder / f"{i}.png")


def _split_root(root: Path, splits: tuple[str, ...] = ("train", "test")) -> Path:
    for split in splits:
        for label in ("a", "b", "a+b"):
            _images(root / split / label, 3)
    return root


def test_train_and_test_label_folders_in_a_flat_root(tmp_path, caplog):
    root = tmp_path / "vehicles"
    for name in ("bus", "car", "train", "car+train", "test"):
        _images(root / name)
    with caplog.at_level(logging.INFO, logger="mlcls_gui.core.data.dataset"):
        splits = scan_data_root(root)
    assert splits.layout == "folders"
    assert splits.labels == ["bus", "car", "test", "train"]
    assert not splits.problems()
    assert "train/ holds images directly" in splits.layout_reason
    assert "label 'train'" in splits.layout_reason
    summary = splits.summary()
    assert summary.layout_reason == splits.layout_reason
    assert f"Layout: {splits.layout_reason}" in summary.to_text()
    assert splits.layout_reason in caplog.text


def test_splits_of_label_folders_are_used_as_given(tmp_path):
    splits = scan_data_root(_split_root(tmp_path / "root", ("train", "val", "test")))
    assert splits.layout == "splits"
    assert (len(splits.train), len(splits.val), len(splits.test)) == (9, 9, 9)
    assert splits.layout_reason == (
        "train/, val/ and test/ hold label folders, so their images are used as given."
    )
    assert "Layout: train/, val/ and test/ hold label folders" in splits.summary().to_text()


def test_train_with_images_and_sub_folders_is_flat_with_a_warning(tmp_path):
    root = _split_root(tmp_path / "root")
    _images(root / "train", 2)  # loose images beside the label folders
    splits = scan_data_root(root)
    assert splits.layout == "folders"
    assert "as well as sub-folders" in splits.layout_reason
    warning = next(w for w in splits.warnings if "holds images directly and also sub-folders" in w)
    assert str(root / "train") in warning
    assert splits.labels == ["test", "train"]  # train/a/... are images of "train"


def test_test_folder_holding_images_directly_is_not_a_split(tmp_path):
    root = tmp_path / "root"
    for label in ("a", "b"):
        _images(root / "train" / label)
    _images(root / "test")
    splits = scan_data_root(root)
    assert splits.layout == "folders"
    assert splits.layout_reason.startswith("test/ does not hold label folders")
    assert any(str(root / "train") in w and "Put label folders into test/" in w for w in splits.warnings)


def test_a_split_folder_of_other_shape_is_still_scanned(tmp_path):
    root = _split_root(tmp_path / "root")
    _images(root / "val", 2)  # val/ holds images directly: not a given split
    splits = scan_data_root(root)
    assert splits.layout == "splits"
    assert splits.layout_reason == "train/ and test/ hold label folders, so their images are used as given."
    assert sum(s.reason == "not inside a label folder" for s in splits.skipped) == 2


def test_train_without_test_or_val_is_a_label(tmp_path):
    root = tmp_path / "root"
    for label in ("a", "b"):
        _images(root / "train" / label)
    _images(root / "c")
    splits = scan_data_root(root)
    assert splits.layout == "folders"
    assert "no test/ or val/ folder" in splits.layout_reason
    assert splits.labels == ["c", "train"]


def test_no_train_folder_reason_and_default(tmp_path):
    root = tmp_path / "root"
    for label in ("a", "b"):
        _images(root / label)
    assert "no train/ folder" in scan_data_root(root).layout_reason
    summary = DatasetSummary(
        root="r", layout="folders", labels=(), split_sizes={}, label_counts={},
        label_set_counts={}, skipped=(), warnings=(), problems=(),
    )
    assert summary.layout_reason == "" and "Layout:" not in summary.to_text()
