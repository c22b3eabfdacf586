"""Apply moves images into their new label folders; Undo restores the tree byte for byte."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mlcls_gui.core.data.dataset import scan_data_root
from mlcls_gui.core.data.demo import write_demo_dataset
from mlcls_gui.core.review import file_moves
from mlcls_gui.core.review.relabel import JOURNAL_NAME, RelabelError, apply_label_changes, can_undo, undo_last_apply


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every file's bytes and every folder (None) under root, by relative path."""
    found: dict[str, bytes | None] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            found[os.path.relpath(os.path.join(dirpath, name), root)] = None
        for name in filenames:
            path = os.path.join(dirpath, name)
            found[os.path.relpath(path, root)] = Path(path).read_bytes()
    return found


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write_demo_dataset(tmp_path / "data", images_per_folder=3, image_size=16)


def test_apply_moves_into_new_folder_and_undo_restores_exactly(data: Path) -> None:
    before = snapshot(data)
    circle = data / "circle" / "circle_000.png"
    square = data / "square" / "square_001.png"
    result = apply_label_changes(data, {
        str(circle): ["cross", "circle"],  # a combination without a folder yet
        str(square): ["triangle"],
    })
    assert {(Path(c.before).name, Path(c.after).relative_to(data).as_posix()) for c in result.changed} == {
        ("circle_000.png", "circle+cross/circle_000.png"), ("square_001.png", "triangle/square_001.png"),
    }
    assert not circle.exists() and (data / "circle+cross" / "circle_000.png").read_bytes() == before[
        "circle/circle_000.png"]
    # Moved, not copied: the number of image files is unchanged.
    assert sum(1 for _ in data.rglob("*.png")) == sum(1 for k in before if k.endswith(".png"))
    scanned = {Path(s.path).name: s.labels for s in scan_data_root(data).train + scan_data_root(data).val
               + scan_data_root(data).test}
    assert scanned["circle_000.png"] == ("circle", "cross")
    assert (data / JOURNAL_NAME).is_file() and can_undo(data)

    undone = undo_last_apply(data)
    assert len(undone.changed) == 2
    assert snapshot(data) == before  # created folder and journal gone, every byte back
    assert not can_undo(data)


def test_apply_never_overwrites_a_name_clash(data: Path) -> None:
    source = data / "circle" / "circle_000.png"
    clash = data / "square" / "circle_000.png"
    clash.write_bytes(b"not the same file")
    original = source.read_bytes()
    before = snapshot(data)
    result = apply_label_changes(data, {str(source): ["square"]})
    assert result.renamed == 1
    assert clash.read_bytes() == b"not the same file"
    assert (data / "square" / "circle_000_1.png").read_bytes() == original
    undo_last_apply(data)
    assert snapshot(data) == before


@pytest.mark.parametrize("primitive", ["renameat2", "link"])
def test_move_primitive_refuses_an_existing_destination(tmp_path: Path, monkeypatch, primitive) -> None:
    if primitive == "link":
        monkeypatch.setattr(file_moves, "RENAMEAT2", None)
    else:
        assert file_moves.RENAMEAT2 is not None  # Linux's glibc has it: the atomic path is the one tested
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    a.write_bytes(b"a")
    b.write_bytes(b"b")
    with pytest.raises(RelabelError, match="not overwritten"):
        file_moves.move_no_replace(a, b)
    assert a.read_bytes() == b"a" and b.read_bytes() == b"b"
    file_moves.move_no_replace(a, tmp_path / "c.png")
    assert not a.exists() and (tmp_path / "c.png").read_bytes() == b"a"


def test_two_applies_undo_in_reverse_order(data: Path) -> None:
    first = snapshot(data)
    image = data / "cross" / "cross_002.png"
    apply_label_changes(data, {str(image): ["square"]})
    second = snapshot(data)
    apply_label_changes(data, {str(data / "square" / "cross_002.png"): ["circle", "square"]})
    undo_last_apply(data)
    assert snapshot(data) == second
    undo_last_apply(data)
    assert snapshot(data) == first
    with pytest.raises(RelabelError, match="Nothing to undo"):
        undo_last_apply(data)


def test_undo_refuses_when_a_moved_file_changed(data: Path) -> None:
    apply_label_changes(data, {str(data / "circle" / "circle_001.png"): ["cross"]})
    moved = data / "cross" / "circle_001.png"
    moved.write_bytes(b"edited since")
    with pytest.raises(RelabelError, match="changed since the apply"):
        undo_last_apply(data)
    assert moved.read_bytes() == b"edited since"  # nothing touched
    assert not (data / "circle" / "circle_001.png").exists()
    assert can_undo(data)


def test_undo_refuses_when_the_original_name_is_taken_again(data: Path) -> None:
    apply_label_changes(data, {str(data / "circle" / "circle_001.png"): ["cross"]})
    (data / "circle" / "circle_001.png").write_bytes(b"a new file")
    with pytest.raises(RelabelError, match="exists again"):
        undo_last_apply(data)
    assert (data / "circle" / "circle_001.png").read_bytes() == b"a new file"


def test_undo_refuses_a_moved_away_file(data: Path) -> None:
    apply_label_changes(data, {str(data / "circle" / "circle_001.png"): ["cross"]})
    (data / "cross" / "circle_001.png").rename(data / "cross" / "elsewhere.png")
    with pytest.raises(RelabelError, match="moved or deleted"):
        undo_last_apply(data)


