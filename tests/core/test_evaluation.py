"""Per-label evaluation, tuned thresholds, batch prediction and the dataset audit."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import tiny_config
from PIL import Image
from sklearn.metrics import average_precision_score, f1_score, hamming_loss, precision_recall_fscore_support

from mlcls_gui.cli import main
from mlcls_gui.core.data.audit import audit_dataset
from mlcls_gui.core.data.dataset import scan_data_root
from mlcls_gui.core.evaluation.metrics import compute_metrics
from mlcls_gui.core.evaluation.thresholds import tune_thresholds
from mlcls_gui.core.inference.predict import Predictor, save_thresholds
from mlcls_gui.core.model_file.contents import read_model_file
from mlcls_gui.core.training.engine import Trainer


@pytest.fixture(scope="module")
def trained(tiny_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("trained") / "out"
    Trainer(tiny_config(tiny_root, out, n_epochs=2)).run()
    return out


def test_tuned_thresholds_never_lower_f1():
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 2, size=(120, 6))
    truth[:, 5] = 0
    truth[:2, 5] = 1  # two positives: guarded, stays at 0.5
    probs = np.clip(truth * rng.uniform(0.2, 0.7, truth.shape) + rng.uniform(0, 0.5, truth.shape), 0, 1)
    thresholds = tune_thresholds(probs, truth)
    assert thresholds[5] == 0.5
    base = compute_metrics(probs, truth, list("abcdef"), 0.5)
    tuned = compute_metrics(probs, truth, list("abcdef"), thresholds)
    for before, after in zip(base.per_label, tuned.per_label):
        assert after.f1 >= before.f1 - 1e-12
    assert tuned.macro_f1 > base.macro_f1


def test_training_writes_thresholds_and_evaluation(trained):
    model = read_model_file(trained / "final_model.pt")
    assert len(model.thresholds) == len(model.labels)
    report = json.loads((trained / "evaluation.json").read_text())
    summary = json.loads((trained / "summary.json").read_text())
    assert report["split"] == "test" and report["images_evaluated"] == summary["split_sizes"]["test"]
    assert report["metrics_at_0.5"]["map"] == pytest.approx(summary["test_map"])
    assert set(summary["thresholds"]) == set(model.labels)
    assert summary["test_at_thresholds"]["macro_f1"] is not None


def test_evaluate_json_metrics_can_be_recomputed(trained, tiny_root, tmp_path, capsys):
    out_json = tmp_path / "eval.json"
    assert main(["evaluate", str(trained / "final_model.pt"), str(tiny_root), "--json", str(out_json)]) == 0
    assert "Overall at 0.5" in capsys.readouterr().out
    report = json.loads(out_json.read_text())
    labels = report["labels"]
    probs = np.array([[img["probabilities"][label] for label in labels] for img in report["images"]])
    truth = np.array([[label in img["labels"] for label in labels] for img in report["images"]], dtype=int)
    assert len(report["images"]) == 54
    for key, cut in (("metrics_at_0.5", np.full(len(labels), 0.5)),
                     ("metrics_at_thresholds", np.array(report["thresholds"]))):
        metrics = report[key]
        predicted = probs >= cut
        assert metrics["exact_match"] == pytest.approx((predicted == truth).all(1).mean(), abs=1e-9)
        assert metrics["macro_f1"] == pytest.approx(f1_score(truth, predicted, average="macro", zero_division=0), abs=1e-9)
        assert metrics["micro_f1"] == pytest.approx(f1_score(truth, predicted, average="micro", zero_division=0), abs=1e-9)
        assert metrics["hamming_loss"] == pytest.approx(hamming_loss(truth, predicted), abs=1e-9)
        assert metrics["map"] == pytest.approx(average_precision_score(truth, probs, average="macro"), abs=1e-9)
        p, r, f, support = precision_recall_fscore_support(truth, predicted, zero_division=0)
        for j, row in enumerate(metrics["per_label"]):
            assert (row["precision"], row["recall"], row["f1"], row["support"]) == pytest.approx(
                (p[j], r[j], f[j], support[j]))
            assert row["average_precision"] == pytest.approx(average_precision_score(truth[:, j], probs[:, j]))
    for image in report["images"]:
        expected = [label for label, t in zip(labels, report["thresholds"]) if image["probabilities"][label] >= t]
        assert image["predicted"] == expected


def test_saved_thresholds_are_used_by_predict(trained, tiny_root, tmp_path):
    model = tmp_path / "m.pt"
    shutil.copy(trained / "final_model.pt", model)
    labels = Predictor.from_file(model).labels
    save_thresholds(model, [0.0001] * len(labels))
    predictor = Predictor.from_file(model)
    assert predictor.thresholds == [0.0001] * len(labels)
    image = next(Path(tiny_root, "circle").iterdir())
    assert set(predictor.predict_path(image).predicted) == set(labels)  # everything passes 0.0001
    assert predictor.predict_path(image, threshold=1.0).predicted == ()


def test_batch_prediction_copies_into_label_folders(trained, tiny_root, tmp_path, capsys):
    target = tmp_path / "sorted"
    csv_file = tmp_path / "pred.csv"
    assert main(["predict", str(trained / "final_model.pt"), str(tiny_root), "--csv", str(csv_file),
                 "--copy-to", str(target)]) == 0
    copied = [p for p in target.rglob("*.png")]
    assert len(copied) == 54
    rows = csv_file.read_text().splitlines()[1:]
    for row in rows[:5]:
        path, *_, predicted, _error = row.split(",")
        folder = predicted or "_no_label"
        assert (target / folder / Path(path).name).exists()


def _img(path: Path, colour) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), colour).save(path)


def test_audit_counts_cooccurrence_imbalance_and_leaks(tmp_path, capsys):
    root = tmp_path / "root"
    for i in range(30):
        _img(root / "train" / "cat" / f"c{i}.png", (i, 0, 0))
    for i in range(12):
        _img(root / "train" / "cat+dog" / f"cd{i}.png", (0, i, 0))
    _img(root / "train" / "bird" / "b0.png", (0, 0, 1))
    for i in range(3):
        _img(root / "test" / "cat" / f"t{i}.png", (100 + i, 0, 0))
    shutil.copy(root / "train" / "cat" / "c0.png", root / "test" / "cat" / "leak.png")
    splits = scan_data_root(root, val_fraction=0.2)
    audit = audit_dataset(splits)
    i = {label: n for n, label in enumerate(audit.labels)}
    assert audit.cooccurrence[i["cat"], i["dog"]] == 12 and audit.cooccurrence[i["cat"], i["cat"]] == 46
    assert audit.cardinality == {1: 35, 2: 12}
    assert len(audit.duplicates) == 1 and any("leak.png" in p for p in audit.duplicates[0])
    text = " ".join(audit.warnings)
    assert "'bird' has only 1 training image" in text and "Strong imbalance" in text
    assert main(["audit", str(root)]) == 0
    assert "Label co-occurrence" in capsys.readouterr().out


def test_pos_weight_uses_training_frequencies(tiny_root, tmp_path):
    trainer = Trainer(tiny_config(tiny_root, tmp_path / "o", n_epochs=1, pos_weight=True))
    trainer.run()
    weight = trainer.state.criterion.pos_weight
    train = trainer.splits.train
    j = trainer.labels.index("circle")
    positives = sum("circle" in s.labels for s in train)
    assert float(weight[j]) == pytest.approx((len(train) - positives) / positives)
