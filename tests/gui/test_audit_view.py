"""The audit view: co-occurrence heatmap, labels per image, and warnings."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image
from pytestqt.qtbot import QtBot

from mlcls_gui.core.data.audit import audit_dataset
from mlcls_gui.core.data.dataset import scan_data_root
from mlcls_gui.core.data.splits import DatasetSplits
from mlcls_gui.gui.data.audit_view import AuditView

TIMEOUT = 30_000


def audited(qtbot: QtBot, splits: DatasetSplits) -> AuditView:
    view = AuditView()
    qtbot.addWidget(view)
    view.resize(1000, 600)
    view.show()
    with qtbot.waitSignal(view.audit_finished, timeout=TIMEOUT) as blocker:
        view.set_splits(splits)
    assert blocker.args == ["done"], view.last_error()
    assert not view.is_busy()
    return view


def ticks(view: AuditView, side: str) -> list[str]:
    axis = view.heatmap.getPlotItem().getAxis(side)
    return [text for _, text in axis._tickLevels[0]]


def test_the_heatmap_shows_the_cooccurrence_counts(qtbot: QtBot, demo_root: Path) -> None:
    splits = scan_data_root(demo_root)
    expected = audit_dataset(splits)
    view = audited(qtbot, splits)
    np.testing.assert_array_equal(view.heatmap_values(), expected.cooccurrence)
    assert view.heatmap_values().shape == (4, 4)
    # The demo set never puts circle and cross together; circle+square is a folder of 6.
    labels = list(expected.labels)
    values = view.heatmap_values()
    assert values[labels.index("circle"), labels.index("cross")] == 0
    assert values[labels.index("circle"), labels.index("square")] == 12  # circle+square, c+s+t
    assert ticks(view, "left") == labels
    assert ticks(view, "bottom") == labels
    # Each cell carries its count as text.
    texts = [item.toPlainText() for item in view._cell_texts]
    assert texts == [str(int(v)) for v in expected.cooccurrence.ravel()]
    # Labels per image: the demo set has 1-, 2- and 3-label images.
    bars = view.cardinality_bars.opts
    assert dict(zip(bars["x"], bars["height"])) == expected.cardinality == {1: 24, 2: 24, 3: 6}
    assert expected.warnings == ()
    assert len(view.warnings()) == 1 and view.warnings()[0].startswith("No warnings")


def write_image(path: Path, colour: tuple[int, int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (16, 16), colour).save(path)


def test_rare_labels_and_duplicates_across_splits_are_listed(qtbot: QtBot, tmp_path: Path) -> None:
    root = tmp_path / "data"
    for split in ("train", "val", "test"):
        for index in range(12 if split == "train" else 3):
            write_image(root / split / "cat" / f"cat_{index}.png", (10 * index, 40, 90))
    write_image(root / "train" / "cat+dog" / "both.png", (200, 10, 10))
    write_image(root / "train" / "dog" / "dog_0.png", (0, 200, 0))
    (root / "test" / "dog").mkdir(parents=True)
    shutil.copy(root / "train" / "dog" / "dog_0.png", root / "test" / "dog" / "dog_copy.png")
    splits = scan_data_root(root)
    view = audited(qtbot, splits)
    shown = "\n".join(view.warnings())
    assert "'dog' has only 2 training image(s)" in shown
    assert "appear in more than one split" in shown
    assert "dog_0.png" in shown and "dog_copy.png" in shown  # the duplicate group itself
    labels = list(view.audit().labels)
    assert view.heatmap_values()[labels.index("cat"), labels.index("dog")] == 1


def test_a_new_dataset_replaces_the_running_audit(qtbot: QtBot, demo_root: Path, tmp_path: Path) -> None:
    small = tmp_path / "small"
    write_image(small / "a" / "1.png", (1, 2, 3))
    write_image(small / "a+b" / "2.png", (4, 5, 6))
    view = AuditView()
    qtbot.addWidget(view)
    with qtbot.waitSignal(view.audit_finished, timeout=TIMEOUT) as blocker:
        view.set_splits(scan_data_root(demo_root))
        view.set_splits(scan_data_root(small, val_fraction=0.0, test_fraction=0.0))
    assert blocker.args == ["done"]
    assert list(view.audit().labels) == ["a", "b"]
    np.testing.assert_array_equal(view.heatmap_values(), [[2, 1], [1, 1]])


def test_no_count_saturates_and_a_colour_bar_gives_the_scale(qtbot: QtBot, demo_root: Path) -> None:
    """Issue 15: the diagonal saturated, so 100 and 200 looked the same."""
    view = audited(qtbot, scan_data_root(demo_root))
    values = view.heatmap_values()
    top = float(values.max())
    assert tuple(view.image_item.getLevels()) == (0.0, top)
    assert tuple(view.color_bar.levels()) == (0.0, top)
    lut = view.image_item.getColorMap().getLookupTable(nPts=256)
    # Perceptual map: the two ends differ, and the largest diagonal count is not clipped.
    assert not np.array_equal(lut[0], lut[-1])
    counts = sorted(set(np.diag(values).tolist()))
    if len(counts) > 1:
        low, high = (view.image_item.getColorMap().map(c / top, mode="byte") for c in (counts[0], counts[-1]))
        assert not np.array_equal(low, high)


def test_the_training_plots_legends_sit_in_the_titles_not_over_the_curves(qtbot) -> None:
    from mlcls_gui.gui.train.plots import TrainingPlots

    plots = TrainingPlots()
    qtbot.addWidget(plots)
    for plot, names in ((plots.loss_plot, ["batch", "smoothed", "train", "validation"]),
                        (plots.accuracy_plot, ["train", "validation"])):
        item = plot.getPlotItem()
        assert item.legend is None  # nothing drawn inside the data area
        title = item.titleLabel.text
        for name in names:
            assert name in title, (name, title)


def test_many_labels_draw_the_most_common_and_the_hover_names_them(qtbot: QtBot, tmp_path: Path) -> None:
    """500 label columns: the heatmap holds the MAX_HEATMAP_LABELS most common
    (its title says so), and a cell's tooltip names that cell's real labels."""
    from mlcls_gui.gui.data import audit_view

    folder = tmp_path / "wide"
    folder.mkdir()
    rng = np.random.default_rng(3)
    cells = (rng.random((12, 500)) < rng.random(500)).astype(int)  # columns of every frequency
    lines = ["path," + ",".join(f"l{j}" for j in range(500))]
    for i in range(12):
        Image.new("RGB", (8, 8), (i * 20, 0, 0)).save(folder / f"img{i}.png")
        lines.append(f"img{i}.png," + ",".join(str(v) for v in cells[i]))
    (folder / "labels.csv").write_text("\n".join(lines) + "\n")
    view = audited(qtbot, scan_data_root(folder / "labels.csv", val_fraction=0.0, test_fraction=0.0))
    audit = view.audit()
    shown = audit.most_common_labels(audit_view.MAX_HEATMAP_LABELS)
    values = view.heatmap_values()
    assert values.shape == (audit_view.MAX_HEATMAP_LABELS,) * 2
    np.testing.assert_array_equal(values, audit.cooccurrence[np.ix_(shown, shown)])
    assert np.diagonal(values).min() >= max(np.diagonal(audit.cooccurrence)[i]
                                            for i in range(len(audit.labels)) if i not in shown)
    assert f"top {audit_view.MAX_HEATMAP_LABELS} of 500 labels" in view.heatmap.getPlotItem().titleLabel.text
    assert len(ticks(view, "left")) == audit_view.MAX_HEATMAP_LABELS
    assert ticks(view, "left")[0].startswith(audit.labels[shown[0]])
