"""The generated settings form: round trip, inline validation, reset, files, devices."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from PySide6.QtWidgets import QCheckBox, QComboBox, QLineEdit, QMessageBox, QPushButton
from pytestqt.qtbot import QtBot

from mlcls_gui.core.config import GROUPS, TrainConfig, field_spec
from mlcls_gui.core.device_choices import DeviceChoice
from mlcls_gui.core.presets import app_defaults
from mlcls_gui.gui.settings.config_form import ConfigForm

CUSTOM = TrainConfig(
    images_root="/data/photos", val_fraction=0.2, test_fraction=0.1, seed=7, image_size=96,
    rotation_degrees=5.5, horizontal_flip=False, arch="mobilenet_v3_small", pretrained=False,
    freeze_extractor=True, threshold=0.4, batch_size=32, learning_rate=3e-4, optimizer="adam",
    weight_decay=0.01, n_epochs=20, early_stop_epoch_limit=5, monitor="val_map", lr_step=4,
    lr_decrease=0.5, save_model_folder="/tmp/out", final_model_name="model.pt", device="cpu",
    num_workers=2,
)


def make_form(qtbot: QtBot) -> ConfigForm:
    form = ConfigForm()
    qtbot.addWidget(form)
    return form


def type_into(form: ConfigForm, name: str, text: str) -> None:
    editor = form.editor(name)
    assert isinstance(editor, QLineEdit)
    editor.setText(text)


def test_form_round_trips_a_config(qtbot: QtBot) -> None:
    form = make_form(qtbot)
    # The relative default output folder comes back resolved (never the working directory).
    # A new form holds the app's defaults: the Recommended preset (Seed script is one click away).
    assert form.config() == dataclasses.replace(
        app_defaults(), images_root="", save_model_folder=str(Path.home() / "mlcls_output"))
    assert form.preset_combo.currentText() == "Recommended"
    form.set_config(CUSTOM)
    assert form.config() == CUSTOM
    assert isinstance(form.editor("arch"), QComboBox) and form.editor("arch").currentText() == "mobilenet_v3_small"
    assert isinstance(form.editor("horizontal_flip"), QCheckBox) and not form.editor("horizontal_flip").isChecked()


def test_edits_reach_the_config(qtbot: QtBot) -> None:
    form = make_form(qtbot)
    type_into(form, "learning_rate", "0.002")
    form.editor("pretrained").setChecked(False)
    combo = form.editor("optimizer")
    combo.setCurrentIndex(combo.findData("adam"))
    assert combo.currentText() == "Adam (L2 in the gradient, the seed's)"  # readable; the config keeps "adam"
    config = form.config()
    assert config is not None
    assert (config.learning_rate, config.pretrained, config.optimizer) == (0.002, False, "adam")


def test_invalid_values_are_marked_inline_and_block_the_config(qtbot: QtBot) -> None:
    form = make_form(qtbot)
    form.show()
    type_into(form, "batch_size", "sixteen")
    row = form._rows["batch_size"]
    assert not form.is_valid() and form.config() is None
    assert row.error.isVisible() and "'sixteen' is not valid" in row.error.full_text()
    assert "red" in row.editor.styleSheet() or "#d32f2f" in row.editor.styleSheet()
    type_into(form, "batch_size", "0")
    assert "out of range" in row.error.full_text()
    type_into(form, "learning_rate", "0")  # exclusive minimum
    assert "learning_rate" in form.errors()
    type_into(form, "batch_size", "8")
    type_into(form, "learning_rate", "0.01")
    assert form.is_valid() and row.error.full_text() == "" and row.editor.styleSheet() == ""
    assert form.config() is not None and form.config().batch_size == 8


def test_cross_field_rule_is_shown(qtbot: QtBot) -> None:
    form = make_form(qtbot)
    form.show()
    type_into(form, "val_fraction", "0.5")
    type_into(form, "test_fraction", "0.5")
    assert form.config() is None
    # Named by the form's labels, not the config fields.
    assert form.form_error.isVisible() and "“Validation share” + “Test share”" in form.form_error.text()
    # Both settings the message names are marked, and unmarked once it is fixed through one of them.
    marked = [name for name in ("val_fraction", "test_fraction", "batch_size") if form.editor(name).styleSheet()]
    assert marked == ["val_fraction", "test_fraction"]
    type_into(form, "test_fraction", "0.1")
    assert form.config() is not None and not form.form_error.isVisible()
    assert not form.editor("val_fraction").styleSheet() and not form.editor("test_fraction").styleSheet()


def test_the_form_opens_on_the_essentials_and_shows_all_settings_on_request(qtbot: QtBot) -> None:
    form = make_form(qtbot)
    form.show()
    essentials = ["arch", "pretrained", "weights_file", "image_size", "n_epochs", "time_budget_minutes",
                  "save_model_folder"]
    shown = [name for name, row in form._rows.items() if row.editor.isVisible()]
    assert shown == [name for name in form._rows if name in essentials]
    assert not form.group_boxes["Performance"].isVisible() and form.preset_box.isVisible()
    form.all_settings_check.setChecked(True)
    assert all(row.editor.isVisible() for row in form._rows.values())
    form.all_settings_check.setChecked(False)
    # A setting marked red is never out of sight: its error shows all settings.
    form.editor("batch_size").setText("sixteen")
    assert form.all_settings_check.isChecked() and form.editor("batch_size").isVisible()


def test_settings_that_do_not_apply_are_disabled_with_the_reason(qtbot: QtBot) -> None:
    form = make_form(qtbot)
    form.set_config(TrainConfig(loss="bce", lr_schedule="step", early_stop_share=0.25))
    asl, step, warmup = form.editor("asl_gamma_neg"), form.editor("lr_step"), form.editor("warmup_epochs")
    assert not asl.isEnabled() and step.isEnabled() and not warmup.isEnabled()
    assert not form.editor("early_stop_epoch_limit").isEnabled()  # the share replaces it
    form.editor("pretrained").setChecked(False)
    browse = form._rows["weights_file"].row_widget.findChild(QPushButton)
    assert not form.editor("weights_file").isEnabled() and browse is not None and not browse.isEnabled()
    assert "Not used now" in asl.toolTip() and "“Loss” = Asymmetric loss (ASL)" in asl.toolTip()
    loss = form.editor("loss")
    loss.setCurrentIndex(loss.findData("asl"))
    assert asl.isEnabled() and "Not used now" not in asl.toolTip()
    schedule = form.editor("lr_schedule")
    schedule.setCurrentIndex(schedule.findData("cosine"))
    assert schedule.currentText() == "Cosine with warmup"
    assert not step.isEnabled() and warmup.isEnabled()
    config = form.config()
    assert config is not None and (config.loss, config.lr_schedule) == ("asl", "cosine")


def test_plain_file_names_are_enforced(qtbot: QtBot) -> None:
    form = make_form(qtbot)
    type_into(form, "final_model_name", "sub/model.pt")
    assert "final_model_name" in form.errors()


def test_groups_follow_the_config_groups_and_tooltips_carry_help(qtbot: QtBot) -> None:
    form = make_form(qtbot)
    assert list(form.group_boxes) == list(GROUPS)
    assert field_spec("weight_decay").help in form.editor("weight_decay").toolTip().replace("&#x27;", "'")
    arch_box = form.group_boxes[field_spec("arch").group]
    assert arch_box.isAncestorOf(form.editor("arch"))


def test_reset_restores_defaults_but_keeps_the_data_folder(qtbot: QtBot) -> None:
    form = make_form(qtbot)
    form.set_config(CUSTOM)
    type_into(form, "batch_size", "abc")
    asked: list[list[str]] = []
    form.confirm_reset = lambda changed, choice: (asked.append(changed), False)[1]  # "Cancel"
    assert list(form.reset_choices()) == ["Seed script", "Recommended (the defaults)"]
    assert not form.reset_to("Recommended (the defaults)")
    assert asked and "batch_size" in asked[0] and "arch" in asked[0]
    assert form.editor("batch_size").text() == "abc"  # declined: nothing changed
    form.confirm_reset = lambda changed, choice: True  # "Reset"
    with qtbot.waitSignal(form.reset_done) as done:
        assert form.reset_to("Recommended (the defaults)")
    assert done.args == ["Recommended (the defaults)"]
    # The default output folder resolves next to the data folder, shown absolute.
    assert form.config() == dataclasses.replace(
        app_defaults(), images_root=CUSTOM.images_root, save_model_folder="/data/mlcls_output")
    assert form._rows["save_model_folder"].error.full_text() == "→ /data/mlcls_output"
    # The seed script's defaults are one choice away; the menu lists every choice.
    assert form.reset_to("Seed script")
    assert form.config() == dataclasses.replace(
        TrainConfig(), images_root=CUSTOM.images_root, save_model_folder="/data/mlcls_output")
    form.reset_menu.aboutToShow.emit()
    assert [action.text() for action in form.reset_menu.actions()] == list(form.reset_choices())


def test_reset_offers_the_settings_the_form_started_from(qtbot: QtBot) -> None:
    form = make_form(qtbot)
    form.set_config(CUSTOM, baseline_source="the demo settings")
    type_into(form, "batch_size", "64")
    assert list(form.reset_choices()) == ["Seed script", "Recommended (the defaults)", "the demo settings"]
    form.confirm_reset = lambda changed, choice: changed == ["batch_size"]
    assert form.reset_to("the demo settings") and form.config() == CUSTOM


def test_save_and_load_json(qtbot: QtBot, tmp_path: Path) -> None:
    form = make_form(qtbot)
    form.set_config(CUSTOM)
    path = tmp_path / "settings.json"
    assert form.save_to_file(str(path))
    other = make_form(qtbot)
    with qtbot.waitSignal(other.config_loaded):
        assert other.load_from_file(str(path))
    assert other.config() == CUSTOM


def test_loading_a_bad_file_shows_an_error_and_keeps_the_form(qtbot: QtBot, tmp_path: Path) -> None:
    form = make_form(qtbot)
    form.set_config(CUSTOM)
    bad = tmp_path / "bad.json"
    bad.write_text('{"batch_size": -3}', encoding="utf-8")
    assert not form.load_from_file(str(bad))
    boxes = [b for b in form.findChildren(QMessageBox) if b.isVisible()]
    assert boxes and "“Batch size”: -3 is out of range" in boxes[0].text()  # the form's label
    assert form.config() == CUSTOM
    for box in boxes:
        box.close()


def test_saving_is_refused_while_invalid(qtbot: QtBot, tmp_path: Path) -> None:
    form = make_form(qtbot)
    type_into(form, "n_epochs", "-1")
    path = tmp_path / "x.json"
    assert not form.save_to_file(str(path))
    assert not path.exists()
    for box in form.findChildren(QMessageBox):
        box.close()


def test_device_choice_writes_the_device_field(qtbot: QtBot) -> None:
    form = make_form(qtbot)
    form.set_device_choices([
        DeviceChoice("auto", "auto"), DeviceChoice("cpu", "cpu — CPU"),
        DeviceChoice("cuda:0", "cuda:0 — Test GPU (10.0 / 24.0 GiB free)"),
    ])
    combo = form.editor("device")
    combo.setCurrentIndex(combo.findData("cuda:0"))
    assert form.config().device == "cuda:0"
    # A config from another machine names a device this one lacks: shown, flagged, not lost.
    form.set_config(dataclasses.replace(TrainConfig(), device="cuda:3"))
    assert form.config().device == "cuda:3"
    assert "not available" in form._rows["device"].error.full_text().lower()


def test_locking_disables_the_editors(qtbot: QtBot) -> None:
    form = make_form(qtbot)
    form.set_locked(True)
    assert not form.editor("batch_size").isEnabled()
    form.set_locked(False)
    assert form.editor("batch_size").isEnabled()


def test_device_list_names_gpus_memory_and_mixed_precision() -> None:
    from mlcls_gui.core.device_choices import device_choices_from
    from mlcls_gui.core.devices import DeviceInfo

    gib = 1024**3
    infos = [DeviceInfo("cpu", "CPU"), DeviceInfo("cuda:0", "Test GPU", 24 * gib, 10 * gib, True)]
    choices = device_choices_from(infos, {"cpu": "off", "cuda:0": "bf16"})
    assert [c.id for c in choices] == ["auto", "cpu", "cuda:0"]
    assert choices[1].text == "cpu — CPU · float32"
    assert "Test GPU" in choices[2].text and "10.0 / 24.0 GiB free" in choices[2].text
    assert choices[2].text.endswith("bf16 mixed precision")


def test_the_marks_line_counts_what_it_marks_and_says_which_are_hidden(qtbot: QtBot) -> None:
    form = make_form(qtbot)
    marked = form.preset_marked_fields()
    text = form.changed_label.text()
    assert f"marks the {len(marked)} setting(s) set by preset Recommended ({len(marked)} of them under All settings)" \
        in text and "All settings as in" in text  # ◆ only: no ● counted for them
    type_into(form, "n_epochs", "12")  # an essential field
    text = form.changed_label.text()
    assert "marks the 1 setting(s) that differ" in text and "differ from the defaults." in text
    form.all_settings_check.setChecked(True)
    assert "under All settings" not in form.changed_label.text()
