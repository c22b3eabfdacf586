"""core.ops.batch_predict: the one batch prediction behind ``mlcls-gui predict`` and
the window's batch-predict panel (tests/gui/test_batch_predict_panel.py checks the
panel's side). The refusals are the function's, so neither client can drift."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from conftest import tiny_config

from mlcls_gui.cli import main
from mlcls_gui.core.errors import ConfigError, DatasetError
from mlcls_gui.core.inference.predict import Predictor
from mlcls_gui.core.ops import batch_predict
from mlcls_gui.core.ops.batch_predict import COPYING, LOADING, NO_LABEL, PREDICTING, SEARCHING, predict_batch


@pytest.fixture(scope="module")
def model_file(tiny_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mlcls_gui.core.training.engine import Trainer

    output = tmp_path_factory.mktemp("batch-model")
    return Path(Trainer(tiny_config(tiny_root, output, n_epochs=1)).run().final_model_path)


@pytest.fixture
def images(tiny_root: Path, tmp_path: Path) -> Path:
    """Two label folders of the tiny set (12 images) and one unreadable .png."""
    folder = tmp_path / "images"
    for name in ("circle", "cross+square"):
        shutil.copytree(tiny_root / name, folder / name)
    (folder / "broken.png").write_bytes(b"not a png")
    return folder


def refused_cases(images: Path, tmp_path: Path) -> list[tuple[dict, str]]:
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    return [
        ({"copy_to": str(images / "sorted")}, "lies inside the folder being predicted"),
        ({"copy_to": str(images)}, "lies inside the folder being predicted"),
        ({"copy_to": str(a_file)}, "is a file, not a folder"),
        ({"copy_to": str(tmp_path / "no" / "dir")}, "does not exist"),
        ({"csv_path": str(tmp_path)}, "it is a folder"),
        ({"csv_path": str(tmp_path / "no" / "p.csv")}, "does not exist"),
    ]


def test_the_refusals_come_before_the_model_is_read(images: Path, tmp_path: Path) -> None:
    """A missing model file would say "does not exist" of the model: each target
    is refused first, and nothing is written or created."""
    before = sorted(tmp_path.rglob("*"))
    for options, words in refused_cases(images, tmp_path):
        with pytest.raises(ConfigError, match=words) as caught:
            predict_batch(tmp_path / "no-model.pt", [images], **options)
        assert "no-model.pt" not in str(caught.value), options
    assert sorted(tmp_path.rglob("*")) == sorted([*before, tmp_path / "a_file"])


def test_the_cli_refuses_the_same_targets(images: Path, model_file: Path, tmp_path: Path, capsys) -> None:
    for options, _words in refused_cases(images, tmp_path):
        option, value = next(iter(options.items()))
        flag = {"copy_to": "--copy-to", "csv_path": "--csv"}[option]
        assert main(["predict", str(model_file), str(images), flag, value]) == 2, options
        err = capsys.readouterr().err.strip()
        assert err.startswith("mlcls-gui: error:") and "\n" not in err
    assert not (images / "sorted").exists() and not (tmp_path / "no").exists()


def test_the_cli_predicts_through_the_shared_function(images: Path, model_file: Path, tmp_path: Path,
                                                     monkeypatch, capsys) -> None:
    calls: list[tuple] = []
    real = batch_predict.predict_batch

    def spy(model, inputs, **kwargs):
        calls.append((str(model), [str(i) for i in inputs], kwargs))
        return real(model, inputs, **kwargs)

    monkeypatch.setattr(batch_predict, "predict_batch", spy)
    output, copies = tmp_path / "p.csv", tmp_path / "sorted"
    assert main(["predict", str(model_file), str(images), "--csv", str(output), "--copy-to", str(copies)]) == 0
    ((model, inputs, kwargs),) = calls
    assert model == str(model_file) and inputs == [str(images)]
    assert kwargs["csv_path"] == str(output) and kwargs["copy_to"] == str(copies)
    err = capsys.readouterr().err
    assert f"Wrote {output}" in err and f"Copied 12 image(s) into label folders under {copies}" in err


def test_csv_copies_and_counts(images: Path, model_file: Path, tmp_path: Path) -> None:
    output, copies = tmp_path / "p.csv", tmp_path / "sorted"
    result = predict_batch(model_file, [images], csv_path=str(output), copy_to=str(copies), chunk_size=5)
    predictor = Predictor.from_file(model_file)
    paths = sorted(str(p) for p in images.rglob("*.png"))
    expected = predictor.predict_paths(paths)  # in one go: the chunks change nothing (but float rounding)
    assert [p.path for p in result.predictions] == paths
    for got, want in zip(result.predictions, expected):
        assert got.probabilities == pytest.approx(want.probabilities, abs=1e-5) and got.error == want.error
        assert got.predicted == tuple(label for label, t in result.thresholds.items()
                                      if got.ok and got.probabilities[label] >= t)
    assert (result.total, result.predicted, result.copied, result.cancelled) == (13, 12, 12, False)
    assert result.unreadable == [(str(images / "broken.png"), expected[0].error)]
    assert result.all_unreadable is False
    assert result.thresholds == predictor.thresholds_used()
    with open(output, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["path", *predictor.labels, "predicted", "error"] and len(rows) == 14
    folders = {p.name: p.parent.name for p in copies.rglob("*.png")}
    assert folders == {Path(p.path).name: "+".join(sorted(p.predicted)) or NO_LABEL
                       for p in result.predictions if p.ok}
    assert sum(result.label_sets.values()) == 12
    assert list(result.label_sets.values()) == sorted(result.label_sets.values(), reverse=True)


def test_one_threshold_for_every_label(images: Path, model_file: Path) -> None:
    result = predict_batch(model_file, [images], threshold=0.001)
    labels = Predictor.from_file(model_file).labels
    assert result.thresholds == dict.fromkeys(labels, 0.001)
    assert all(p.predicted == tuple(labels) for p in result.predictions if p.ok)


def test_progress_stages_and_cancel_follow_the_protocol(images: Path, model_file: Path, tmp_path: Path) -> None:
    seen: list[tuple[int, int, str]] = []
    result = predict_batch(model_file, [images], copy_to=str(tmp_path / "sorted"), chunk_size=5,
                           on_progress=lambda done, total, stage="": seen.append((done, total, stage)))
    assert seen == [(0, 0, LOADING), (0, 0, SEARCHING), (5, 13, PREDICTING), (10, 13, PREDICTING),
                    (13, 13, PREDICTING), (5, 12, COPYING), (10, 12, COPYING), (12, 12, COPYING)]
    assert result.copied == 12

    # Stopped during the prediction: nothing written, the result says so.
    output = tmp_path / "cancelled.csv"
    result = predict_batch(model_file, [images], csv_path=str(output), copy_to=str(tmp_path / "other"),
                           chunk_size=5, should_stop=lambda: len(seen) > 9,
                           on_progress=lambda done, total, stage="": seen.append((done, total, stage)))
    assert result.cancelled and result.copied is None and result.predictions == []
    assert not output.exists() and not (tmp_path / "other").exists()

    # Stopped while copying: the CSV is whole, some images are copied.
    calls = iter(range(100))
    result = predict_batch(model_file, [images], csv_path=str(output), copy_to=str(tmp_path / "other"),
                           chunk_size=5, should_stop=lambda: next(calls) >= 4)  # 3 predict checks, 1 copy
    assert result.cancelled and result.copied == 5 and output.is_file()
    assert len(list((tmp_path / "other").rglob("*.png"))) == 5


def test_skipped_inputs_are_heard_before_predicting_and_none_at_all_is_refused(
        images: Path, model_file: Path, tmp_path: Path) -> None:
    note = tmp_path / "note.pdf"
    note.write_bytes(b"%PDF")
    heard: list[tuple[str, str]] = []
    result = predict_batch(model_file, [images, note, tmp_path / "missing"],
                           on_skipped=lambda path, reason: heard.append((path, reason)))
    assert heard == result.rejected == [(str(note), "not an image file (.pdf)"),
                                        (str(tmp_path / "missing"), "does not exist")]
    with pytest.raises(DatasetError, match="No image files to predict"):
        predict_batch(model_file, [note])


def test_a_label_set_no_folder_can_hold_is_refused_before_the_first_copy(
        images: Path, model_file: Path, tmp_path: Path, monkeypatch) -> None:
    """Every image is checked before anything is copied, not chunk by chunk: here
    only the last image's label set cannot be a folder name."""
    from mlcls_gui.core.data import labels

    calls = iter(range(1, 100))
    monkeypatch.setattr(labels, "folder_label_problem",
                        lambda names: "no such folder" if next(calls) == 12 else "")
    with pytest.raises(ConfigError, match="Cannot copy into label folders: no such folder"):
        predict_batch(model_file, [images], copy_to=str(tmp_path / "sorted"), chunk_size=1)
    assert not (tmp_path / "sorted").exists()


def test_every_image_unreadable_is_exit_status_1(model_file: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "bad.png").write_bytes(b"nope")
    result = predict_batch(model_file, [tmp_path / "bad.png"])
    assert result.all_unreadable and result.predicted == 0
    assert main(["predict", str(model_file), str(tmp_path / "bad.png")]) == 1
    assert "cannot read" in capsys.readouterr().out


def test_a_damaged_model_file_is_one_clear_error(images: Path, tmp_path: Path) -> None:
    from mlcls_gui.core.errors import MlclsError

    bad = tmp_path / "broken-model.pt"
    bad.write_bytes(b"\x00" * 64)
    with pytest.raises(MlclsError, match="broken-model.pt"):
        predict_batch(bad, [images])
