"""--demo: the demo set is generated once into the app-data folder and selected."""

from __future__ import annotations

import sys
from pathlib import Path

from pytestqt.qtbot import QtBot

from mlcls_gui.core.config import demo_config
from mlcls_gui.gui.main_window import DEMO_DATA_FOLDER, DEMO_MARKER, DEMO_OUTPUT_FOLDER, app_data_dir

from .conftest import wait_until_ready


def test_demo_is_generated_once_selected_and_ready(qtbot: QtBot, make_window, tmp_path: Path) -> None:
    base = app_data_dir()
    assert str(base).startswith(str(tmp_path))  # isolated by the conftest
    window = make_window()
    with qtbot.waitSignal(window.demo_ready, timeout=60_000):
        window.prepare_demo()
    data = base / DEMO_DATA_FOLDER
    assert (data / DEMO_MARKER).is_file()
    assert window.config_form.config() == demo_config(data, base / DEMO_OUTPUT_FOLDER)
    assert window.data_panel.root() == str(data)
    wait_until_ready(qtbot, window)
    assert window.run_panel.start_button.isEnabled()
    summary = window.data_panel.summary()
    assert summary is not None and summary.labels == ("circle", "cross", "square", "triangle")

    stamp = (data / DEMO_MARKER).stat().st_mtime_ns
    files = sorted(p.name for p in (data / "circle").iterdir())
    again = make_window("second.ini", warm_up_now=False)
    with qtbot.waitSignal(again.demo_ready, timeout=60_000):
        again.prepare_demo()
    assert (data / DEMO_MARKER).stat().st_mtime_ns == stamp  # not written again
    assert sorted(p.name for p in (data / "circle").iterdir()) == files
    qtbot.waitUntil(lambda: not again.data_panel.is_scanning(), timeout=30_000)


def test_window_title_says_what_it_does_and_the_app_name_once(make_window) -> None:
    from PySide6.QtGui import QGuiApplication

    window = make_window(warm_up_now=False)
    # Qt appends the application display name itself ("… — mlcls-gui" on X11 and
    # Windows); a title that names it too showed it twice.
    assert window.windowTitle() == "Train multi-label image classifiers"
    assert QGuiApplication.applicationDisplayName() not in window.windowTitle()


def test_the_window_module_does_not_import_torch() -> None:
    import subprocess

    code = ("import sys, mlcls_gui.gui.main_window, mlcls_gui.gui.app; "
            "sys.exit(1 if 'torch' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code], timeout=120).returncode == 0
