"""The predict panel: dropped / added images get a per-label confidence table;
bad input gets a clear message."""

from __future__ import annotations

import threading
from pathlib import Path

from pytestqt.qtbot import QtBot

from mlcls_gui.core.model_file.contents import read_model_file
from mlcls_gui.gui.predict.predict_panel import PredictPanel
from mlcls_gui.gui.widgets.background import live_threads

from .conftest import drop_urls

TIMEOUT = 30_000


def loaded_panel(qtbot: QtBot, model: Path) -> PredictPanel:
    panel = PredictPanel()
    qtbot.addWidget(panel)
    panel.resize(600, 700)
    panel.show()
    with qtbot.waitSignal(panel.model_loaded, timeout=TIMEOUT):
        panel.set_model_file(str(model))
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=TIMEOUT)
    return panel


def predict(qtbot: QtBot, panel: PredictPanel, paths: list[Path]) -> None:
    with qtbot.waitSignal(panel.predictions_shown, timeout=TIMEOUT):
        panel.add_paths([str(p) for p in paths])
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=TIMEOUT)


def test_an_added_image_fills_the_table_with_the_model_labels(
        qtbot: QtBot, trained_model: Path, demo_root: Path) -> None:
    labels = list(read_model_file(trained_model).labels)
    panel = loaded_panel(qtbot, trained_model)
    assert "resnet18" in panel.model_label.text()
    image = sorted((demo_root / "circle+square").iterdir())[0]
    predict(qtbot, panel, [image])
    assert len(panel.cards) == 1
    card = panel.cards[0]
    assert sorted(card.labels_in_order()) == sorted(labels)
    probabilities = [float(card.table.item(r, 1).text()) for r in range(card.table.rowCount())]
    assert probabilities == sorted(probabilities, reverse=True)
    assert all(0.0 <= p <= 1.0 for p in probabilities)
    bars = [bar.value() for bar in card.bars]
    assert all(abs(bar - p * 1000) <= 1 for bar, p in zip(bars, probabilities))
    assert not card.thumbnail.pixmap().isNull()
    assert not panel.message_label.isVisible()
    # The threshold marks labels above / below it, live.
    panel.per_label_check.setChecked(False)
    assert panel.threshold_spin.isEnabled()
    panel.threshold_spin.setValue(0.01)
    assert all(card.table.item(r, 3).text().startswith("✔") for r in range(card.table.rowCount()))
    panel.threshold_spin.setValue(0.99)
    assert all(card.table.item(r, 3).text() == "< 0.99" for r in range(card.table.rowCount()))
    middle = probabilities[1] + 1e-6 if probabilities[0] > probabilities[1] else probabilities[0]
    panel.threshold_spin.setValue(round(middle + 0.005, 2))
    marks = [card.table.item(r, 3).text().startswith("✔") for r in range(card.table.rowCount())]
    assert marks == [p >= panel.threshold() for p in probabilities]


def test_a_real_drop_of_several_images_and_a_folder(qtbot: QtBot, trained_model: Path, demo_root: Path) -> None:
    panel = loaded_panel(qtbot, trained_model)
    images = sorted((demo_root / "cross").iterdir())[:2]
    with qtbot.waitSignal(panel.predictions_shown, timeout=TIMEOUT):
        assert drop_urls(panel.scroll.viewport(), [*images, demo_root / "triangle"])
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=TIMEOUT)
    assert len(panel.cards) == 2 + 6
    assert {Path(card.path).name for card in panel.cards} >= {p.name for p in images}


def test_bad_files_give_a_message_in_the_panel(qtbot: QtBot, trained_model: Path, tmp_path: Path,
                                              demo_root: Path) -> None:
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(b"%PDF-1.4 not an image")
    corrupt = tmp_path / "holiday.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 definitely not a whole jpeg")
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "a.txt").write_text("x")
    (junk / "b.doc").write_text("y")
    good = sorted((demo_root / "square").iterdir())[0]
    panel = loaded_panel(qtbot, trained_model)
    predict(qtbot, panel, [pdf, corrupt, junk, good])
    assert panel.message_label.isVisible()
    text = "\n".join(panel.messages())
    assert "report.pdf: not an image file (.pdf)" in text
    assert "holiday.jpg:" in text
    assert "junk: folder holds no image files" in text
    assert len(panel.cards) == 1 and Path(panel.cards[0].path) == good
    assert "3 not used" in panel.status_label.text()


def test_images_before_a_model_wait_for_it(qtbot: QtBot, trained_model: Path, demo_root: Path) -> None:
    panel = PredictPanel()
    qtbot.addWidget(panel)
    panel.show()
    image = sorted((demo_root / "circle").iterdir())[0]
    panel.add_paths([str(image)])
    assert "No model yet" in "\n".join(panel.messages())
    assert not panel.cards
    with qtbot.waitSignal(panel.predictions_shown, timeout=TIMEOUT,
                          check_params_cb=lambda *a: bool(panel.cards)):
        panel.set_model_file(str(trained_model))
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=TIMEOUT)
    assert len(panel.cards) == 1


