"""The audit of a set with many labels: what it prints and returns stays bounded
("(and N more)"), while its counts and totals still cover every label."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mlcls_gui.cli import main
from mlcls_gui.core.data import audit as audit_module
from mlcls_gui.core.data.audit import MAX_JSON_MATRIX_LABELS, MAX_LISTED, MAX_TABLE_LABELS, RARE_IMAGES, audit_dataset
from mlcls_gui.core.data.dataset import scan_data_root

IMAGES = 24


def _wide_csv(folder: Path, labels: int, *, unknown_every: int = 0, seed: int = 0) -> tuple[Path, np.ndarray]:
    """A CSV with one 0/1 column per label (random cells) and its 0/1 matrix;
    with ``unknown_every``, every such column's first cell is left empty."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    cells = (rng.random((IMAGES, labels)) < 0.4).astype(int)
    lines = ["path," + ",".join(f"l{j}" for j in range(labels))]
    for i in range(IMAGES):
        Image.new("RGB", (8, 8), (i * 10, 0, 0)).save(folder / f"img{i}.png")
        row = [str(v) for v in cells[i]]
        if unknown_every and i == 0:
            for j in range(0, labels, unknown_every):
                row[j], cells[i, j] = "", 0
        lines.append(f"img{i}.png," + ",".join(row))
    (folder / "labels.csv").write_text("\n".join(lines) + "\n")
    return folder / "labels.csv", cells


def _audit_part(text: str) -> str:
    return text[text.index("Label co-occurrence"):]


def test_a_thousand_labels_print_a_bounded_table_and_keep_every_count(tmp_path: Path) -> None:
    csv_path, cells = _wide_csv(tmp_path / "wide", 1000)
    splits = scan_data_root(csv_path, val_fraction=0.0, test_fraction=0.0)
    audit = audit_dataset(splits, check_duplicates=False)
    # Every label's counts, and every pair's, are whole and right.
    labels = [f"l{j}" for j in range(1000)]
    assert set(audit.labels) == set(labels)
    column = {label: j for j, label in enumerate(labels)}
    order = [column[label] for label in audit.labels]
    expected = cells[:, order].T @ cells[:, order]
    np.testing.assert_array_equal(audit.cooccurrence, expected)
    assert audit.label_counts == {label: int(cells[:, column[label]].sum()) for label in audit.labels}
    assert sum(audit.cardinality.values()) == IMAGES

    text = audit.to_text()
    # Before: a 1000 × 1000 table, 7 MB; now the most common labels only.
    assert len(text) < 20_000
    assert f"of the {MAX_TABLE_LABELS} most common labels" in text
    assert f"(and {1000 - MAX_TABLE_LABELS} more labels" in text
    # The data set's own summary lists the most common labels too, and counts the rest.
    summary = splits.summary().to_text()
    assert len(summary) < 10_000 and "(and 980 more labels)" in summary and "Labels (1000)" in summary
    table_rows = [line for line in text.splitlines() if line.startswith("  l")]
    assert len(table_rows) == MAX_TABLE_LABELS
    most_common = max(audit.label_counts.values())
    assert table_rows[0].split()[1] == str(most_common)  # the most common label comes first


def test_the_rare_label_warnings_are_capped_with_the_total(tmp_path: Path) -> None:
    csv_path, cells = _wide_csv(tmp_path / "wide", 300)
    audit = audit_dataset(scan_data_root(csv_path, val_fraction=0.0, test_fraction=0.0),
                          check_duplicates=False)
    rare = int((cells.sum(axis=0) < RARE_IMAGES).sum())
    assert rare > MAX_LISTED  # the set is built so that the cap matters
    one_each = [w for w in audit.warnings if w.startswith("Label ") and "training image(s)" in w]
    assert len(one_each) == MAX_LISTED
    assert f"(and {rare - MAX_LISTED} more like this: {rare} of 300 labels have fewer than" in " ".join(
        audit.warnings)
    assert len(audit.warnings) <= MAX_LISTED + 3


