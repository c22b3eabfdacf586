"""CSV-labelled data roots: reading, checking, scanning and writing changes back."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mlcls_gui.core.data.csv_labels import (
    COLUMNS_FORMAT,
    LABELS_FORMAT,
    CsvLabelsError,
    apply_csv_label_changes,
    find_labels_csv,
    read_labels_csv,
)
from mlcls_gui.core.data.dataset import scan_data_root
from mlcls_gui.core.data.splits import target_matrix
from mlcls_gui.core.errors import DatasetError


def _img(path: Path, colour=(200, 10, 10)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (12, 12), colour).save(path)


def _csv(folder: Path, text: str, name: str = "labels.csv", images: bool = True) -> Path:
    """Writes ``text`` as the CSV and a small image for every path it lists."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8", newline="")
    if images:
        for line in text.splitlines()[1:]:
            cell = line.split(",")[0].split(";")[0].strip()
            if cell and not cell.startswith("..") and cell.endswith(".png"):
                _img(folder / cell)
    return path


def _many(prefix: str, labels: str, n: int, split: str | None = None) -> str:
    end = f",{split}" if split else ""
    return "".join(f"{prefix}{i}.png,{labels}{end}\n" for i in range(n))


def test_find_labels_csv(tmp_path):
    csv_file = _csv(tmp_path / "a", "path,labels\nx.png,cat\n", name="mine.CSV")
    assert find_labels_csv(csv_file) == csv_file.resolve()
    assert find_labels_csv(tmp_path / "a") is None  # no labels.csv in it
    named = _csv(tmp_path / "b", "path,labels\nx.png,cat\n")
    assert find_labels_csv(tmp_path / "b") == named.resolve()
    assert find_labels_csv(str(tmp_path / "b")) == named.resolve()
    (tmp_path / "c.txt").write_text("x")
    assert find_labels_csv(tmp_path / "c.txt") is None
    assert find_labels_csv(tmp_path / "missing.csv") is None
    assert find_labels_csv("") is None


def test_labels_column_format_with_unknown_rows(tmp_path):
    path = _csv(tmp_path, "path,labels,notes\n"
                          "a/1.png,cat|dog,x\n"
                          "a/2.png,c+d,\n"
                          "b/3.png,,no idea\n"
                          "b/4.png,-1,\n")
    info = read_labels_csv(path)
    assert info.format == LABELS_FORMAT and info.label_columns == () and not info.has_split
    rows = {row.path: row for row in info.rows}
    assert rows["a/1.png"].labels == ("cat", "dog") and rows["a/1.png"].unknown == ()
    assert rows["a/2.png"].labels == ("c+d",)  # '+' belongs to the label here
    # An empty (or -1) labels cell leaves every label unknown, not "no labels".
    assert rows["b/3.png"].labels == () and rows["b/3.png"].unknown == ("c+d", "cat", "dog")
    assert rows["b/4.png"].unknown == ("c+d", "cat", "dog")
    assert rows["b/3.png"].row == 4


def test_columns_format_is_detected_with_unknown_cells(tmp_path):
    root = tmp_path / "data"
    text = "path,cat,dog,split\n" + "".join(
        f"i{i}.png,{i % 2},{'' if i < 2 else '-1' if i < 4 else (i // 2) % 2},{('train', 'val', 'test')[i % 3]}\n"
        for i in range(12)
    )
    _csv(root, text)
    splits = scan_data_root(root)
    assert splits.layout == "csv-splits" and splits.csv_format == COLUMNS_FORMAT
    assert splits.root == str((root / "labels.csv").resolve())
    assert splits.labels == ["cat", "dog"]
    summary = splits.summary()
    assert summary.csv_format == COLUMNS_FORMAT
    assert summary.unknown_counts == {"cat": 0, "dog": 4} and summary.unknown_cells == 4
    assert summary.unknown_images == 4
    assert "0/1 columns: cat, dog" in summary.layout_reason
    text = summary.to_text()
    assert "CSV, 0/1 columns, split column" in text and "Unknown label cells: 4 in 4 image(s)" in text
    by_name = {Path(s.path).name: s for s in splits.train + splits.val + splits.test}
    assert by_name["i0.png"].unknown == ("dog",) and by_name["i0.png"].labels == ()
    assert by_name["i5.png"].labels == ("cat",) and by_name["i5.png"].unknown == ()
    assert [Path(s.path).name for s in splits.val] == ["i1.png", "i10.png", "i4.png", "i7.png"]
    targets = target_matrix(splits.val, splits.labels)
    assert targets[0, 0] == 1 and math.isnan(targets[0, 1])  # i1: cat, dog unknown
    assert targets[2].tolist() == [0.0, 0.0]  # i4: known to carry neither


