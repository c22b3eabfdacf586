"""The split that keeps near-copy groups together (config field split_groups),
and the scanner leaving a data root's excluded/ folder out."""

import hashlib
import json
import os
import random
from pathlib import Path

import pytest
from conftest import tiny_config
from PIL import Image

from mlcls_gui.core.data.dataset import scan_data_root
from mlcls_gui.core.data.splits import SPLIT_NAMES, Sample, stratified_split
from mlcls_gui.core.errors import DatasetError
from mlcls_gui.core.output_names import EXCLUDED_FOLDER

LABEL_SETS = [("a",), ("b",), ("a", "b"), (), ("c",)]


def _samples(n=53):
    return [Sample(f"/d/{'+'.join(LABEL_SETS[i % 5]) or 'none'}/img{i:03d}.png", LABEL_SETS[i % 5])
            for i in range(n)]


def _digest(parts):
    text = "\n".join(f"{n}:{s.path}" for n, part in zip("tvx", parts) for s in part)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _split_of(parts):
    return {s.path: name for name, part in zip(SPLIT_NAMES, parts) for s in part}


def _random_groups(samples, rng, count=8):
    """Groups of 2-4 images, many mixing label sets; group id -> paths."""
    paths = [s.path for s in samples]
    rng.shuffle(paths)
    groups, at = {}, 0
    for number in range(count):
        size = rng.randint(2, 4)
        groups[f"g{number}"] = paths[at:at + size]
        at += size
    return groups


def _mapping(groups):
    return {path: gid for gid, paths in groups.items() for path in paths}


# ------------------------------------------------------------------ stratified_split
def test_without_groups_the_split_is_todays():
    """Fixed digests of the split before groups existed: resume and reproducibility depend on it."""
    expected = {0: "354289fba2a1a896", 1: "667dc165983d7387", 42: "73d6aa7e621eddec"}
    for seed, digest in expected.items():
        assert _digest(stratified_split(_samples(), 0.2, 0.15, seed)) == digest
        assert _digest(stratified_split(_samples(), 0.2, 0.15, seed, None)) == digest
        assert _digest(stratified_split(_samples(), 0.2, 0.15, seed, {})) == digest
        # Groups of one image (the others left the data) change nothing.
        ones = {s.path: f"g{i}" for i, s in enumerate(_samples()[:10])}
        assert _digest(stratified_split(_samples(), 0.2, 0.15, seed, ones)) == digest


def test_group_members_land_in_one_split():
    samples = _samples()
    # A group inside one label set, and one across three label sets.
    groups = {"same": [s.path for s in samples if s.labels == ("a",)][:4],
              "mixed": [samples[50].path, samples[51].path, samples[52].path]}
    for seed in range(5):
        parts = stratified_split(samples, 0.2, 0.15, seed, _mapping(groups))
        where = _split_of(parts)
        assert sorted(where) == sorted(s.path for s in samples)  # every image once
        for paths in groups.values():
            assert len({where[p] for p in paths}) == 1, (seed, paths)


def test_no_group_crosses_the_splits_over_seeds_and_the_split_stays_stratified():
    samples = _samples(200)
    for seed in range(12):
        groups = _random_groups(samples, random.Random(seed))
        train, val, test = stratified_split(samples, 0.2, 0.15, seed, _mapping(groups))
        where = _split_of((train, val, test))
        assert len(where) == len(samples)
        assert all(len({where[p] for p in paths}) == 1 for paths in groups.values()), seed
        assert {s.labels for s in train} == set(LABEL_SETS)  # every label set keeps train images
        # Near the shares: 200 images, 15% test, 20% val, groups of at most 4.
        assert abs(len(test) - 30) <= 6 and abs(len(val) - 40) <= 6, (seed, len(test), len(val))


def test_label_sets_without_grouped_images_split_as_without_groups():
    samples = _samples()
    grouped = [s.path for s in samples if s.labels == ("a",)][:3]
    plain = _split_of(stratified_split(samples, 0.2, 0.15, 7))
    with_groups = _split_of(stratified_split(samples, 0.2, 0.15, 7, {p: "g" for p in grouped}))
    for s in samples:
        if s.labels != ("a",):
            assert with_groups[s.path] == plain[s.path]


# ------------------------------------------------------------------ scanning with a report
def _image(path: Path, shade: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (shade * 20 % 256, 40, 90)).save(path)


