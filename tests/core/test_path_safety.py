"""Nothing outside the user's folders is read or written through a symlink, and
no output option replaces a run's or a data set's file without --overwrite."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mlcls_gui.cli import main
from mlcls_gui.core.data.csv_labels import CsvLabelsError, read_labels_csv
from mlcls_gui.core.data.dataset import scan_data_root
from mlcls_gui.core.data.demo import write_demo_dataset
from mlcls_gui.core.errors import ConfigError, DatasetError
from mlcls_gui.core.ops.output_guard import check_output_target
from mlcls_gui.core.output_names import LOCK_NAME
from mlcls_gui.core.runs.run_lock import RunFolderLock


@pytest.fixture(scope="module")
def plus_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A CSV data set whose labels contain '+' (the README allows it), trained for one epoch."""
    base = tmp_path_factory.mktemp("plus")
    images = write_demo_dataset(base / "data" / "images", images_per_folder=4, image_size=32)
    rows = ["path,labels"]
    for image in sorted(images.rglob("*.png")):
        labels = ["big+" + name for name in image.parent.name.split("+")]
        rows.append(f"{image.relative_to(base / 'data').as_posix()},{'|'.join(labels)}")
    (base / "data" / "labels.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = base / "run"
    code = main(["train", "--set", f"images_root={base / 'data'}", "--set", f"save_model_folder={out}",
                 "--set", "arch=tiny_cnn", "--set", "pretrained=false", "--set", "n_epochs=1",
                 "--set", "image_size=32", "--set", "batch_size=8", "--quiet"])
    assert code == 0
    return base / "data", out


def test_labels_with_plus_train_predict_evaluate_and_resume(plus_run, capsys) -> None:
    data, out = plus_run
    image = next((data / "images" / "circle").glob("*.png"))
    assert main(["predict", str(out / "final_model.pt"), str(image), "--json"]) == 0
    labels = json.loads(capsys.readouterr().out)["labels"]
    assert "big+circle" in labels
    assert main(["evaluate", str(out / "final_model.pt"), str(data)]) == 0
    capsys.readouterr()
    # --copy-to cannot express such a label as a folder: refused before anything is copied.
    assert main(["predict", str(out / "final_model.pt"), str(image), "--threshold", "0.01",
                 "--copy-to", str(data.parent / "sorted")]) == 2
    assert "joins the labels of a label folder" in capsys.readouterr().err
    assert not (data.parent / "sorted").exists()


@pytest.mark.parametrize("argv, file, words", [
    (["export", "{run}/final_model.pt", "--out", "{run}/checkpoint.pt"], "checkpoint.pt", "model file"),
    (["export", "{run}/final_model.pt", "--format", "torchscript", "--out", "{run}/config"], "config.json",
     "belongs to the training run"),
    (["review", "{data}", "--csv", "{data}/labels.csv"], None, "labels file"),
    (["evaluate", "{run}/final_model.pt", "{data}", "--json", "{run}/summary.json"], "summary.json",
     "belongs to the training run"),
    (["explain", "{run}/final_model.pt", "{image}", "--out", "{image}"], None, "is an image"),
    (["lr-find", "{run}/config.json", "--json", "{run}/summary.json"], "summary.json",
     "belongs to the training run"),
    (["lr-find", "{run}/config.json", "--plot", "{image}"], None, "is an image"),
])
def test_output_options_never_replace_a_runs_or_a_data_sets_file(plus_run, capsys, argv, file, words) -> None:
    data, out = plus_run
    image = next((data / "images" / "circle").glob("*.png"))
    files = {p: p.read_bytes() for p in [*out.iterdir(), data / "labels.csv", image] if p.is_file()}
    args = [a.format(run=out, data=data, image=image) for a in argv]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert words in err and "--overwrite" in err and "Traceback" not in err
    assert {p: p.read_bytes() for p in files} == files


def test_overwrite_lets_the_user_replace_on_purpose(plus_run, tmp_path, capsys) -> None:
    data, out = plus_run
    target = tmp_path / "preds.csv"
    image = str(next((data / "images" / "circle").glob("*.png")))
    assert main(["predict", str(out / "final_model.pt"), image, "--csv", str(target)]) == 0
    assert main(["predict", str(out / "final_model.pt"), image, "--csv", str(target)]) == 2  # a CSV with a path column
    assert main(["predict", str(out / "final_model.pt"), image, "--csv", str(target), "--overwrite"]) == 0


def test_a_symlink_is_never_an_output_even_with_overwrite(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep", encoding="utf-8")
    link = tmp_path / "out.json"
    link.symlink_to(victim)
    with pytest.raises(ConfigError, match="symbolic link"):
        check_output_target(link, "--json", overwrite=True)
    assert main(["demo-data", str(tmp_path / "d"), "--config", str(link), "--overwrite"]) == 2
    assert victim.read_text(encoding="utf-8") == "keep"


# ------------------------------------------------------------------ run lock
@pytest.mark.parametrize("dangling", [False, True])
def test_the_run_lock_never_writes_through_a_symlink(tmp_path: Path, dangling: bool) -> None:
    out, victim = tmp_path / "out", tmp_path / "victim.txt"
    out.mkdir()
    if not dangling:
        victim.write_text("precious", encoding="utf-8")
    (out / LOCK_NAME).symlink_to(victim)
    with pytest.raises(ConfigError, match="symbolic link"):
        RunFolderLock(out).acquire()
    assert (victim.read_text(encoding="utf-8") == "precious") if not dangling else not victim.exists()


def test_a_lock_that_is_a_folder_is_a_message(tmp_path: Path) -> None:
    (tmp_path / LOCK_NAME).mkdir()
    with pytest.raises(ConfigError, match="is a folder"):
        RunFolderLock(tmp_path).acquire()


# ------------------------------------------------------------------ reads through links
def test_a_symlinked_label_folder_or_image_outside_is_skipped_by_the_scan(tmp_path: Path) -> None:
    data = write_demo_dataset(tmp_path / "data", images_per_folder=3, image_size=16)
    elsewhere = write_demo_dataset(tmp_path / "elsewhere", images_per_folder=3, image_size=16)
    (data / "dog").symlink_to(elsewhere / "circle", target_is_directory=True)
    (data / "cross" / "stolen.png").symlink_to(elsewhere / "square" / "square_000.png")
    (data / "cross" / "inside.png").symlink_to(data / "square" / "square_000.png")  # inside: fine
    splits = scan_data_root(data)
    paths = {s.path for name in ("train", "val", "test") for s in splits.split(name)}
    assert "dog" not in splits.labels
    assert str(data / "cross" / "inside.png") in paths and str(data / "cross" / "stolen.png") not in paths
    reasons = {Path(s.path).name: s.reason for s in splits.skipped}
    assert "outside the data folder" in reasons["dog"] and "outside the data folder" in reasons["stolen.png"]


def test_a_csv_row_through_a_symlink_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "csv"
    folder.mkdir()
    outside = write_demo_dataset(tmp_path / "outside", images_per_folder=1, image_size=16)
    (folder / "link").symlink_to(outside, target_is_directory=True)
    (folder / "labels.csv").write_text("path,labels\nlink/circle/circle_000.png,circle\n", encoding="utf-8")
    with pytest.raises(CsvLabelsError, match="through a symbolic link"):
        read_labels_csv(folder / "labels.csv")


@pytest.mark.parametrize("label", ["../../../x", ".git", "a\tb", "x" * 101])
def test_a_bad_label_is_refused_at_scan_in_a_csv(tmp_path: Path, label: str) -> None:
    folder = write_demo_dataset(tmp_path / "d", images_per_folder=1, image_size=16)
    (folder / "labels.csv").write_text(f"path,labels\ncircle/circle_000.png,{label}\n", encoding="utf-8")
    with pytest.raises(CsvLabelsError, match="A label is 1 to 100 characters"):
        read_labels_csv(folder / "labels.csv")
    columns = folder / "columns.csv"
    columns.write_text(f"path,{label}\ncircle/circle_000.png,1\n", encoding="utf-8")
    with pytest.raises(CsvLabelsError, match="cannot be a label"):
        read_labels_csv(columns)


def test_a_label_folder_name_with_a_control_character_is_refused(tmp_path: Path) -> None:
    data = write_demo_dataset(tmp_path / "d", images_per_folder=1, image_size=16)
    os.rename(data / "cross", data / "cro\x07ss")
    with pytest.raises(DatasetError, match="control character"):
        scan_data_root(data)


def test_a_symlinked_tensorboard_folder_is_not_followed(tmp_path: Path) -> None:
    pytest.importorskip("torch.utils.tensorboard")
    from mlcls_gui.core.training.engine.tensorboard_log import TENSORBOARD_FOLDER, TensorBoardLog

    out, victim = tmp_path / "out", tmp_path / "victim"
    out.mkdir()
    victim.mkdir()
    (out / TENSORBOARD_FOLDER).symlink_to(victim, target_is_directory=True)

    class Run:
        output_dir = out
        identity = type("Identity", (), {"run_id": "r1"})()

    log = TensorBoardLog()
    assert log._open(Run()) is None
    assert list(victim.iterdir()) == []


# ------------------------------------------------------------------ outputs beside the data
@pytest.mark.parametrize("inside", ["", "circle/run"])
def test_an_output_folder_in_the_data_folder_is_refused_before_anything_is_written(
        tmp_path: Path, capsys, inside: str) -> None:
    data = write_demo_dataset(tmp_path / "data", images_per_folder=3, image_size=16)
    before = sorted(p.relative_to(data) for p in data.rglob("*"))
    out = data / inside if inside else data
    assert main(["train", "--set", f"images_root={data}", "--set", f"save_model_folder={out}",
                 "--set", "arch=tiny_cnn", "--set", "pretrained=false", "--set", "n_epochs=1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert ("is the data folder" if not inside else "is inside the data folder") in err
    assert str(tmp_path / "data-output") in err and "Traceback" not in err
    assert sorted(p.relative_to(data) for p in data.rglob("*")) == before


def test_demo_data_never_writes_into_a_folder_that_holds_files(tmp_path: Path, capsys) -> None:
    own = tmp_path / "photos" / "circle"
    own.mkdir(parents=True)
    (own / "circle_000.png").write_bytes(b"the user's own image")
    assert main(["demo-data", str(tmp_path / "photos")]) == 2
    assert "already holds files" in capsys.readouterr().err
    assert (own / "circle_000.png").read_bytes() == b"the user's own image"
    assert sorted(p.name for p in (tmp_path / "photos").rglob("*")) == ["circle", "circle_000.png"]
    (tmp_path / "empty").mkdir()
    assert main(["demo-data", str(tmp_path / "empty")]) == 0


def test_predict_copies_never_go_into_a_folder_being_predicted(plus_run, tmp_path, capsys) -> None:
    """The window's rule, in the CLI too: copies inside the input folder would join the user's images."""
    data, out = plus_run
    before = sorted(p for p in data.rglob("*"))
    assert main(["predict", str(out / "final_model.pt"), str(data / "images"), "--threshold", "0.01",
                 "--copy-to", str(data / "images" / "sorted")]) == 2
    assert "lies inside the folder being predicted" in capsys.readouterr().err
    assert sorted(p for p in data.rglob("*")) == before
