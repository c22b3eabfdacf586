"""The Settings form never changes what the user did not touch, and says what differs.

Issue 15: the mouse wheel over a combo box changed Architecture while the
user scrolled the form; an inline error moved the fields below it; messages
named config fields instead of the form's labels; the default output folder
was relative to the process's working directory.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QComboBox, QLineEdit, QWidget
from pytestqt.qtbot import QtBot

from mlcls_gui.core.config import TrainConfig
from mlcls_gui.core.errors import ConfigError, field_ref
from mlcls_gui.core.models.architectures.base import download_failed
from mlcls_gui.core.presets import app_defaults
from mlcls_gui.core.runs.outputs import resolve_output_folder
from mlcls_gui.gui.settings.config_form import ConfigForm
from mlcls_gui.gui.widgets.field_labels import with_form_labels


def wheel(widget: QWidget, notches: int = -1) -> QWheelEvent:
    """One wheel notch (down) over the middle of ``widget``; returns the event."""
    centre = QPointF(widget.rect().center())
    event = QWheelEvent(centre, QPointF(widget.mapToGlobal(centre.toPoint())), QPoint(0, 0),
                        QPoint(0, 120 * notches), Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)
    return event


def shown_form(qtbot: QtBot) -> ConfigForm:
    form = ConfigForm()
    qtbot.addWidget(form)
    form.resize(420, 500)
    form.show()
    qtbot.waitExposed(form)
    return form


def test_the_wheel_changes_a_combo_box_only_when_it_has_the_focus(qtbot: QtBot) -> None:
    form = shown_form(qtbot)
    for name in ("arch", "monitor", "device"):
        combo = form.editor(name)
        assert isinstance(combo, QComboBox)
        assert combo.focusPolicy() == Qt.FocusPolicy.StrongFocus  # the wheel does not focus it
        before = combo.currentIndex()
        event = wheel(combo)
        assert combo.currentIndex() == before, name
        # Left unaccepted: a real wheel event goes on to the scroll area, which scrolls.
        assert not event.isAccepted()
    assert form.config() == dataclasses.replace(
        app_defaults(), images_root="", save_model_folder=resolve_output_folder("mlcls_output", ""))
    assert form.changed_fields() == []

    combo = form.editor("arch")
    form.activateWindow()
    combo.setFocus()
    qtbot.waitUntil(combo.hasFocus, timeout=5_000)
    wheel(combo)
    assert combo.currentText() != "resnet18"  # focused: the wheel is the user's choice


def test_fields_that_differ_from_the_defaults_are_marked(qtbot: QtBot, tmp_path: Path) -> None:
    form = shown_form(qtbot)
    label = form._rows["arch"].label
    assert not label.text().startswith("●")
    combo = form.editor("arch")
    combo.setCurrentIndex(combo.findData("resnet34"))
    assert form.changed_fields() == ["arch"]
    assert label.text() == "● Architecture" and "0d47a1" in label.styleSheet()
    assert "Differs from the defaults" in label.toolTip() and "resnet18" in label.toolTip()
    assert "1 setting(s) that differ from the defaults" in form.changed_label.text()
    combo.setCurrentIndex(combo.findData("resnet18"))
    assert form.changed_fields() == [] and label.text() == "Architecture"

    # Loaded settings become what the marks compare against.
    path = tmp_path / "mine.json"
    dataclasses.replace(TrainConfig(), arch="resnet50", n_epochs=30).save_json(path)
    assert form.load_from_file(str(path))
    assert form.changed_fields() == []
    form.editor("n_epochs").setText("31")
    assert form.changed_fields() == ["n_epochs"]
    assert "differ from mine.json" in form.changed_label.text()


def test_an_inline_error_does_not_move_the_fields_below(qtbot: QtBot) -> None:
    form = shown_form(qtbot)
    form.all_settings_check.setChecked(True)  # else the error's own reveal of all settings moves them
    names = ["batch_size", "learning_rate", "weight_decay", "n_epochs", "monitor", "lr_step"]
    content = form.scroll.widget()

    def positions() -> list[int]:
        QApplication.processEvents()
        return [form.editor(n).mapTo(content, QPoint(0, 0)).y() for n in names]

    before = positions()
    batch = form.editor("batch_size")
    assert isinstance(batch, QLineEdit)
    batch.setText("sixteen")  # a long message appears under it
    assert "not valid" in form._rows["batch_size"].error.full_text()
    assert positions() == before
    batch.setText("16")
    assert positions() == before
    # The cross-field message sits below the scroll area: the form does not move either.
    top = form.editor("val_fraction").mapTo(form, QPoint(0, 0)).y()
    form.editor("val_fraction").setText("0.6")
    form.editor("test_fraction").setText("0.6")
    QApplication.processEvents()
    assert form.form_error.isVisible()
    assert form.editor("val_fraction").mapTo(form, QPoint(0, 0)).y() == top


def test_messages_name_the_forms_labels() -> None:
    offline = download_failed("resnet18", "no internet")
    assert str(offline).endswith("set `weights_file` to a local weights file (.pth) for this architecture, "
                                 "or set `pretrained=false` to train from random weights.")
    assert offline.field == "weights_file"
    assert with_form_labels(str(offline)).endswith(
        "set “Weights file” to a local weights file (.pth) for this architecture, "
        "or set “ImageNet weights” off to train from random weights.")
    with pytest.raises(ConfigError) as info:
        TrainConfig(learning_rate=0)
    assert info.value.field == "learning_rate"
    assert with_form_labels(str(info.value)).startswith("“Learning rate”: 0 is out of range")
    assert with_form_labels(f"{field_ref('batch_size', 12)} now") == "“Batch size” = 12 now"
    # Only marked settings change: words that are also field names, and marks of unknown names, stay.
    assert with_form_labels("The seed and the device threshold.") == "The seed and the device threshold."
    assert with_form_labels("`not_a_field=3`") == "`not_a_field=3`"


def test_the_output_folder_is_never_relative_to_the_working_directory(
        qtbot: QtBot, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # wherever the process happens to run
    form = shown_form(qtbot)
    form.set_images_root("/data/photos")
    form.editor("save_model_folder").setText("runs/first")
    assert form.config().save_model_folder == "/data/runs/first"  # beside the data folder
    assert form._rows["save_model_folder"].error.full_text() == "→ /data/runs/first"
    form.set_images_root("")
    assert form.config().save_model_folder == str(Path.home() / "runs" / "first")
    form.editor("save_model_folder").setText(str(tmp_path / "abs"))
    assert form.config().save_model_folder == str(tmp_path / "abs")
    assert form._rows["save_model_folder"].error.full_text() == ""


def test_spin_and_combo_boxes_in_the_panels_ignore_the_wheel_unfocused(qtbot: QtBot) -> None:
    from mlcls_gui.gui.evaluate.evaluate_panel import EvaluatePanel
    from mlcls_gui.gui.predict.predict_panel import PredictPanel

    predict, evaluate = PredictPanel(), EvaluatePanel()
    for panel in (predict, evaluate):
        qtbot.addWidget(panel)
        panel.show()
    spin = predict.threshold_spin
    assert spin.focusPolicy() == Qt.FocusPolicy.StrongFocus
    wheel(spin, notches=1)
    assert spin.value() == 0.5
    combo = evaluate.split_combo
    before = combo.currentIndex()
    wheel(combo)
    assert combo.currentIndex() == before
