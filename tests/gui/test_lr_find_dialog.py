"""The learning-rate finder's dialog: runs off the GUI thread, plots the curve
live, cancels, marks the suggestion, and Apply emits it."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import pytest

from mlcls_gui.gui.settings import lr_find_dialog
from mlcls_gui.gui.settings.lr_find_dialog import LrFindDialog

from .conftest import tiny_config


def _dialog(qtbot, demo_root: Path, tmp_path: Path, **kwargs) -> LrFindDialog:
    config = tiny_config(demo_root, tmp_path / "out", arch="tiny_cnn", val_fraction=0.2)
    dialog = LrFindDialog(config, **kwargs)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_defaults_mirror_the_core() -> None:
    from mlcls_gui.core.training import lr_finder

    assert lr_find_dialog.DEFAULT_STEPS == lr_finder.DEFAULT_STEPS
    assert lr_find_dialog.DEFAULT_START_LR == lr_finder.DEFAULT_START_LR
    assert lr_find_dialog.DEFAULT_END_LR == lr_finder.DEFAULT_END_LR


def test_runs_in_the_background_plots_and_applies(qtbot, demo_root: Path, tmp_path: Path) -> None:
    dialog = _dialog(qtbot, demo_root, tmp_path, steps=20, start_lr=1e-6, end_lr=1.0)
    gui_thread = threading.get_ident()
    worker_threads: list[int] = []
    original = lr_find_dialog.run_finder

    def spy(*args, **kwargs):
        worker_threads.append(threading.get_ident())
        return original(*args, **kwargs)

    lr_find_dialog.run_finder = spy
    try:
        assert not dialog.apply_button.isEnabled()
        with qtbot.waitSignal(dialog.test_finished, timeout=60_000) as finished:
            assert dialog.start()
            assert not dialog.start()  # one test at a time
            assert dialog.cancel_button.isEnabled() and not dialog.start_button.isEnabled()
    finally:
        lr_find_dialog.run_finder = original
    qtbot.waitUntil(lambda: not dialog.is_busy(), timeout=10_000)
    assert worker_threads and worker_threads[0] != gui_thread
    assert finished.args[0] in ("completed", "diverged")
    xs, ys = dialog.smoothed_curve.getOriginalDataset()
    assert len(xs) == len(dialog.result.points) > 10
    assert dialog.progress_bar.value() == len(dialog.result.points)
    suggestion = dialog.suggestion()
    assert suggestion is not None and 1e-6 <= suggestion <= 1.0
    # The marker sits at the suggestion on the log axis (the view holds log10 of x).
    assert dialog.suggestion_line.isVisible()
    assert dialog.suggestion_line.value() == pytest.approx(math.log10(suggestion))
    assert dialog.apply_button.text() == f"Apply {suggestion:g}" and suggestion == float(f"{suggestion:.2g}")
    assert dialog.apply_button.isEnabled()
    assert not (tmp_path / "out").exists()
    with qtbot.waitSignal(dialog.applied, timeout=1000) as applied:
        dialog.apply_button.click()
    assert applied.args == [pytest.approx(suggestion)]
    assert not dialog.isVisible()


def test_cancel_stops_the_test_without_a_suggestion(qtbot, demo_root: Path, tmp_path: Path) -> None:
    dialog = _dialog(qtbot, demo_root, tmp_path, steps=1000)
    with qtbot.waitSignal(dialog.test_finished, timeout=60_000) as finished:
        dialog.start()
        qtbot.waitUntil(lambda: len(dialog._lrs) >= 3, timeout=30_000)
        dialog.cancel_button.click()
    qtbot.waitUntil(lambda: not dialog.is_busy(), timeout=10_000)
    assert finished.args == ["cancelled"]
    assert dialog.suggestion() is None and not dialog.apply_button.isEnabled()
    assert "Cancelled" in dialog.status_label.text()
    assert dialog.start_button.isEnabled() and dialog.start_button.text() == "Run again"


def test_closing_while_running_cancels_then_closes(qtbot, demo_root: Path, tmp_path: Path) -> None:
    dialog = _dialog(qtbot, demo_root, tmp_path, steps=1000)
    dialog.start()
    qtbot.waitUntil(lambda: len(dialog._lrs) >= 1, timeout=30_000)
    dialog.reject()  # Escape or the Close button
    assert dialog.isVisible()  # stays until the thread ended
    qtbot.waitUntil(lambda: not dialog.is_busy() and not dialog.isVisible(), timeout=30_000)
    assert dialog.result.stop_reason == "cancelled"


def test_a_failure_is_shown_in_one_line(qtbot, tmp_path: Path) -> None:
    dialog = _dialog(qtbot, tmp_path / "missing", tmp_path, steps=20)
    with qtbot.waitSignal(dialog.test_finished, timeout=30_000) as finished:
        dialog.start()
    qtbot.waitUntil(lambda: not dialog.is_busy(), timeout=10_000)
    assert finished.args == ["failed"]
    assert "missing" in dialog.status_label.text()
    assert not dialog.apply_button.isEnabled() and dialog.start_button.isEnabled()


def test_the_y_range_shows_the_descent_not_the_divergence() -> None:
    # A descent from 0.7 to 0.3, then a blow-up to 150: the range is the descent's.
    curve = [0.7, 0.69, 0.6, 0.45, 0.3, 0.5, 4.0, 150.0]
    low, high = lr_find_dialog.useful_range(curve)
    assert low < 0.3 < 0.7 < high < 1.0
    assert lr_find_dialog.useful_range([]) is None and lr_find_dialog.useful_range([math.nan]) is None
    low, high = lr_find_dialog.useful_range([0.5, 0.5, 0.5])  # flat: still a range, not an empty one
    assert low < 0.5 < high