def test_unchanged_labels_move_nothing_and_write_no_journal(data: Path) -> None:
    before = snapshot(data)
    result = apply_label_changes(data, {str(data / "circle" / "circle_000.png"): ["circle"]})
    assert result.changed == []
    assert snapshot(data) == before


@pytest.mark.parametrize("labels, message", [
    (["a+b"], "joins the labels of a label folder"), ([".hidden"], "starts with '.'"),
    (["a/b"], "path separator"), (["x" * 300], "characters long"), (["a\nb"], "control character"),
])
def test_bad_new_labels_are_refused_before_anything_moves(data: Path, labels, message) -> None:
    before = snapshot(data)
    with pytest.raises(RelabelError, match=message):
        apply_label_changes(data, {str(data / "circle" / "circle_000.png"): labels})
    assert snapshot(data) == before


def test_a_missing_image_is_refused_and_nothing_moves(data: Path) -> None:
    before = snapshot(data)
    with pytest.raises(RelabelError, match="no longer there"):
        apply_label_changes(data, {
            str(data / "circle" / "circle_000.png"): ["cross"],
            str(data / "circle" / "gone.png"): ["cross"],
        })
    assert snapshot(data) == before


def test_an_existing_folder_with_the_same_labels_is_reused(data: Path) -> None:
    (data / "triangle + square").mkdir()  # the same label set, spelt the other way round
    image = data / "cross" / "cross_000.png"
    apply_label_changes(data, {str(image): ["square", "triangle"]})
    assert (data / "triangle + square" / "cross_000.png").is_file()
    assert not (data / "square+triangle").exists()


def test_split_layout_moves_within_its_split(tmp_path: Path) -> None:
    root = tmp_path / "splits"
    write_demo_dataset(root / "train", images_per_folder=2, image_size=16)
    write_demo_dataset(root / "test", images_per_folder=1, image_size=16)
    before = snapshot(root)
    apply_label_changes(root, {str(root / "test" / "circle" / "circle_000.png"): ["triangle"]})
    assert (root / "test" / "triangle" / "circle_000.png").is_file()
    undo_last_apply(root)
    assert snapshot(root) == before


def test_a_damaged_journal_is_refused(data: Path) -> None:
    (data / JOURNAL_NAME).write_text("{not json", encoding="utf-8")
    with pytest.raises(RelabelError, match="damaged"):
        apply_label_changes(data, {str(data / "circle" / "circle_000.png"): ["cross"]})
    assert (data / "circle" / "circle_000.png").is_file()
    assert not can_undo(data)


def test_journal_records_relative_paths(data: Path) -> None:
    apply_label_changes(data, {str(data / "circle" / "circle_000.png"): ["cross"]})
    entry = json.loads((data / JOURNAL_NAME).read_text(encoding="utf-8"))["applies"][-1]
    assert entry["moves"][0]["from"] == "circle/circle_000.png"
    assert entry["moves"][0]["to"] == "cross/circle_000.png"
    # The whole data folder can move: undo still works from its new place.
    moved_root = data.parent / "renamed"
    data.rename(moved_root)
    undo_last_apply(moved_root)
    assert (moved_root / "circle" / "circle_000.png").is_file()


def csv_root(tmp_path: Path) -> Path:
    """images/ of the demo set listed in labels.csv (labels column, '|' separated)."""
    folder = tmp_path / "csvdata"
    write_demo_dataset(folder / "images", images_per_folder=2, image_size=16)
    rows = ["path,labels"]
    for image in sorted((folder / "images").rglob("*.png")):
        rows.append(f"{image.relative_to(folder).as_posix()},{image.parent.name.replace('+', '|')}")
    (folder / "labels.csv").write_text("\r\n".join(rows) + "\r\n", encoding="utf-8", newline="")
    return folder


def test_csv_root_rewrites_the_csv_and_undo_restores_it(tmp_path: Path) -> None:
    root = csv_root(tmp_path)
    before = snapshot(root)
    image = root / "images" / "circle" / "circle_000.png"
    result = apply_label_changes(root / "labels.csv", {str(image): ["cross", "square"]})
    assert result.csv_backup and Path(result.csv_backup).is_file()
    assert [c.new_labels for c in result.changed] == [("cross", "square")]
    assert image.is_file()  # no image moves for a CSV root
    assert "images/circle/circle_000.png,cross|square\r\n" in (root / "labels.csv").read_bytes().decode("utf-8")
    labels = {Path(s.path).name: s.labels for name in ("train", "val", "test")
              for s in scan_data_root(root).split(name)}
    assert labels["circle_000.png"] == ("cross", "square")
    undo_last_apply(root)
    assert snapshot(root) == before  # CSV byte-identical, backup and journal gone


def test_csv_undo_refuses_after_the_csv_was_edited(tmp_path: Path) -> None:
    root = csv_root(tmp_path)
    apply_label_changes(root, {str(root / "images" / "circle" / "circle_001.png"): ["square"]})
    with open(root / "labels.csv", "a", encoding="utf-8") as handle:
        handle.write("images/cross/cross_000.png,cross\r\n")
    edited = (root / "labels.csv").read_bytes()
    with pytest.raises(RelabelError, match="edited since the apply"):
        undo_last_apply(root)
    assert (root / "labels.csv").read_bytes() == edited


def test_csv_image_without_a_row_is_refused(tmp_path: Path) -> None:
    root = csv_root(tmp_path)
    stray = root / "images" / "stray.png"
    stray.write_bytes((root / "images" / "circle" / "circle_000.png").read_bytes())
    with pytest.raises(RelabelError, match="has no row"):
        apply_label_changes(root, {str(stray): ["circle"]})