def _report(path: Path, groups, root="/somewhere/else") -> Path:
    path.write_text(json.dumps({"format": "mlcls-health-1", "root": str(root), "extra": 1,
                                "groups": [{"images": g, "score": 0.99} for g in groups]}))
    return path


def _flat_root(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    for folder in ("cat", "dog", "cat+dog"):
        for i in range(10):
            _image(root / folder / f"{i}.png", i)
    return root


def test_scan_keeps_the_reports_groups_together(tmp_path):
    root = _flat_root(tmp_path)
    groups = [["cat/0.png", "cat/1.png", "cat+dog/0.png"], ["dog/3.png", str(root / "dog" / "4.png")],
              ["cat/2.png", "gone/9.png"]]  # gone/9.png is not among the images
    report = _report(tmp_path / "health.json", groups)
    plain = scan_data_root(root, val_fraction=0.2, test_fraction=0.2, seed=3)
    assert plain.split_groups == "" and plain.groups_crossing_splits is None
    for seed in range(6):
        splits = scan_data_root(root, val_fraction=0.2, test_fraction=0.2, seed=seed, groups_file=report)
        where = {os.path.relpath(s.path, root).replace(os.sep, "/"): name
                 for name in SPLIT_NAMES for s in splits.split(name)}
        assert len({where[p] for p in groups[0]}) == 1
        assert where["dog/3.png"] == where["dog/4.png"]
        assert splits.groups_crossing_splits == 0 and splits.split_groups == str(report)
    assert any("1 image path(s)" in w and "ignored" in w for w in splits.warnings)
    summary = splits.summary()
    assert summary.split_groups == str(report) and summary.groups_crossing_splits == 0
    assert "Near-copy groups:" in summary.to_text()
    assert "the test score may be optimistic" not in summary.to_text()


@pytest.mark.parametrize("content, problem", [
    (None, "does not exist"),
    ("{not json", "is not valid JSON"),
    ('{"format": "mlcls-health-2", "groups": []}', "is not a data health report"),
    ('["mlcls-health-1"]', "is not a data health report"),
    ('{"format": "mlcls-health-1"}', "has no list of groups"),
    ('{"format": "mlcls-health-1", "groups": [{"images": "a.png"}]}', "without a list of image paths"),
])
def test_a_bad_report_is_refused_in_one_line_naming_the_field(tmp_path, content, problem):
    root = _flat_root(tmp_path)
    report = tmp_path / "health.json"
    if content is not None:
        report.write_text(content)
    with pytest.raises(DatasetError) as info:
        scan_data_root(root, groups_file=report)
    message = str(info.value)
    assert "\n" not in message and str(report) in message and problem in message
    assert "`split_groups`" in message and info.value.field == "split_groups"


def test_given_splits_are_kept_and_crossing_groups_counted(tmp_path):
    root = tmp_path / "data"
    for split in ("train", "val", "test"):
        for folder in ("cat", "dog"):
            for i in range(4):
                _image(root / split / folder / f"{i}.png", i)
    groups = [["train/cat/0.png", "test/cat/0.png"], ["train/dog/1.png", "val/dog/1.png", "test/dog/1.png"],
              ["train/cat/2.png", "train/cat/3.png"]]
    report = _report(tmp_path / "health.json", groups)
    plain = scan_data_root(root)
    splits = scan_data_root(root, groups_file=report)
    assert [len(splits.split(n)) for n in SPLIT_NAMES] == [len(plain.split(n)) for n in SPLIT_NAMES] == [8, 8, 8]
    assert splits.groups_crossing_splits == 2
    assert any("split is given by the train/, val/ and test/ folders" in w and "only counted" in w
               for w in splits.warnings)
    text = splits.summary().to_text()
    assert "2 near-duplicate groups cross the train/val/test split: the test score may be optimistic." in text


def test_csv_root_keeps_groups_together_and_counts_a_split_column(tmp_path):
    folder = tmp_path / "data"
    rows = []
    for i in range(12):
        _image(folder / "img" / f"{i}.png", i)
        rows.append(f"img/{i}.png,{'cat' if i % 2 else 'dog'},{('train', 'val', 'test')[i % 3]}")
    report = _report(tmp_path / "health.json", [["img/0.png", "img/1.png", "img/2.png"], ["img/4.png", "img/5.png"]])
    (folder / "labels.csv").write_text("path,labels\n" + "\n".join(r.rsplit(",", 1)[0] for r in rows) + "\n")
    for seed in range(4):
        splits = scan_data_root(folder, val_fraction=0.25, test_fraction=0.25, seed=seed, groups_file=report)
        where = _split_of((splits.train, splits.val, splits.test))
        assert len({where[str(folder / "img" / f"{i}.png")] for i in (0, 1, 2)}) == 1
        assert splits.groups_crossing_splits == 0
    (folder / "labels.csv").write_text("path,labels,split\n" + "\n".join(rows) + "\n")
    splits = scan_data_root(folder, groups_file=report)
    assert splits.layout == "csv-splits" and splits.groups_crossing_splits == 2


# ------------------------------------------------------------------ excluded/
def test_an_excluded_folder_is_neither_a_label_nor_skipped(tmp_path):
    flat = _flat_root(tmp_path)
    _image(flat / EXCLUDED_FOLDER / "cat" / "9.png")
    splits = scan_data_root(flat)
    assert EXCLUDED_FOLDER not in splits.labels and splits.skipped == []
    assert all(EXCLUDED_FOLDER not in Path(s.path).parts for s in splits.train + splits.val + splits.test)

    given = tmp_path / "given"
    for split in ("train", "val", "test"):
        for folder in ("cat", "dog"):
            _image(given / split / folder / "0.png")
    _image(given / EXCLUDED_FOLDER / "train" / "cat" / "1.png")
    splits = scan_data_root(given)
    assert splits.layout == "splits" and splits.skipped == []
    assert sum(len(splits.split(n)) for n in SPLIT_NAMES) == 6


# ------------------------------------------------------------------ a training run
def test_a_run_with_split_groups_records_it_in_its_summary(tiny_root, tmp_path):
    from mlcls_gui.core.training.engine import Trainer

    images = sorted(p.relative_to(tiny_root).as_posix() for p in tiny_root.rglob("*.png"))
    folders = sorted({p.split("/")[0] for p in images})
    # One near copy of each folder's first image in the next folder: groups across label sets.
    groups = [[next(p for p in images if p.startswith(a + "/")), next(p for p in images if p.startswith(b + "/"))]
              for a, b in zip(folders, folders[1:])]
    report = _report(tmp_path / "health.json", groups, root=tiny_root)
    out = tmp_path / "out"
    seen = []
    Trainer(tiny_config(tiny_root, out, n_epochs=1, split_groups=str(report)), on_event=seen.append).run()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["split_groups"] == str(report) and summary["groups_crossing_splits"] == 0
    assert json.loads((out / "config.json").read_text())["split_groups"] == str(report)
    started = next(e for e in seen if type(e).__name__ == "RunStarted")
    assert started.dataset.split_groups == str(report) and started.dataset.groups_crossing_splits == 0
    # Evaluating its test split rebuilds the group-aware split it trained on, not the plain one.
    from mlcls_gui.core.ops.evaluate import evaluate_model_file

    grouped = scan_data_root(tiny_root, val_fraction=0.2, test_fraction=0.2, seed=42, groups_file=report)
    plain = scan_data_root(tiny_root, val_fraction=0.2, test_fraction=0.2, seed=42)
    evaluated = evaluate_model_file(out / "final_model.pt", tiny_root, split="test")
    paths = sorted(image.path for image in evaluated.images)
    assert paths == sorted(s.path for s in grouped.test)
    assert paths != sorted(s.path for s in plain.test)  # the groups moved images: the check can fail
    # A health check with this model looks at the same grouped split.
    from mlcls_gui.core.health.check import HealthOptions, check_health

    health = check_health(tiny_root, HealthOptions(model=str(out / "final_model.pt")))
    assert health.split["split_groups"] == str(report)
    assert sorted(i.path for i in health.images if i.split == "test") == sorted(
        Path(s.path).relative_to(tiny_root).as_posix() for s in grouped.test)


def test_groups_that_share_an_image_are_one_group(tmp_path):
    root = _flat_root(tmp_path)
    report = _report(tmp_path / "health.json", [["cat/0.png", "cat/1.png"], ["cat/1.png", "dog/0.png"],
                                                ["dog/0.png", "cat+dog/5.png"]])
    for seed in range(6):
        splits = scan_data_root(root, val_fraction=0.3, test_fraction=0.3, seed=seed, groups_file=report)
        where = {os.path.relpath(s.path, root).replace(os.sep, "/"): name
                 for name in SPLIT_NAMES for s in splits.split(name)}
        assert len({where[p] for p in ("cat/0.png", "cat/1.png", "dog/0.png", "cat+dog/5.png")}) == 1