@pytest.mark.parametrize(
    "text, message",
    [
        ("file,labels\nx.png,cat\n", "no 'path' column (its columns: file, labels)"),
        ("path,labels\n../x.png,cat\n", "row 2, column 'path': '../x.png' lies outside"),
        ("path,labels\n/etc/x.png,cat\n", "row 2, column 'path': '/etc/x.png' lies outside"),
        ("path,cat,dog\nx.png,1,yes\n", "row 2, column 'dog': 'yes' is not 0, 1, empty or -1"),
        ("path,labels\nx.png,cat||dog\n", "row 2, column 'labels': 'cat||dog' has an empty label"),
        ("path,labels,split\nx.png,cat,training\n", "row 2, column 'split': 'training' is not a split"),
        ("path,labels,split\nx.png,cat,\n", "row 2, column 'split': '' is not a split"),
        ("path,labels\nx.png,cat\ny.png,dog\n./x.png,dog\n", "row 4, column 'path': './x.png' is listed again (first in row 2)"),
        ("path,labels\n,cat\n", "row 2, column 'path': the path is empty"),
        ("path,labels\nx.png,cat,dog\n", "row 2 has 3 cells but the first row names 2 columns"),
        ("path,split\nx.png,train\n", "no label columns"),
        ("path,cat,cat\nx.png,1,0\n", "the label column 'cat' appears twice"),
        ("", "is empty"),
    ],
)
def test_csv_mistakes_name_row_and_column(tmp_path, text, message):
    path = _csv(tmp_path, text, images=False)
    with pytest.raises(CsvLabelsError) as info:
        scan_data_root(path)
    assert message in str(info.value) and str(path) in str(info.value)
    assert isinstance(info.value, DatasetError)


def test_many_bad_rows_are_listed_together(tmp_path):
    path = _csv(tmp_path, "path,labels,split\n" + "".join(f"x{i}.png,cat,trian\n" for i in range(8)), images=False)
    with pytest.raises(CsvLabelsError) as info:
        read_labels_csv(path)
    text = str(info.value)
    assert "row 2," in text and "row 6," in text and "row 7," not in text and "(3 more)" in text


def test_missing_and_unreadable_images_are_skipped_with_their_row(tmp_path):
    text = "path,labels\n" + _many("a/", "cat", 4) + _many("b/", "dog", 4) + "gone.png,cat\nnotes.txt,dog\nbad.png,dog\n"
    path = _csv(tmp_path, text)
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "bad.png").write_bytes(b"not a png")
    (tmp_path / "gone.png").unlink()
    splits = scan_data_root(path)
    reasons = {Path(s.path).name: s.reason for s in splits.skipped}
    assert reasons["gone.png"] == "file not found (row 10 of labels.csv)"
    assert reasons["notes.txt"].startswith("not an image file (.txt) (row 11")
    assert "row 12" in reasons["bad.png"]
    assert len(splits.train) + len(splits.val) + len(splits.test) == 8
    assert "gone.png" in splits.summary().to_text()


def test_split_column_without_val_splits_off_train_and_warns_without_test(tmp_path):
    text = "path,labels,split\n" + _many("a", "cat", 10, "train") + _many("b", "dog", 10, "TRAIN ")
    splits = scan_data_root(_csv(tmp_path, text), val_fraction=0.2)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (16, 4, 0)
    assert "no row is val" in splits.layout_reason
    assert any("has the split test" in w for w in splits.warnings)


def test_semicolons_and_a_byte_order_mark_are_read(tmp_path):
    text = "\ufeffpath;labels\n" + "".join(f"x{i}.png;{'cat' if i % 2 else 'dog|cat'}\n" for i in range(10))
    splits = scan_data_root(_csv(tmp_path, text))
    assert splits.labels == ["cat", "dog"] and len(splits.train + splits.val + splits.test) == 10


