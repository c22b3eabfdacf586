from pathlib import Path

import pytest
from PIL import Image

from mlcls_gui.core.data.dataset import parse_label_folder, scan_data_root
from mlcls_gui.core.data.splits import Sample, stratified_split
from mlcls_gui.core.errors import DatasetError


def _img(path: Path, colour=(200, 10, 10)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (12, 12), colour).save(path)


def _root(tmp_path: Path, folders: dict[str, int]) -> Path:
    root = tmp_path / "root"
    for name, count in folders.items():
        for i in range(count):
            _img(root / name / f"{i}.png")
    return root


def test_label_folder_names():
    assert parse_label_folder(" dog + cat ") == ("cat", "dog")
    assert parse_label_folder("cat+cat") == ("cat",)
    for bad in ("a++b", "+a", "a+", "+"):
        with pytest.raises(DatasetError, match="empty label"):
            parse_label_folder(bad)


def test_folder_layout_split_is_seeded_and_covers_every_label(tmp_path):
    root = _root(tmp_path, {"cat": 10, "dog": 10, "cat+dog": 10, "bird": 1})
    splits = scan_data_root(root, val_fraction=0.2, test_fraction=0.2, seed=3)
    assert splits.layout == "folders"
    assert splits.labels == ["bird", "cat", "dog"]
    assert (len(splits.train), len(splits.val), len(splits.test)) == (19, 6, 6)
    assert any("bird" in s.labels for s in splits.train)  # the lone image trains
    again = scan_data_root(root, val_fraction=0.2, test_fraction=0.2, seed=3)
    assert [s.path for s in again.val] == [s.path for s in splits.val]
    other = scan_data_root(root, val_fraction=0.2, test_fraction=0.2, seed=4)
    assert [s.path for s in other.val] != [s.path for s in splits.val]
    summary = splits.summary()
    assert summary.label_counts["train"]["cat"] + summary.label_counts["val"]["cat"] + summary.label_counts["test"]["cat"] == 20
    assert summary.label_set_counts["cat+dog"] == 10
    assert not summary.problems


def test_given_splits_are_used_and_val_split_off_train(tmp_path):
    root = tmp_path / "root"
    for split, n in (("train", 10), ("test", 3)):
        for label in ("a", "b"):
            for i in range(n):
                _img(root / split / label / f"{i}.png")
    splits = scan_data_root(root, val_fraction=0.2, test_fraction=0.5)
    assert splits.layout == "splits"
    assert len(splits.test) == 6 and len(splits.val) == 4 and len(splits.train) == 16
    for split in ("val",):
        for i in range(2):
            _img(root / split / "a+b" / f"{i}.png")
    splits = scan_data_root(root)
    assert len(splits.val) == 2 and len(splits.train) == 20


def test_bad_and_hidden_files_are_skipped_and_listed(tmp_path):
    root = _root(tmp_path, {"cat": 5, "dog": 5})
    (root / "cat" / "notes.txt").write_text("x")
    (root / "cat" / "broken.jpg").write_bytes(b"not a jpeg")
    (root / "cat" / ".DS_Store").write_bytes(b"\0")
    (root / "dog" / "Thumbs.db").write_bytes(b"\0")
    (root / "loose.png").write_bytes(b"")
    _img(root / "cat" / "nested" / "deep.PNG")
    splits = scan_data_root(root)
    reasons = {Path(s.path).name: s.reason for s in splits.skipped}
    assert set(reasons) == {"notes.txt", "broken.jpg", "loose.png"}
    assert "not an image" in reasons["notes.txt"]
    assert len(splits.train) + len(splits.val) + len(splits.test) == 11


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p / "missing", "does not exist"),
        (lambda p: (p / "f.txt").write_text("x") and p / "f.txt", "not a folder"),
        (lambda p: "", "No data folder"),
    ],
)
def test_unusable_roots_are_refused(tmp_path, make, message):
    with pytest.raises(DatasetError, match=message):
        scan_data_root(make(tmp_path))


def test_problems_block_training(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "No usable images" in scan_data_root(empty).problems()[0]
    single = _root(tmp_path, {"cat": 8})
    problems = scan_data_root(single).problems()
    assert any("same labels" in p for p in problems)
    with pytest.raises(DatasetError):
        scan_data_root(single).require_trainable()


def test_bad_folder_name_is_refused(tmp_path):
    root = _root(tmp_path, {"cat": 2, "a++b": 2})
    with pytest.raises(DatasetError, match="a\\+\\+b"):
        scan_data_root(root)


def test_stratified_split_keeps_one_in_train():
    samples = [Sample(f"{i}.png", ("x",)) for i in range(2)]
    train, val, test = stratified_split(samples, 0.45, 0.45, 0)
    assert len(train) == 1


def test_a_scan_names_every_badly_named_label_folder_at_once(tmp_path):
    root = _root(tmp_path, {"cat": 2, "a++b": 1, "dog+.x": 1, "dog": 2})
    with pytest.raises(DatasetError) as raised:
        scan_data_root(root)
    lines = str(raised.value).splitlines()
    assert len(lines) == 2, lines  # both folders, so one rename round fixes the set
    assert "'a++b'" in lines[0] and "empty label" in lines[0]
    assert "'dog+.x'" in lines[1] and "starts with '.'" in lines[1]
