"""Label files in and out: Create ML, Label Studio, Vertex AI CSV and the app's CSV.
An import moves images through the journaled apply (or refuses the whole file, moving
nothing); an export round-trips; paths that leave the data folder are refused."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image
from test_relabel import snapshot

from mlcls_gui.cli import main
from mlcls_gui.core.data.dataset import scan_data_root
from mlcls_gui.core.labelling.label_files import (
    FORMATS,
    LabelFileError,
    export_labels,
    import_label_file,
    read_label_file,
)
from mlcls_gui.core.review.relabel import undo_last_apply

IMAGES = {  # relative path -> colour (distinct bytes, so the journal tells them apart)
    "cat/c1.png": (200, 0, 0), "cat/c2.png": (180, 20, 0), "dog/d1.png": (0, 200, 0),
    "cat+dog/cd1.png": (0, 0, 200), "_no_label/n1.png": (90, 90, 90),
    "unlabelled/u1.png": (250, 250, 0), "unlabelled/sub/u2.png": (0, 250, 250),
}
SUFFIX = {"createml": ".json", "labelstudio": ".json", "vertex": ".csv", "csv": ".csv"}


def _image(path: Path, colour: tuple[int, int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), colour).save(path)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    for rel, colour in IMAGES.items():
        _image(root / rel, colour)
    return root


def _labels(root: Path) -> dict[str, tuple[str, ...] | None]:
    """Every image of the scan by file name: its labels, None while unlabelled."""
    splits = scan_data_root(root)
    found: dict[str, tuple[str, ...] | None] = {Path(p).name: None for p in splits.unlabelled}
    found.update({Path(s.path).name: s.labels for s in splits.train + splits.val + splits.test})
    return found


def _write(path: Path, content: object) -> Path:
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return path


# ------------------------------------------------------------------ round trips
@pytest.mark.parametrize("fmt", FORMATS)
def test_export_then_import_on_a_copy_changes_nothing(data: Path, tmp_path: Path, fmt: str) -> None:
    written = export_labels(data, tmp_path / f"labels{SUFFIX[fmt]}", fmt)
    holds_none = fmt in ("createml", "labelstudio")  # Vertex and the CSV cannot say "none of the labels"
    assert written.images == (5 if holds_none else 4)
    assert bool(written.left_out) != holds_none
    copy = tmp_path / "copy"
    shutil.copytree(data, copy)
    before = snapshot(copy)
    found = read_label_file(written.path, copy)
    assert found.fmt == fmt and not found.problems and not found.changes
    assert found.unchanged == written.images
    result = import_label_file(copy, written.path)
    assert result.changed == [] and snapshot(copy) == before


def test_the_exported_formats_are_the_documented_ones(data: Path, tmp_path: Path) -> None:
    createml = json.loads(export_labels(data, tmp_path / "a.json", "createml").path.read_text())
    assert {"filename": "cat+dog/cd1.png", "annotations": ["cat", "dog"]} in createml
    assert {"filename": "_no_label/n1.png", "annotations": []} in createml
    studio = json.loads(export_labels(data, tmp_path / "s.json", "labelstudio",
                                      uri_prefix="/data/local-files/?d=").path.read_text())
    task = next(t for t in studio if t["data"]["image"].endswith("cd1.png"))
    assert task["data"]["image"] == "/data/local-files/?d=cat%2Bdog/cd1.png"  # a query value: '+' quoted
    assert task["annotations"][0]["result"][0]["value"] == {"choices": ["cat", "dog"]}
    assert not read_label_file(tmp_path / "s.json", data).changes  # the local-files URIs find their images
    vertex = export_labels(data, tmp_path / "v.csv", "vertex", uri_prefix="gs://bucket").path.read_bytes()
    assert b"gs://bucket/cat+dog/cd1.png,cat,dog\r\n" in vertex and b"n1.png" not in vertex
    app = export_labels(data, tmp_path / "l.csv", "csv").path.read_text().splitlines()
    assert app[0] == "path,labels" and "cat+dog/cd1.png,cat|dog" in app


def test_given_splits_are_written_as_ml_use_and_a_split_column(tmp_path: Path) -> None:
    root = tmp_path / "splits"
    for split, colour in (("train", (1, 2, 3)), ("val", (4, 5, 6)), ("test", (7, 8, 9))):
        _image(root / split / "cat" / f"{split}.png", colour)
    vertex = export_labels(root, tmp_path / "v.csv", "vertex").path.read_text().splitlines()
    assert vertex == ["test,test/cat/test.png,cat", "training,train/cat/train.png,cat",
                      "validation,val/cat/val.png,cat"]
    app = export_labels(root, tmp_path / "l.csv", "csv").path.read_text().splitlines()
    assert app[0] == "path,labels,split" and "val/cat/val.png,cat,val" in app
    assert not read_label_file(tmp_path / "v.csv", root).changes


def test_a_csv_root_round_trips_and_an_import_rewrites_its_csv(tmp_path: Path) -> None:
    root = tmp_path / "csvroot"
    _image(root / "img" / "a.png", (1, 1, 1))
    _image(root / "img" / "b.png", (2, 2, 2))
    _write(root / "labels.csv", "path,labels\nimg/a.png,cat\nimg/b.png,dog\n")
    exported = export_labels(root, tmp_path / "out.csv", "csv")
    assert not read_label_file(exported.path, root).changes
    before = snapshot(root)
    result = import_label_file(root, _write(tmp_path / "new.json", [{"filename": "img/b.png",
                                                                      "annotations": ["cat", "dog"]}]))
    assert result.csv_backup and _labels(root)["b.png"] == ("cat", "dog")
    undo_last_apply(root)
    assert snapshot(root) == before


# ------------------------------------------------------------------ hand-made files
def _hand_made(fmt: str, root: Path) -> object:
    """Each format's own way of naming the same three images; a fourth entry gives no labels."""
    if fmt == "createml":
        return [{"filename": "cat/c1.png", "annotations": ["dog"]},
                {"image": "u1.png", "annotations": ["cat", "dog"]},  # a unique name, in unlabelled/
                {"filename": str(root / "unlabelled" / "sub" / "u2.png"), "annotations": []}]
    if fmt == "labelstudio":
        def task(image: str, *annotations: dict) -> dict:
            return {"id": 7, "data": {"image": image}, "annotations": list(annotations)}

        def chose(*labels: str, **extra: object) -> dict:
            return {"result": [{"type": "choices", "from_name": "c", "to_name": "image",
                                "value": {"choices": list(labels)}}], **extra}
        return [task("/data/upload/3/1a2b3c4d-c1.png", chose("dog")),
                task("s3://bucket/photos/unlabelled/u1.png", chose("cat", "dog"), chose("cat", was_cancelled=True)),
                task("/data/local-files/?d=batch%2Funlabelled%2Fsub%2Fu2.png", {"result": []}),
                task("dog/d1.png")]  # no annotation yet
    if fmt == "vertex":
        return ("TRAIN,gs://bucket/data/cat/c1.png,dog\n"
                "gs://bucket/elsewhere/u1.png,cat,dog,,\n"
                "test,gs://bucket/dog/d1.png\n")
    return "path,labels\ncat/c1.png,dog\nunlabelled/u1.png,cat|dog\ndog/d1.png,\n"


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_hand_made_file_moves_the_right_images(data: Path, tmp_path: Path, fmt: str) -> None:
    file = _write(tmp_path / f"hand{SUFFIX[fmt]}", _hand_made(fmt, data))
    result = import_label_file(data, file)
    moved = {Path(c.before).relative_to(data).as_posix(): Path(c.after).relative_to(data).as_posix()
             for c in result.changed}
    expected = {"cat/c1.png": "dog/c1.png", "unlabelled/u1.png": "cat+dog/u1.png"}
    if fmt in ("createml", "labelstudio"):
        expected["unlabelled/sub/u2.png"] = "_no_label/sub/u2.png"
    assert moved == expected
    labels = _labels(data)
    assert labels["c1.png"] == ("dog",) and labels["u1.png"] == ("cat", "dog") and labels["d1.png"] == ("dog",)
    if fmt in ("labelstudio", "vertex", "csv"):
        assert any("no labels" in note for note in result.notes)


