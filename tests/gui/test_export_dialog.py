"""File → Export model… (issue 10): the export runs off the GUI thread and says
where the file went and how closely it matches PyTorch, or why it failed."""

from __future__ import annotations

import html
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QDialogButtonBox
from pytestqt.qtbot import QtBot

from mlcls_gui.core.inference import export
from mlcls_gui.core.ops import export as ops_export
from mlcls_gui.gui import export_dialog
from mlcls_gui.gui.export_dialog import INSTALL_COMMAND, ExportDialog
from mlcls_gui.gui.widgets import dialogs

from .tiny_model import train_tiny_cnn

TIMEOUT = 120_000


@pytest.fixture(scope="module")
def tiny_model(demo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny_cnn(demo_root, tmp_path_factory.mktemp("export-model"))


def shown_dialog(qtbot: QtBot, model: str) -> ExportDialog:
    dialog = ExportDialog(model)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_onnx_export_runs_in_the_background_and_shows_the_parity_figure(
        qtbot: QtBot, tiny_model: Path, tmp_path: Path) -> None:
    dialog = shown_dialog(qtbot, str(tiny_model))
    assert dialog.format() == "onnx"
    assert dialog.output_field.path() == str(tiny_model.with_name("final_model.onnx"))
    out = tmp_path / "shipped.onnx"
    dialog.output_field.set_path(str(out))

    # The GUI thread keeps running its timers while the export works.
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(20)
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start()
    with qtbot.waitSignal(dialog.export_finished, timeout=TIMEOUT) as finished:
        assert dialog.start_export()
        assert dialog.is_busy() and dialog.busy_bar.isVisible()
        assert not dialog.buttons.button(QDialogButtonBox.StandardButton.Close).isEnabled()
        dialog.reject()  # Escape / Close while it runs: the dialog stays
        assert dialog.isVisible()
    timer.stop()
    qtbot.waitUntil(lambda: not dialog.is_busy(), timeout=TIMEOUT)
    assert finished.args == [True]
    assert len(ticks) >= 5, "the GUI thread was blocked during the export"
    assert out.is_file() and out.with_name("shipped.onnx.json").is_file()
    text = dialog.result_label.text()
    assert str(out) in text
    assert f"{dialog.result.max_abs_difference:.2e}" in text and dialog.result.max_abs_difference <= 1e-4
    assert not dialog.busy_bar.isVisible() and dialog.export_button.isEnabled()

    # Exporting again onto the same file asks first; "no" leaves the file alone.
    asked: list[str] = []
    dialog.confirm_replace = lambda path: asked.append(path) or False  # type: ignore[method-assign]
    before = out.stat().st_mtime_ns
    assert not dialog.start_export() and asked == [str(out)] and not dialog.is_busy()
    assert out.stat().st_mtime_ns == before


def test_a_failed_export_shows_one_line_and_writes_nothing(qtbot: QtBot, tmp_path: Path) -> None:
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a model at all")
    dialog = shown_dialog(qtbot, str(broken))
    dialog.set_format("torchscript")
    assert dialog.output_field.path().endswith("broken.torchscript.pt")
    with qtbot.waitSignal(dialog.export_finished, timeout=TIMEOUT) as finished:
        assert dialog.start_export()
    qtbot.waitUntil(lambda: not dialog.is_busy(), timeout=TIMEOUT)
    assert finished.args == [False]
    text = dialog.result_label.text()
    assert text.startswith("Export failed:") and "broken.pt" in text
    assert "Traceback" not in text and "\n" not in text
    assert "c62828" in dialog.result_label.styleSheet()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.pt"]


def test_missing_onnx_packages_say_how_to_install_them(qtbot: QtBot, tiny_model: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = export_dialog.importlib.util.find_spec
    monkeypatch.setattr(export_dialog.importlib.util, "find_spec",
                        lambda name, *a: None if name == "onnxruntime" else real_find_spec(name, *a))
    dialog = shown_dialog(qtbot, str(tiny_model))
    assert dialog.requirement_label.isVisible()
    assert "onnxruntime" in dialog.requirement_label.text()
    assert INSTALL_COMMAND in html.unescape(dialog.requirement_label.text())
    assert not dialog.export_button.isEnabled() and not dialog.start_export()
    assert INSTALL_COMMAND in html.unescape(dialog.result_label.text())
    dialog.set_format("torchscript")  # needs nothing extra
    assert not dialog.requirement_label.isVisible() and dialog.export_button.isEnabled()


def test_the_dialogs_file_names_are_the_cores() -> None:
    for format in export.FORMATS:
        assert export_dialog.default_output("/m/final_model.pt", format) == str(
            export.default_output("/m/final_model.pt", format))
    assert export_dialog.default_output("", "onnx") == ""
    assert [choice[0] for choice in export_dialog.FORMAT_CHOICES] == list(export.FORMATS)
    # The names come from the core (through core.ops.export), not from a table of the dialog's.
    assert export_dialog.default_output is ops_export.default_output
    assert export_dialog.written_files is ops_export.written_files


def test_file_menu_export_opens_with_the_predict_panels_model(
        qtbot: QtBot, make_window, tiny_model: Path) -> None:
    window = make_window(warm_up_now=False)
    with qtbot.waitSignal(window.predict_panel.model_loaded, timeout=TIMEOUT):
        window.predict_panel.set_model_file(str(tiny_model))
    qtbot.waitUntil(lambda: not window.predict_panel.is_busy(), timeout=TIMEOUT)
    menu = window.menuBar().actions()[0].menu()
    action = next(a for a in menu.actions() if a.text() == "Export model…")
    action.trigger()
    dialog = window.export_dialog
    assert isinstance(dialog, ExportDialog) and dialog.isVisible()
    assert dialog.model_field.path() == str(tiny_model)
    assert dialog.output_field.path() == str(tiny_model.with_name("final_model.onnx"))
    dialog.set_format("torchscript")
    with qtbot.waitSignal(dialog.export_finished, timeout=TIMEOUT):
        dialog.start_export()
    qtbot.waitUntil(lambda: not dialog.is_busy(), timeout=TIMEOUT)
    assert tiny_model.with_name("final_model.torchscript.pt").is_file()
    dialog.close()
    QApplication.processEvents()


def test_replacing_a_runs_file_says_what_it_is_and_a_symlink_is_refused(
        qtbot: QtBot, tiny_model: Path, tmp_path: Path, monkeypatch) -> None:
    """The sidecar of '--out run/config' would be the run's config.json: the
    dialog asks, naming it as the run's, and stops when the user says no."""
    dialog = shown_dialog(qtbot, str(tiny_model))
    asked: list[str] = []

    def answer(_parent, _title, text, *_args):
        asked.append(text)
        return dialogs.QMessageBox.StandardButton.Cancel

    monkeypatch.setattr(dialogs.QMessageBox, "question", answer)
    config = tiny_model.parent / "config.json"
    before = config.read_bytes()
    dialog.output_field.set_path(str(tiny_model.parent / "config"))
    assert not dialog.start_export()
    assert len(asked) == 1 and "belongs to the training run" in asked[0]
    assert config.read_bytes() == before
    link = tmp_path / "link.onnx"
    link.symlink_to(tmp_path / "elsewhere.onnx")
    dialog.output_field.set_path(str(link))
    assert not dialog.start_export()
    assert "symbolic link" in dialog.result_label.text() and not (tmp_path / "elsewhere.onnx").exists()
