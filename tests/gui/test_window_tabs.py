"""The Evaluate, Batch predict and Audit tabs are wired into the main window."""

from __future__ import annotations

from pathlib import Path

from pytestqt.qtbot import QtBot

from .conftest import tiny_config, wait_until_ready

RUN_TIMEOUT = 90_000


def test_finished_run_feeds_evaluate_and_batch_tabs(qtbot: QtBot, make_window, demo_root: Path,
                                                    tmp_path: Path) -> None:
    window = make_window()
    output = tmp_path / "out"
    window.apply_config(tiny_config(demo_root, output, n_epochs=1))
    wait_until_ready(qtbot, window)
    with qtbot.waitSignal(window.run_ended, timeout=RUN_TIMEOUT):
        assert window.start_run()
    final_model = str(output / "final_model.pt")
    qtbot.waitUntil(window.predict_panel.has_model, timeout=30_000)
    qtbot.waitUntil(lambda: not window.predict_panel.is_busy(), timeout=30_000)
    panel = window.evaluate_panel
    assert panel.split() == "test"
    window.main_tabs.setCurrentWidget(panel)
    with qtbot.waitSignal(panel.evaluation_finished, timeout=60_000) as done:
        assert panel.start_evaluation()
    assert done.args == ["done"]
    report = panel.report()
    assert report.source["model"] == final_model and len(report.images) == 9  # the test split
    assert window.batch_predict_panel.model_field.path() == final_model

    # A thumbnail's "open in Predict" lands in Try the model, in view: beside the plots,
    # or its own tab when the window is narrow.
    image = report.images[0].path
    with qtbot.waitSignal(window.predict_panel.predictions_shown, timeout=30_000):
        panel.open_image_requested.emit(image)
    assert window.predict_panel.isVisible()


def test_audit_runs_when_its_tab_is_shown(qtbot: QtBot, make_window, demo_root: Path) -> None:
    window = make_window()
    window.data_panel.set_root(str(demo_root))
    qtbot.waitUntil(lambda: window.data_panel.summary() is not None, timeout=30_000)
    assert window.audit_view.audit() is None  # not audited while hidden
    with qtbot.waitSignal(window.audit_view.audit_finished, timeout=30_000):
        window.left_tabs.setCurrentWidget(window.audit_view)
    audit = window.audit_view.audit()
    assert audit is not None and list(audit.labels) == ["circle", "cross", "square", "triangle"]
    assert window.audit_view.heatmap_values().shape == (4, 4)


def test_the_last_model_is_reopened_in_the_next_session(qtbot: QtBot, make_window,
                                                         trained_model: Path) -> None:
    first = make_window("shared.ini")
    first.predict_panel.set_model_file(str(trained_model))
    qtbot.waitUntil(first.predict_panel.has_model, timeout=30_000)
    first.close()
    second = make_window("shared.ini")
    qtbot.waitUntil(second.predict_panel.has_model, timeout=30_000)
    assert second.predict_panel.model_path() == str(trained_model)
    qtbot.waitUntil(lambda: not second.predict_panel.is_busy(), timeout=30_000)


def test_the_learning_rate_finder_opens_from_the_form_and_its_suggestion_is_applied(
        qtbot: QtBot, make_window, demo_root: Path, tmp_path: Path) -> None:
    from PySide6.QtWidgets import QPushButton

    window = make_window()
    find = window.config_form.findChild(QPushButton, "lr_find_button")
    window.apply_config(tiny_config(demo_root, tmp_path / "out", arch="tiny_cnn"))
    window.config_form.apply_preset("recommended")  # its fields are marked ◆
    wait_until_ready(qtbot, window)
    find.click()
    dialog = window.lr_finder.dialog
    assert dialog is not None
    with qtbot.waitSignal(dialog.test_finished, timeout=60_000) as finished:
        pass
    assert finished.args[0] in ("completed", "diverged")
    suggestion = dialog.suggestion()
    assert suggestion is not None
    marked = window.config_form.preset_marked_fields()
    assert "learning_rate" in marked and len(marked) > 3
    dialog.apply_button.click()
    applied = window.config_form.config().learning_rate
    assert dialog.apply_button.text() == f"Apply {applied:g}"  # exactly the value shown
    assert applied == suggestion and applied != 1e-4  # the default would not show a change
    # As if typed: the other fields set by the preset keep their marks.
    assert window.config_form.preset_marked_fields() == [name for name in marked if name != "learning_rate"]
    assert not (tmp_path / "out").exists()  # the test never touches the output folder


def test_the_learning_rate_finder_says_what_is_missing_instead_of_opening(qtbot: QtBot, make_window) -> None:
    window = make_window()
    window.config_form.lr_find_requested.emit()
    assert window.lr_finder.dialog is None
    assert "data folder" in window.statusBar().currentMessage().lower()


def test_the_review_tab_follows_the_data_folder_and_is_locked_while_training(
        qtbot: QtBot, make_window, demo_root: Path, tmp_path: Path) -> None:
    window = make_window()
    window.apply_config(tiny_config(demo_root, tmp_path / "out", arch="tiny_cnn", n_epochs=1))
    wait_until_ready(qtbot, window)
    review = window.review_tab
    assert review.data_root() == str(demo_root)
    with qtbot.waitSignal(window.run_ended, timeout=RUN_TIMEOUT):
        assert window.start_run()
        assert review._locked and not review.undo_button.isEnabled()
        assert "training run" in review.apply_button.toolTip()
    assert not review._locked
    # The run's final model reaches Predict, and from there the Review tab.
    qtbot.waitUntil(lambda: review._model.endswith("final_model.pt"), timeout=30_000)


def test_a_model_opened_while_evaluate_is_busy_reaches_it_when_it_finishes(
        qtbot: QtBot, make_window, monkeypatch, tmp_path: Path) -> None:
    window = make_window()
    evaluate, batch = window.evaluate_panel, window.batch_predict_panel
    evaluate.set_model_path(str(tmp_path / "earlier.pt"))
    busy = {"evaluate": True}
    monkeypatch.setattr(evaluate, "is_busy", lambda: busy["evaluate"])
    window.predict_panel.model_loaded.emit(str(tmp_path / "model.onnx"))
    # Batch predict was idle: it has the new model; Evaluate keeps its own until it is done.
    assert batch.model_field.path() == str(tmp_path / "model.onnx")
    assert evaluate.model_field.path() == str(tmp_path / "earlier.pt")
    busy["evaluate"] = False
    evaluate.evaluation_finished.emit("done")
    assert evaluate.model_field.path() == str(tmp_path / "model.onnx")
    # Passed on once: a later evaluation keeps what the user chose since.
    evaluate.set_model_path(str(tmp_path / "chosen.pt"))
    evaluate.evaluation_finished.emit("done")
    assert evaluate.model_field.path() == str(tmp_path / "chosen.pt")