def test_unknown_labels_are_capped_in_the_line_and_the_warnings(tmp_path: Path) -> None:
    csv_path, _ = _wide_csv(tmp_path / "wide", 200, unknown_every=2)  # 100 labels partly unknown
    audit = audit_dataset(scan_data_root(csv_path, val_fraction=0.0, test_fraction=0.0),
                          check_duplicates=False)
    assert sum(1 for n in audit.unknown_counts.values() if n) == 100  # the counts stay whole
    text = audit.to_text()
    line = next(line for line in text.splitlines() if line.startswith("Unknown labels"))
    assert line.count(",") == MAX_LISTED - 1 and line.endswith(f"(and {100 - MAX_LISTED} more)")
    assert f"(and {100 - MAX_LISTED} more like this: 100 of 200 labels are unknown" in text


def test_the_json_holds_the_most_common_labels_matrix_and_every_count(tmp_path: Path) -> None:
    csv_path, _ = _wide_csv(tmp_path / "wide", 600)
    out = tmp_path / "audit.json"
    assert main(["audit", str(csv_path), "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    shown = data["cooccurrence_labels"]
    assert len(shown) == MAX_JSON_MATRIX_LABELS and len(data["cooccurrence"]) == MAX_JSON_MATRIX_LABELS
    assert all(len(row) == MAX_JSON_MATRIX_LABELS for row in data["cooccurrence"])
    counts = data["label_counts"]
    assert len(counts) == 600 and len(data["labels"]) == 600
    # The matrix is of the most common labels, and its diagonal is their counts.
    assert min(counts[label] for label in shown) >= max(
        counts[label] for label in counts if label not in shown)
    assert [data["cooccurrence"][i][i] for i in range(len(shown))] == [counts[label] for label in shown]
    assert out.stat().st_size < 1_000_000  # before: 600 × 600 cells and 600 warnings


def test_a_small_set_keeps_its_whole_matrix(tmp_path: Path) -> None:
    csv_path, cells = _wide_csv(tmp_path / "small", 5)
    audit = audit_dataset(scan_data_root(csv_path, val_fraction=0.0, test_fraction=0.0),
                          check_duplicates=False)
    data = audit.to_dict()
    assert data["cooccurrence_labels"] == data["labels"] and len(data["cooccurrence"]) == 5
    text = audit.to_text()
    assert "most common" not in text and "more labels" not in text
    assert len([line for line in text.splitlines() if line.startswith("  l")]) == 5


def test_duplicate_groups_are_capped_with_their_total(tmp_path: Path) -> None:
    root = tmp_path / "dups"
    groups = MAX_LISTED + 5
    for i in range(groups):
        for split in ("train", "test"):
            folder = root / split / "cat"
            folder.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (8, 8), (i, 0, 0)).save(folder / f"d{i}.png")
    audit = audit_dataset(scan_data_root(root))
    assert len(audit.duplicates) == groups
    text = audit.to_text()
    assert f"{groups} group(s)" in text and text.count("  =  ") == MAX_LISTED
    assert "(and 5 more)" in text
    data = audit.to_dict()
    assert data["duplicate_groups"] == groups and len(data["duplicates_across_splits"]) == MAX_LISTED


def test_the_cli_audit_part_does_not_grow_with_the_labels(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    sizes = []
    for labels in (100, 1500):
        csv_path, _ = _wide_csv(tmp_path / f"w{labels}", labels)
        assert main(["audit", str(csv_path)]) == 0
        sizes.append(len(_audit_part(capsys.readouterr().out)))
    assert sizes[1] < 2 * sizes[0]  # was quadratic: 225 times as large


def test_the_cap_follows_the_constant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit_module, "MAX_LISTED", 3)
    csv_path, _ = _wide_csv(tmp_path / "wide", 50, unknown_every=5)  # 10 labels partly unknown
    audit = audit_dataset(scan_data_root(csv_path, val_fraction=0.0, test_fraction=0.0),
                          check_duplicates=False)
    line = next(line for line in audit.to_text().splitlines() if line.startswith("Unknown labels"))
    assert line.endswith("(and 7 more)")
