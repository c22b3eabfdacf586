"""The Settings form's Architecture field is a searchable picker (issue 10): the
recommended choices on top, typing filters every architecture, each row gives
parameters, input size and pretrained weights (computed off the GUI thread),
and a loaded config's timm name is shown as it is."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from mlcls_gui.core.config import TrainConfig
from mlcls_gui.core.models import registry
from mlcls_gui.gui.settings.arch_picker import NAME_ROLE, PENDING, ArchPicker
from mlcls_gui.gui.settings.config_form import ConfigForm

TIMEOUT = 60_000


def shown_form(qtbot: QtBot) -> ConfigForm:
    form = ConfigForm()
    qtbot.addWidget(form)
    form.resize(460, 600)
    form.show()
    qtbot.waitExposed(form)
    return form


def list_rows(picker: ArchPicker) -> list[tuple[str, str]]:
    """(text, name or "") of each row of the picker's own list."""
    model = picker.model()
    return [(model.index(row, 0).data(), model.index(row, 0).data(NAME_ROLE) or "")
            for row in range(model.rowCount())]


def cells(picker: ArchPicker, name: str) -> list[str]:
    model = picker.model()
    row = picker.findData(name, NAME_ROLE)
    return [model.index(row, column).data() for column in range(1, 4)]


def wait_idle(qtbot: QtBot, picker: ArchPicker) -> None:
    qtbot.waitUntil(lambda: not picker.catalog.is_busy(), timeout=TIMEOUT)


def test_recommended_choices_come_first_and_figures_are_computed_off_the_gui_thread(
        qtbot: QtBot, monkeypatch: pytest.MonkeyPatch) -> None:
    on_gui_thread: list[bool] = []
    real_describe = registry.describe

    def describe(name: str) -> registry.ArchitectureInfo:
        on_gui_thread.append(threading.current_thread() is threading.main_thread())
        return real_describe(name)

    monkeypatch.setattr(registry, "describe", describe)
    form = shown_form(qtbot)
    picker = form.arch_picker()
    rows = list_rows(picker)
    expected: list[str] = []
    for group, names in registry.RECOMMENDED.items():
        expected += [f"Recommended: {group}", *names]
    assert [name or text for text, name in rows[:len(expected)]] == expected
    listed = {name for _text, name in rows if name}
    assert set(registry.BUILTIN_NAMES) <= listed
    # Names first: nothing has been described (or imported) yet.
    assert cells(picker, "resnet18") == [PENDING] * 3 and not on_gui_thread

    form.load_architectures()
    qtbot.waitUntil(lambda: picker.catalog.info("tiny_cnn") is not None
                    and picker.catalog.info("resnet18") is not None, timeout=TIMEOUT)
    wait_idle(qtbot, picker)
    assert on_gui_thread and not any(on_gui_thread)
    assert cells(picker, "resnet18") == ["11.2 M", "224 px", "yes"]
    assert cells(picker, "tiny_cnn")[2] == "no"
    note = form._rows["arch"].error.full_text()
    assert "11.2 M parameters" in note and "224 px input" in note and "pretrained weights available" in note
    form.set_field_value("image_size", 64)  # a run at another size: the note says which one it trains at
    note = form._rows["arch"].error.full_text()
    assert "made for 224 px, trains at 64 px" in note and "224 px input" not in note


def test_typing_filters_every_architecture_and_a_chosen_row_becomes_the_value(qtbot: QtBot) -> None:
    form = shown_form(qtbot)
    picker = form.arch_picker()
    form.activateWindow()
    picker.setFocus()
    qtbot.waitUntil(picker.hasFocus, timeout=5_000)
    QApplication.processEvents()  # the focus selects the name: typing replaces it
    qtbot.keyClicks(picker, "convnext")
    assert picker.currentText() == "convnext"
    assert picker.filter_popup().isVisible()
    qtbot.waitUntil(lambda: picker.catalog.names_ready() and len(picker.matches()) > 10, timeout=TIMEOUT)
    matches = picker.matches()
    assert all("convnext" in name for name in matches)
    assert matches[:2] == ["timm:convnext_nano", "timm:convnext_small"]  # the recommended ones first
    assert "timm:convnext_atto" in matches
    config = form.config()
    assert config is not None and config.arch == "resnet18"  # half-typed text is not a value

    popup = picker.filter_popup()
    row = matches.index("timm:convnext_atto")
    popup.setCurrentIndex(popup.model().index(row, 0))
    qtbot.keyClick(popup, Qt.Key.Key_Return)
    assert picker.value() == picker.currentText() == "timm:convnext_atto"
    config = form.config()
    assert config is not None and config.arch == "timm:convnext_atto"
    assert form.changed_fields() == ["arch"] and not form.errors()
    qtbot.waitUntil(lambda: "3.4 M parameters" in form._rows["arch"].error.full_text(), timeout=TIMEOUT)

    # A typed name that is no architecture: Enter makes it the value, marked red with the reason.
    picker.lineEdit().selectAll()
    qtbot.keyClicks(picker, "convnxt_tiny")
    assert popup.isVisible() and picker.matches() == []  # "No architecture matches"
    qtbot.keyClick(popup, Qt.Key.Key_Return)
    assert not popup.isVisible() and picker.value() == "convnxt_tiny"
    assert form.config() is None and "not a known architecture" in form.errors()["arch"]
    # Escape after typing puts the value back.
    picker.set_value("resnet34")
    picker.lineEdit().selectAll()
    qtbot.keyClicks(picker, "vit")
    if popup.isVisible():
        qtbot.keyClick(popup, Qt.Key.Key_Escape)
    qtbot.keyClick(picker, Qt.Key.Key_Escape)
    assert picker.currentText() == "resnet34" and form.config().arch == "resnet34"
    wait_idle(qtbot, picker)