def test_a_file_that_is_not_a_model_gives_a_message(qtbot: QtBot, tmp_path: Path) -> None:
    bogus = tmp_path / "model.pt"
    bogus.write_bytes(b"nope")
    panel = PredictPanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.set_model_file(str(bogus))
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=TIMEOUT)
    assert not panel.has_model()
    assert "Could not load the model" in "\n".join(panel.messages())
    assert "No model" in panel.model_label.text()


def test_pasting_an_image_from_the_clipboard(qtbot: QtBot, trained_model: Path, demo_root: Path) -> None:
    from PySide6.QtGui import QGuiApplication, QImage

    panel = loaded_panel(qtbot, trained_model)
    QGuiApplication.clipboard().setImage(QImage(str(sorted((demo_root / "cross").iterdir())[0])))
    with qtbot.waitSignal(panel.predictions_shown, timeout=TIMEOUT):
        panel.paste_button.click()
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=TIMEOUT)
    assert len(panel.cards) == 1 and Path(panel.cards[0].path).name == "pasted-1.png"


def test_per_label_thresholds_of_the_model_are_used(qtbot: QtBot, trained_model: Path, demo_root: Path,
                                                    tmp_path: Path) -> None:
    from mlcls_gui.core.inference.predict import save_thresholds

    labels = list(read_model_file(trained_model).labels)
    model = tmp_path / "tuned.pt"
    model.write_bytes(trained_model.read_bytes())
    tuned = [0.01, 0.99] + [0.5] * (len(labels) - 2)
    save_thresholds(model, tuned)
    panel = loaded_panel(qtbot, model)
    assert panel.per_label_check.isEnabled() and panel.per_label_check.isChecked()
    assert not panel.threshold_spin.isEnabled()
    predict(qtbot, panel, [sorted((demo_root / "square").iterdir())[0]])
    decisions = panel.cards[0].decisions()
    assert decisions[labels[0]] is True and decisions[labels[1]] is False
    panel.per_label_check.setChecked(False)
    panel.threshold_spin.setValue(0.99)
    assert panel.cards[0].decisions()[labels[0]] is False


def test_the_status_counts_every_card_on_screen(qtbot: QtBot, trained_model: Path, demo_root: Path,
                                                tmp_path: Path) -> None:
    """Issue 15: a PDF dropped after three images said "0 image(s) predicted, 1 not used"
    with three cards on screen."""
    panel = loaded_panel(qtbot, trained_model)
    predict(qtbot, panel, sorted((demo_root / "circle").iterdir())[:3])
    assert panel.status_label.text() == "3 image(s) shown."
    pdf = tmp_path / "notes.pdf"
    pdf.write_bytes(b"%PDF-1.4")
    predict(qtbot, panel, [pdf])
    assert len(panel.cards) == 3
    assert panel.status_label.text() == "3 image(s) shown — just now: 0 predicted, 1 not used (see above)."


def test_opening_a_model_while_another_loads_never_blocks_the_window(
        qtbot: QtBot, trained_model: Path, tmp_path: Path, monkeypatch) -> None:
    """Issue 13: a second set_model_file waited on the GUI thread for the first load.

    The first load blocks until the test releases it, after the second model is
    in use: a window that waited for the first load (in set_model_file, or by
    starting the second only after it) would never get there."""
    from mlcls_gui.gui.predict import predict_panel

    slow = tmp_path / "slow.pt"
    slow.write_bytes(trained_model.read_bytes())
    fast = tmp_path / "fast.pt"
    fast.write_bytes(trained_model.read_bytes())
    real_load = predict_panel.load_predictor
    slow_started, release_slow, slow_ended = threading.Event(), threading.Event(), threading.Event()

    def load(path: str):  # the first model loads only once the test lets it
        if path == str(slow):
            slow_started.set()
            release_slow.wait(TIMEOUT / 1000)
            slow_ended.set()
        return real_load(path)

    monkeypatch.setattr(predict_panel, "load_predictor", load)
    panel = PredictPanel()
    qtbot.addWidget(panel)
    panel.show()
    loaded: list[str] = []
    panel.model_loaded.connect(loaded.append)
    try:
        panel.set_model_file(str(slow))
        assert slow_started.wait(5.0)
        panel.set_model_file(str(fast))
        assert not slow_ended.is_set()  # it returned while the first load still runs
        assert panel.open_model_button.isEnabled()  # a third choice may follow at once
        qtbot.waitUntil(lambda: panel.model_path() == str(fast), timeout=TIMEOUT)
        assert not slow_ended.is_set()  # the second model came first, beside the blocked load
    finally:
        release_slow.set()
    # The abandoned load ends later; its model is never used.
    qtbot.waitUntil(lambda: not any(thread.objectName() == "mlcls-load-model" for thread in live_threads()),
                    timeout=TIMEOUT)
    assert loaded == [str(fast)]
    assert panel.model_path() == str(fast) and panel.has_model()
    assert "fast.pt" in panel.model_label.text()
