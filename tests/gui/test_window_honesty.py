"""The window tells the truth (issue 15): quitting mid-run says what happens to
the test evaluation, a resume says what it continues from, Reset asks first, a
failed start leaves no stale progress, texts never contradict each other, the
window fits 1280×720 without clipped buttons and scrolls when smaller, and the
log wraps."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QAbstractButton, QApplication, QMessageBox
from pytestqt.qtbot import QtBot

from mlcls_gui.core.training.resume import plan_resume
from mlcls_gui.gui.startup import DEMO_DATA_FOLDER, app_data_dir
from mlcls_gui.gui.widgets.dialogs import CLOSE_FINISH_TEST, CLOSE_SKIP_TEST, ask_close_during_run

from .conftest import drop_urls, tiny_config, wait_until_ready

RUN_TIMEOUT = 90_000


def long_run(window, demo_root: Path, output: Path, **changes: object) -> None:
    # resnet18: the run must still be training when the test acts on it.
    changes.setdefault("arch", "resnet18")
    window.apply_config(tiny_config(demo_root, output, n_epochs=40, early_stop_epoch_limit=40, **changes))


def test_the_quit_dialog_says_the_test_evaluation_is_skipped_or_finishes_it(qtbot: QtBot) -> None:
    seen: list[str] = []

    def answer(button_text: str) -> None:
        box = QApplication.activeModalWidget()
        assert isinstance(box, QMessageBox)
        seen.append(box.informativeText())
        next(b for b in box.buttons() if b.text() == button_text).click()

    QTimer.singleShot(0, lambda: answer("Finish the test evaluation first"))
    assert ask_close_during_run(None, has_test_split=True) == CLOSE_FINISH_TEST
    QTimer.singleShot(0, lambda: answer("Stop and close"))
    assert ask_close_during_run(None, has_test_split=True) == CLOSE_SKIP_TEST
    assert "skips the test evaluation" in seen[0] and "no test metrics" in seen[0]


def test_quit_with_finish_the_test_first_keeps_the_test_metrics(
        qtbot: QtBot, make_window, demo_root: Path, tmp_path: Path) -> None:
    window = make_window()
    output = tmp_path / "out"
    long_run(window, demo_root, output)
    wait_until_ready(qtbot, window)
    window.confirm_close_during_run = lambda: CLOSE_FINISH_TEST
    with qtbot.waitSignal(window.run_ended, timeout=RUN_TIMEOUT):
        assert window.start_run()
        qtbot.waitUntil(lambda: window.plots.epoch_points("val_loss") >= 1, timeout=RUN_TIMEOUT)
        assert not window.close()
        assert "test evaluation runs" in window.run_panel.state_label.text()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=10_000)
    summary = json.loads((output / "summary.json").read_text())
    assert summary["test_exact_match"] is not None and summary["test_at_thresholds"] is not None


def test_quit_and_skip_the_test_says_so_in_the_summary(
        qtbot: QtBot, make_window, demo_root: Path, tmp_path: Path) -> None:
    window = make_window()
    output = tmp_path / "out"
    long_run(window, demo_root, output)
    wait_until_ready(qtbot, window)
    window.confirm_close_during_run = lambda: CLOSE_SKIP_TEST
    with qtbot.waitSignal(window.run_ended, timeout=RUN_TIMEOUT):
        assert window.start_run()
        qtbot.waitUntil(lambda: window.plots.epoch_points("val_loss") >= 1, timeout=RUN_TIMEOUT)
        assert not window.close()
        assert "test evaluation skipped" in window.run_panel.state_label.text()
    summary = json.loads((output / "summary.json").read_text())
    assert summary["test_exact_match"] is None
    assert "not evaluated" in window.run_panel.summary_label.text()


def test_resume_says_what_it_continues_from_before_it_starts(
        qtbot: QtBot, make_window, demo_root: Path, tmp_path: Path) -> None:
    window = make_window()
    output = tmp_path / "out"
    # resnet18: epoch 2 must last long enough for the click to land in it.
    window.apply_config(tiny_config(demo_root, output, n_epochs=2, arch="resnet18"))
    wait_until_ready(qtbot, window)
    with qtbot.waitSignal(window.run_ended, timeout=RUN_TIMEOUT):
        assert window.start_run()
        # "Save checkpoint" during epoch 2: the manual checkpoint is a mid-epoch one.
        qtbot.waitUntil(lambda: window.plots.epoch_points("val_loss") >= 1, timeout=RUN_TIMEOUT)
        window.run_panel.checkpoint_button.click()
    manual = plan_resume(str(output / "manual_checkpoint.pt"), tiny_config(demo_root, output, n_epochs=2))
    assert (manual.model_file.kind, manual.model_file.partial_epoch, manual.model_file.epoch) == ("manual", 2, 1)
    assert "Epoch 2 is trained again from its start" in manual.text()

    window.config_form.editor("n_epochs").setText("3")
    window.config_form.editor("early_stop_epoch_limit").setText("3")
    qtbot.waitUntil(window.is_ready, timeout=10_000)
    asked: list[str] = []
    window.confirm_resume = lambda info: (asked.append(info.text()), True)[1]
    with qtbot.waitSignal(window.run_ended, timeout=RUN_TIMEOUT) as ended:
        with qtbot.waitSignal(window.resume_checked, timeout=30_000):
            window.prepare_resume(str(output / "last_checkpoint.pt"))
        assert window.is_running()  # started only after the user was told
        assert window.run_panel.resume_label.isVisible()
        assert "continues after epoch 2, with epoch 3 of 3" in window.run_panel.resume_label.text()
    assert ended.args == ["completed"]
    best = json.loads((output / "summary.json").read_text())
    text = asked[0]
    assert "Training continues after epoch 2, with epoch 3 of 3." in text
    assert "The best checkpoint so far is epoch" in text and "val_loss" in text
    assert best["epochs_completed"] == 3

    # Declining starts nothing; a file that is no checkpoint says so.
    window.confirm_resume = lambda info: False
    with qtbot.waitSignal(window.resume_checked, timeout=30_000):
        window.prepare_resume(str(output / "last_checkpoint.pt"))
    assert not window.is_running()
    junk = tmp_path / "junk.pt"
    junk.write_text("not a checkpoint")
    with qtbot.waitSignal(window.resume_checked, timeout=30_000) as checked:
        window.prepare_resume(str(junk))
    assert checked.args == [""] and not window.is_running()
    window.last_error_box.close()


def test_a_failed_start_resets_the_run_panel_and_names_form_labels(
        qtbot: QtBot, make_window, demo_root: Path, tmp_path: Path) -> None:
    window = make_window()
    window.apply_config(tiny_config(demo_root, tmp_path / "out", pretrained=True,
                                    weights_file=str(tmp_path / "missing.pth")))
    wait_until_ready(qtbot, window)
    with qtbot.waitSignal(window.run_ended, timeout=RUN_TIMEOUT) as ended:
        assert window.start_run()
    assert ended.args == ["failed"]
    panel = window.run_panel
    assert panel.run_bar.format() == "Run failed before the first batch"  # not "Preparing…"
    assert panel.epoch_bar.format() == "Epoch —"
    assert "“ImageNet weights” off" in panel.state_label.text()
    assert "“ImageNet weights”" in window.last_error_box.text()
    assert "pretrained" not in window.last_error_box.text()
    window.last_error_box.close()


def test_reset_asks_and_demo_ready_never_contradicts_the_start_hint(
        qtbot: QtBot, make_window, tmp_path: Path) -> None:
    window = make_window()
    with qtbot.waitSignal(window.demo_ready, timeout=60_000):
        window.prepare_demo()
    wait_until_ready(qtbot, window)
    panel = window.run_panel
    assert panel.state_label.text().startswith("Demo ready")
    form = window.config_form
    assert form.changed_fields() == []  # marks compare with the demo's settings

    form.editor("batch_size").setText("many")
    assert not window.is_ready()
    assert panel.start_hint.text().startswith("Start is not possible yet: Fix the settings")
    assert "“Batch size”" in panel.start_hint.text()
    assert panel.state_label.text() == ""  # no "Demo ready" under that
    form.editor("batch_size").setText("16")
    qtbot.waitUntil(window.is_ready, timeout=10_000)
    assert panel.state_label.text().startswith("Demo ready")

    form.confirm_reset = lambda changed, choice: False
    form.reset_to("Recommended (the defaults)")
    assert form.config().image_size == 64  # declined: the demo settings stay
    form.confirm_reset = lambda changed, choice: True
    form.reset_to("Recommended (the defaults)")
    assert form.config().image_size == 224
    assert not panel.state_label.text().startswith("Demo ready")
    expected = app_data_dir() / "mlcls_output"  # beside the demo's data folder, absolute
    assert (app_data_dir() / DEMO_DATA_FOLDER).parent == expected.parent
    assert form.config().save_model_folder == str(expected)
    # The way back: Reset offers the demo's settings, and the demo is ready again.
    assert form.reset_to("the demo settings") and form.config().image_size == 64
    qtbot.waitUntil(lambda: panel.state_label.text().startswith("Demo ready"), timeout=10_000)
    qtbot.waitUntil(lambda: not window.data_panel.is_scanning(), timeout=30_000)
    # Another data folder dropped: "Demo ready" was about the demo's data, so it goes.
    other = tmp_path / "other-data"
    shutil.copytree(app_data_dir() / DEMO_DATA_FOLDER, other)
    window.left_tabs.setCurrentWidget(window.data_panel)
    assert drop_urls(window.data_panel.path_edit, [other])
    qtbot.waitUntil(lambda: not window.data_panel.is_scanning(), timeout=30_000)
    assert not panel.state_label.text().startswith("Demo ready")


def clipped_buttons(window) -> list[str]:
    found = []
    for tab in range(window.main_tabs.count()):
        window.main_tabs.setCurrentIndex(tab)
        for side in range(window.left_tabs.count()):
            window.left_tabs.setCurrentIndex(side)
            QApplication.processEvents()
            for button in window.findChildren(QAbstractButton):
                if button.isVisible() and button.width() < button.sizeHint().width():
                    found.append(f"{button.text()!r} {button.width()} < {button.sizeHint().width()}")
    window.main_tabs.setCurrentIndex(0)
    window.left_tabs.setCurrentIndex(0)
    return found


def test_at_1280x720_no_button_is_clipped_and_smaller_windows_scroll(
        qtbot: QtBot, make_window, demo_root: Path, tmp_path: Path) -> None:
    window = make_window()
    window.apply_config(tiny_config(demo_root, tmp_path / "out"))
    wait_until_ready(qtbot, window)  # Start enabled: its bold text is the widest
    window.resize(1280, 720)
    qtbot.waitUntil(lambda: window.width() == 1280, timeout=5_000)
    assert clipped_buttons(window) == []
    scroll = window.central_scroll
    assert not scroll.horizontalScrollBar().isVisible() and not scroll.verticalScrollBar().isVisible()
    # Settings: the fields fit beside the form's own scroll bar.
    window.left_tabs.setCurrentWidget(window.config_form)
    QApplication.processEvents()
    form_scroll = window.config_form.scroll
    assert form_scroll.widget().width() <= form_scroll.viewport().width()

    # Still no scrolling at 1280×720 with the longest texts a run leaves behind.
    from mlcls_gui.gui.train.run_summary import summary_html

    summary = {
        "reason": "stopped", "epochs_completed": 4, "best_epoch": 4, "monitor": "val_loss",
        "best_val": {"val_loss": 0.58, "val_accuracy": 0.26, "val_map": 0.72, "val_macro_f1": 0.57},
        "test_images": 72, "test_exact_match": 0.319, "test_macro_f1": 0.596, "test_map": 0.746,
        "test_loss": 0.59, "test_at_thresholds": {"exact_match": 0.319, "macro_f1": 0.651},
        "thresholds": {"circle": 0.52, "cross": 0.11, "square": 0.31, "triangle": 0.44},
        "files": {"final_model": "final_model.pt", "checkpoint": "checkpoint.pt", "log": "train.log"},
    }
    window.run_panel.show_summary(summary_html(summary, str(tmp_path / ("a-long-folder-name" * 3)),
                                               str(tmp_path / "final_model.pt")), str(tmp_path))
    window.run_panel.begin_run(resuming=True, resume_text="last_checkpoint.pt is the checkpoint of the "
                               "last completed epoch, written after epoch 4. " * 3)
    window.run_panel.summary_frame.show()
    window.predict_panel.status_label.setText(
        "3 image(s) shown — just now: 0 predicted, 1 not used (see above).")
    window.data_panel.set_root(str(demo_root / ("deep/" * 30)))
    qtbot.waitUntil(lambda: not window.data_panel.is_scanning(), timeout=30_000)
    QApplication.processEvents()
    assert not scroll.horizontalScrollBar().isVisible() and not scroll.verticalScrollBar().isVisible()
    assert clipped_buttons(window) == []

    # At 1024×700 Try the model is a tab of its own and no tab scrolls sideways.
    window.resize(1024, 700)
    qtbot.waitUntil(lambda: window.main_tabs.indexOf(window.predict_box) == 1, timeout=5_000)
    for tab in range(window.main_tabs.count()):
        window.main_tabs.setCurrentIndex(tab)
        QApplication.processEvents()
        assert scroll.horizontalScrollBar().maximum() == 0, window.main_tabs.tabText(tab)
    assert clipped_buttons(window) == []
    # Wide again, it is back beside the plots, and the window shows the tab that holds it.
    window.main_tabs.setCurrentIndex(1)
    window.resize(1600, 1000)
    qtbot.waitUntil(lambda: window.splitter.indexOf(window.predict_box) == 2, timeout=5_000)
    assert window.main_tabs.currentIndex() == 0 and window.predict_box.isVisible()
    # Smaller than even that: it degrades by scrolling, never by clipping.
    window.resize(640, 480)
    qtbot.waitUntil(lambda: window.width() == 640, timeout=5_000)
    assert clipped_buttons(window) == [] and scroll.horizontalScrollBar().isVisible()
    assert window.minimumWidth() <= 800 and window.minimumHeight() <= 550
    # Narrowed while another tab shows (the Train page hidden): still nothing sideways.
    window.resize(1600, 1000)
    qtbot.waitUntil(lambda: window.splitter.indexOf(window.predict_box) == 2, timeout=5_000)
    window.main_tabs.setCurrentWidget(window.runs_tab)
    QApplication.processEvents()
    window.resize(1024, 700)
    qtbot.waitUntil(lambda: window.main_tabs.indexOf(window.predict_box) >= 0, timeout=5_000)
    qtbot.waitUntil(lambda: scroll.horizontalScrollBar().maximum() == 0, timeout=5_000)


def test_the_log_wraps_long_lines(qtbot: QtBot, make_window) -> None:
    window = make_window(warm_up_now=False)
    log = window.run_panel.log_view
    for index in range(30):
        log.appendPlainText(f"line {index} " + "x" * 400)
    QApplication.processEvents()
    assert log.lineWrapMode() == log.LineWrapMode.WidgetWidth
    assert log.horizontalScrollBar().maximum() == 0  # nothing sideways to scroll to


def test_a_new_run_gives_the_plots_back_the_room_a_summary_took(
        qtbot: QtBot, make_window, demo_root: Path, tmp_path: Path) -> None:
    window = make_window()
    window.apply_config(tiny_config(demo_root, tmp_path / "out", n_epochs=1))
    wait_until_ready(qtbot, window)
    window.resize(1560, 940)
    qtbot.waitUntil(lambda: window.width() == 1560, timeout=5_000)
    total = sum(window.center_splitter.sizes())
    window.center_splitter.setSizes([int(0.4 * total), total - int(0.4 * total)])  # as after a summary
    with qtbot.waitSignal(window.run_ended, timeout=120_000):
        assert window.start_run()
        plots, panel = window.center_splitter.sizes()
        assert plots >= 0.55 * (plots + panel)