def test_csv_root_problems_speak_of_rows(tmp_path):
    splits = scan_data_root(_csv(tmp_path, "path,labels\n" + _many("a", "cat", 6)))
    assert any("Add rows for other labels" in p for p in splits.problems())
    empty = scan_data_root(_csv(tmp_path / "e", "path,labels\n"))
    assert "Add rows whose path names an image" in empty.problems()[0]


def test_rows_with_no_known_label_wait_for_labels_in_no_split(tmp_path):
    text = "path,labels\n" + _many("a", "cat", 5) + _many("b", "dog", 5) + "c0.png,\nc1.png,-1\n"
    splits = scan_data_root(_csv(tmp_path, text))
    in_splits = {Path(s.path).name for s in splits.train + splits.val + splits.test}
    assert sorted(Path(p).name for p in splits.unlabelled) == ["c0.png", "c1.png"]
    assert len(in_splits) == 10 and not in_splits & {"c0.png", "c1.png"}
    summary = splits.summary()
    assert summary.unlabelled == 2 and "Unlabelled: 2 image(s) (rows of labels.csv" in summary.to_text()


def test_a_non_csv_file_is_refused(tmp_path):
    (tmp_path / "labels.txt").write_text("path,labels\n")
    with pytest.raises(DatasetError, match="not a folder or a .csv file"):
        scan_data_root(tmp_path / "labels.txt")


# ------------------------------------------------------------------ writing back
def test_changes_in_the_labels_format_keep_everything_else(tmp_path):
    text = 'path,labels,notes\r\na.png,cat,"keep, this"\r\nb.png,dog,\r\nc.png,,"multi\r\nline"\r\n'
    path = _csv(tmp_path, text)
    backup = apply_csv_label_changes(path, {"a.png": ["dog", "cat"], "c.png": ["bird+x"]})
    assert backup.read_bytes() == text.encode()
    assert backup.name.startswith("labels.csv.bak-")
    assert path.read_bytes().decode() == (
        'path,labels,notes\r\na.png,cat|dog,"keep, this"\r\nb.png,dog,\r\nc.png,bird+x,"multi\r\nline"\r\n'
    )
    rows = {row.path: row for row in read_labels_csv(path).rows}
    assert rows["c.png"].labels == ("bird+x",) and rows["c.png"].unknown == ()
    # A second change in the same second gets its own backup.
    second = apply_csv_label_changes(path, {"b.png": ["cat"]})
    assert second != backup and backup.exists() and second.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_changes_in_the_columns_format_set_every_label_column(tmp_path):
    text = "\ufeffsplit;path;cat;dog;bird\ntrain;a.png;1;;0\nval;b.png;0;1;-1\n"
    path = _csv(tmp_path, text, images=False)
    os.chmod(path, 0o640)
    apply_csv_label_changes(path, {"a.png": ["dog"]})
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert raw.decode("utf-8-sig") == "split;path;cat;dog;bird\ntrain;a.png;0;1;0\nval;b.png;0;1;-1\n"
    assert (path.stat().st_mode & 0o777) == 0o640


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"z.png": ["cat"]}, "no row whose path is 'z.png'"),
        ({"a.png": []}, "empty 'labels' cell means unknown"),
        ({"a.png": ["a|b"]}, "may not contain '|'"),
    ],
)
def test_refused_changes_leave_the_file_and_write_no_backup(tmp_path, changes, message):
    text = "path,labels\na.png,cat\n"
    path = _csv(tmp_path, text, images=False)
    with pytest.raises(CsvLabelsError, match=message):
        apply_csv_label_changes(path, changes)
    assert path.read_text() == text and sorted(p.name for p in tmp_path.iterdir()) == ["labels.csv"]


def test_a_label_without_a_column_is_refused(tmp_path):
    path = _csv(tmp_path, "path,cat\na.png,1\n", images=False)
    with pytest.raises(CsvLabelsError, match="no column for the label 'dog'"):
        apply_csv_label_changes(path, {"a.png": ["dog"]})


def test_target_matrix_marks_unknown_as_nan(tmp_path):
    from mlcls_gui.core.data.splits import Sample

    samples = [Sample("a", ("x",), ("y",)), Sample("b", (), ()), Sample("c", ("y",), ("z",))]
    matrix = target_matrix(samples, ["x", "y"])
    assert matrix.dtype == np.float32
    assert np.array_equal(np.isnan(matrix), [[False, True], [False, False], [False, False]])
    assert np.nan_to_num(matrix, nan=-1).tolist() == [[1, -1], [0, 0], [0, 1]]
