"""The preset box at the top of the settings form, its ◆ marks, and the run
panel's early-stop counter."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QLineEdit
from pytestqt.qtbot import QtBot

from mlcls_gui.core.config import TrainConfig
from mlcls_gui.core.presets import apply_preset, changed_from_seed
from mlcls_gui.core.training.events import EpochEnd
from mlcls_gui.gui.settings.config_form import ConfigForm
from mlcls_gui.gui.settings.form_marks import PRESET_MARK
from mlcls_gui.gui.train.run_panel import patience_text
from mlcls_gui.gui.train.run_summary import summary_html


def make_form(qtbot: QtBot) -> ConfigForm:
    form = ConfigForm()
    qtbot.addWidget(form)
    return form


def choose(form: ConfigForm, name: str) -> None:
    combo = form.preset_combo
    combo.setCurrentIndex(combo.findData(name))
    combo.activated.emit(combo.currentIndex())


def test_choosing_a_preset_sets_and_marks_its_fields(qtbot: QtBot) -> None:
    form = make_form(qtbot)
    assert form.preset_combo.currentText() == "Recommended"  # the app's default
    choose(form, "seed")
    assert form.preset_combo.currentText() == "Seed script" and form.preset_marked_fields() == []
    choose(form, "recommended")
    config = form.config()
    assert config is not None
    assert config.to_dict() | {"save_model_folder": ""} == (
        apply_preset(TrainConfig(), "recommended").to_dict() | {"save_model_folder": ""})
    marked = set(form.preset_marked_fields())
    assert marked == set(changed_from_seed("recommended"))
    schedule_label = form._rows["lr_schedule"].label
    assert schedule_label.text().startswith(PRESET_MARK) and "Set by preset Recommended" in schedule_label.toolTip()
    assert not form._rows["batch_size"].label.text().startswith(PRESET_MARK)  # not a preset field
    assert "set by preset Recommended" in form.changed_label.text()


def test_editing_after_a_preset_keeps_working(qtbot: QtBot) -> None:
    form = make_form(qtbot)
    choose(form, "recommended")
    rate = form.editor("learning_rate")
    assert isinstance(rate, QLineEdit)
    rate.setText("0.0005")
    config = form.config()
    assert config is not None and config.learning_rate == 5e-4 and config.lr_schedule == "cosine"
    assert form.preset_combo.currentText() == "Custom"
    assert "learning_rate" not in form.preset_marked_fields() and "lr_schedule" in form.preset_marked_fields()
    assert not form._rows["learning_rate"].label.text().startswith(PRESET_MARK)
    schedule = form.editor("lr_schedule")
    assert isinstance(schedule, QComboBox)
    schedule.setCurrentIndex(schedule.findData("onecycle"))
    assert form.config().lr_schedule == "onecycle" and "lr_schedule" not in form.preset_marked_fields()
    choose(form, "seed")  # back to the seed script: every recipe field as today
    assert form.config().lr_schedule == "step" and form.preset_marked_fields() == []
    assert form.preset_combo.currentText() == "Seed script"


def test_loaded_settings_show_their_preset(qtbot: QtBot) -> None:
    form = make_form(qtbot)
    form.set_config(apply_preset(TrainConfig(n_epochs=30), "recommended"), baseline_source="x.json")
    assert form.preset_combo.currentText() == "Recommended"
    form.set_config(TrainConfig(loss="focal"), baseline_source="y.json")
    assert form.preset_combo.currentText() == "Custom" and form.preset_marked_fields() == []


def test_run_panel_counts_epochs_without_improvement() -> None:
    def epoch(waited: int, limit: int) -> EpochEnd:
        return EpochEnd(epoch=5, total_epochs=20, metrics={}, improved=waited == 0, best_epoch=3,
                        best_score=0.9, epochs_without_improvement=waited, early_stop_limit=limit)

    assert patience_text(epoch(2, 5)) == ", no improvement for 2 of 5 epochs"
    assert patience_text(epoch(0, 5)) == ""


def test_summary_names_the_kept_weights() -> None:
    summary = {"reason": "completed", "epochs_completed": 3, "best_epoch": 2, "monitor": "val_map",
               "best_val": {"val_map": 0.9}, "weights": "EMA weights"}
    assert "kept the <b>EMA weights</b>" in summary_html(summary, "", "")
    assert "kept the" not in summary_html({**summary, "weights": None}, "", "")