def test_closing_the_filter_popup_stops_describing_its_rows(qtbot: QtBot) -> None:
    """Typing "vit" lists a hundred names; once the pop-up is gone the catalog
    describes the value, not every hidden row (each a model build)."""
    form = shown_form(qtbot)
    picker = form.arch_picker()
    form.activateWindow()
    picker.setFocus()
    qtbot.waitUntil(picker.hasFocus, timeout=5_000)
    QApplication.processEvents()
    qtbot.keyClicks(picker, "vit")
    qtbot.waitUntil(lambda: picker.catalog.names_ready() and len(picker.matches()) >= 90, timeout=TIMEOUT)
    qtbot.keyClick(picker.filter_popup(), Qt.Key.Key_Escape)
    qtbot.keyClick(picker, Qt.Key.Key_Escape)
    wait_idle(qtbot, picker)
    described = [name for name in picker.matches() if picker.catalog.info(name) is not None]
    assert len(described) < 30, len(described)
    assert picker.catalog.info(picker.value()) is not None


def test_a_loaded_timm_name_that_the_list_does_not_hold_is_shown(qtbot: QtBot, tmp_path: Path) -> None:
    form = shown_form(qtbot)
    picker = form.arch_picker()
    assert picker.findData("timm:resnet10t", NAME_ROLE) < 0
    path = tmp_path / "mine.json"
    dataclasses.replace(TrainConfig(), arch="timm:resnet10t", pretrained=False).save_json(path)
    assert form.load_from_file(str(path))
    assert picker.currentText() == "timm:resnet10t"
    config = form.config()
    assert config is not None and config.arch == "timm:resnet10t"
    assert form.changed_fields() == [] and not form.errors()
    # A listed name chosen afterwards, and back: the value follows.
    picker.setCurrentIndex(picker.findData("resnet50", NAME_ROLE))
    assert form.config().arch == "resnet50" and form.changed_fields() == ["arch"]
    form.set_config(dataclasses.replace(TrainConfig(), arch="timm:resnet10t", pretrained=False))
    assert picker.currentText() == "timm:resnet10t" and form.changed_fields() == []


def test_the_window_describes_the_architectures_once_torch_is_loaded(qtbot: QtBot, make_window) -> None:
    window = make_window()
    picker = window.config_form.arch_picker()
    qtbot.waitUntil(lambda: picker.catalog.info("resnet18") is not None, timeout=TIMEOUT)
    wait_idle(qtbot, picker)
    assert "11.2 M parameters" in window.config_form._rows["arch"].error.full_text()
    assert cells(picker, "timm:convnext_nano")[:2] == ["15.0 M", "224 px"]


def test_a_row_does_not_repeat_its_own_name_in_its_problem() -> None:
    from mlcls_gui.core.errors import ModelError
    from mlcls_gui.gui.settings.arch_picker import row_cells

    name = "timm:crossvit_9_240"
    with pytest.raises(ModelError) as raised:
        registry.describe(name)
    assert str(raised.value).startswith(name)
    note = row_cells(name, str(raised.value).splitlines()[0])[3]
    assert note.startswith("Has two classifier heads") and "crossvit" not in note
    info = registry.ArchitectureInfo(name="timm:x", family="timm", input_size=224, has_pretrained=False,
                                     parameters=0, problem="x: its head is not a Linear layer")
    assert row_cells("timm:x", info)[3] == "Its head is not a Linear layer"
    other = dataclasses.replace(info, problem="Needs timm 1.0 or newer")
    assert row_cells("timm:x", other)[3] == "Needs timm 1.0 or newer"