def test_label_studio_annotations_that_disagree_are_a_problem_unless_one_is_ground_truth(
        data: Path, tmp_path: Path) -> None:
    def annotation(label: str, truth: bool = False) -> dict:
        return {"ground_truth": truth, "result": [{"type": "choices", "value": {"choices": [label]}}]}

    tasks = [{"data": {"img": "cat/c1.png"}, "annotations": [annotation("cat"), annotation("dog")]}]
    found = read_label_file(_write(tmp_path / "a.json", tasks), data)
    assert "disagree" in found.problems[0].reason
    tasks[0]["annotations"][1]["ground_truth"] = True
    found = read_label_file(_write(tmp_path / "a.json", tasks), data)
    assert not found.problems and list(found.changes.values()) == [("dog",)]


# ------------------------------------------------------------------ refusals
def test_every_bad_entry_is_named_and_nothing_moves(data: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    _image(outside / "secret.png", (5, 5, 5))
    _image(data / "dog" / "c2.png", (6, 6, 6))  # a second c2.png: the name alone is ambiguous
    os.symlink(outside / "secret.png", data / "cat" / "link.png")
    os.symlink(outside, data / "linked")
    rows = [
        "cat/c1.png,dog",                    # 1 good
        "cat/missing.png,dog",               # 2 no such image
        "../outside/secret.png,cat",         # 3 '..'
        f"{outside / 'secret.png'},cat",     # 4 absolute, outside
        "gs://bucket/c2.png,cat",            # 5 two images named c2.png
        "dog/d1.png,.hidden",                # 6 a bad label
        "cat/c1.png,cat",                    # 7 row 1's image with other labels
        "dog/d1.png,a+b",                    # 8 '+' cannot be a label folder's label
        "cat/link.png,dog",                  # 9 a symlink out
        "linked/secret.png,dog",             # 10 a linked folder out
        "dog/d1.png,cat",                    # 11 good
    ]
    file = _write(tmp_path / "bad.csv", "\n".join(rows) + "\n")
    found = read_label_file(file, data)
    reasons = {int(p.where.split()[1]): p.reason for p in found.problems}
    assert sorted(reasons) == [2, 3, 4, 5, 6, 7, 8, 9, 10]
    assert "no image" in reasons[2] and "leaves the data folder" in reasons[3]
    assert "outside the data folder" in reasons[4] and "fits 2 images" in reasons[5]
    assert "bad label" in reasons[6] and "also in row 1" in reasons[7] and "'+'" in reasons[8]
    assert "symbolic link" in reasons[9] and "symbolic link" in reasons[10]
    before = snapshot(data)
    with pytest.raises(LabelFileError) as error:
        import_label_file(data, file)
    message = str(error.value)
    assert "9 bad entries" in message and "row 2:" in message and "and 4 more" in message
    assert snapshot(data) == before


def test_unreadable_json_is_named_with_its_line(data: Path, tmp_path: Path) -> None:
    file = _write(tmp_path / "annotations.json", '[{"filename": "cat/c1.png",\n "annotations": ["dog"]')
    before = snapshot(data)
    with pytest.raises(LabelFileError, match=r"line 2, column \d+: not valid JSON"):
        import_label_file(data, file)
    assert snapshot(data) == before


def test_a_bad_structure_in_a_json_file_is_named_by_entry(data: Path, tmp_path: Path) -> None:
    entries = [{"filename": "cat/c1.png", "annotations": "dog"}, "x",
               {"filename": "cat/c2.png", "annotations": [{"label": "cat", "coordinates": {}}]}]
    found = read_label_file(_write(tmp_path / "a.json", entries), data, "createml")
    assert [p.where for p in found.problems] == ["entry 1", "entry 2", "entry 3"]
    assert "boxes" in found.problems[2].reason


def test_export_refuses_targets_among_the_images_and_existing_files(data: Path, tmp_path: Path) -> None:
    with pytest.raises(LabelFileError, match="folder of the data set's images"):
        export_labels(data, data / "cat" / "labels.json", "createml")
    with pytest.raises(LabelFileError, match="labels.csv"):
        export_labels(data, data / "labels.csv", "csv")  # would make the folder a CSV root
    with pytest.raises(LabelFileError, match="URI prefix"):
        export_labels(data, tmp_path / "a.json", "createml", uri_prefix="gs://b/")
    target = _write(tmp_path / "taken.json", "keep me")
    with pytest.raises(LabelFileError, match="--overwrite"):
        export_labels(data, target, "createml")
    assert target.read_text() == "keep me"
    export_labels(data, target, "createml", overwrite=True)
    assert len(json.loads(target.read_text())) == 5
    at_top = export_labels(data, data / "annotations.json", "createml")  # Create ML's place: beside the images
    assert at_top.images == 5


# ------------------------------------------------------------------ undo, CLI
def test_undo_after_an_import_restores_the_tree(data: Path, tmp_path: Path) -> None:
    before = snapshot(data)
    result = import_label_file(data, _write(tmp_path / "a.json", _hand_made("createml", data)))
    assert len(result.changed) == 3 and snapshot(data) != before
    undo_last_apply(data)
    assert snapshot(data) == before


def test_the_labels_command_imports_exports_and_undoes(data: Path, tmp_path: Path, capsys) -> None:
    before = snapshot(data)
    out = tmp_path / "labels.csv"
    assert main(["labels", "export", str(data), str(out), "--format", "vertex"]) == 0
    assert "Wrote the labels of 4 image(s)" in capsys.readouterr().out
    assert main(["labels", "export", str(data), str(out), "--format", "vertex"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    out.write_text(out.read_text().replace("cat/c1.png,cat", "cat/c1.png,dog"))
    assert main(["labels", "import", str(data), str(out), "--dry-run"]) == 0
    assert "c1.png → dog" in capsys.readouterr().out and snapshot(data) == before
    assert main(["labels", "import", str(data), str(out)]) == 0
    printed = capsys.readouterr().out
    assert "cat/c1.png → dog/c1.png" in printed and f"mlcls-gui labels undo {data}" in printed
    assert main(["labels", "undo", str(data)]) == 0
    assert snapshot(data) == before
    bad = _write(tmp_path / "bad.csv", "nowhere/x.png,cat\n")
    assert main(["labels", "import", str(data), str(bad), "--format", "vertex"]) == 2
    assert "row 1:" in capsys.readouterr().err and snapshot(data) == before
