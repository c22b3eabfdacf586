"""--demo: the demo set is generated once into the app-data folder (named once, moved from
where earlier versions kept it) and selected; the application icon."""

from __future__ import annotations

import sys
from pathlib import Path

from pytestqt.qtbot import QtBot

from mlcls_gui.core.config import demo_config
from mlcls_gui.core.data.demo import DEMO_MARKER
from mlcls_gui.gui.startup import (
    DEMO_DATA_FOLDER,
    DEMO_OUTPUT_FOLDER,
    app_data_dir,
    legacy_app_data_dir,
    migrate_legacy_app_data,
)

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


# ------------------------------------------------ data folder named once, icon
def test_the_data_folder_names_the_app_once(tmp_path: Path) -> None:
    from PySide6.QtCore import QCoreApplication

    from mlcls_gui.gui.app import APPLICATION_NAME, ORGANIZATION_NAME

    QCoreApplication.setOrganizationName(ORGANIZATION_NAME)
    QCoreApplication.setApplicationName(APPLICATION_NAME)
    # Qt's AppDataLocation joined organisation and application: …/mlcls-gui/mlcls-gui/.
    assert app_data_dir() == tmp_path / "xdg-data" / "mlcls-gui"
    assert legacy_app_data_dir() == tmp_path / "xdg-data" / "mlcls-gui" / "mlcls-gui"


def _old_demo_folder() -> Path:
    old = legacy_app_data_dir()
    assert old is not None and old != app_data_dir()
    (old / DEMO_DATA_FOLDER / "circle").mkdir(parents=True)
    (old / DEMO_DATA_FOLDER / DEMO_MARKER).write_text("complete\n")
    (old / DEMO_DATA_FOLDER / "circle" / "c.png").write_bytes(b"png")
    (old / DEMO_OUTPUT_FOLDER / "run1").mkdir(parents=True)
    (old / DEMO_OUTPUT_FOLDER / "run1" / "final_model.pt").write_bytes(b"pt")
    return old


def test_an_old_demo_folder_moves_and_the_settings_follow(tmp_path: Path) -> None:
    import json

    from PySide6.QtCore import QByteArray, QSettings

    old = _old_demo_folder()
    new = app_data_dir()
    settings = QSettings(str(tmp_path / "old.ini"), QSettings.Format.IniFormat)
    config = demo_config(old / DEMO_DATA_FOLDER, old / DEMO_OUTPUT_FOLDER)
    settings.setValue("config/last", json.dumps(config.to_dict()))
    settings.setValue("data/recent_roots", json.dumps([str(old / DEMO_DATA_FOLDER), str(old / "demo-data-2")]))
    settings.setValue("predict/model", str(old / DEMO_OUTPUT_FOLDER / "run1" / "final_model.pt"))
    settings.setValue("window/geometry", QByteArray(b"\x01\x02"))

    moved = migrate_legacy_app_data(settings)

    assert moved == [(old / DEMO_DATA_FOLDER, new / DEMO_DATA_FOLDER),
                     (old / DEMO_OUTPUT_FOLDER, new / DEMO_OUTPUT_FOLDER)]
    assert (new / DEMO_DATA_FOLDER / "circle" / "c.png").read_bytes() == b"png"
    assert (new / DEMO_OUTPUT_FOLDER / "run1" / "final_model.pt").is_file()
    assert not old.exists() and not old.parent.exists()  # the emptied folders are gone too
    reread = QSettings(str(tmp_path / "old.ini"), QSettings.Format.IniFormat)
    last = json.loads(reread.value("config/last"))
    assert last["images_root"] == str(new / DEMO_DATA_FOLDER)
    assert last["save_model_folder"] == str(new / DEMO_OUTPUT_FOLDER)
    # Only whole path components: a sibling that was not moved keeps its path.
    assert json.loads(reread.value("data/recent_roots")) == [str(new / DEMO_DATA_FOLDER), str(old / "demo-data-2")]
    assert reread.value("predict/model") == str(new / DEMO_OUTPUT_FOLDER / "run1" / "final_model.pt")
    assert reread.value("window/geometry") == QByteArray(b"\x01\x02")
    assert migrate_legacy_app_data(settings) == []  # once only


def test_an_old_demo_folder_is_left_be_when_the_new_one_exists(tmp_path: Path) -> None:
    from PySide6.QtCore import QSettings

    old = _old_demo_folder()
    new = app_data_dir()
    (new / DEMO_DATA_FOLDER).mkdir(parents=True)
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    settings.setValue("predict/model", str(old / DEMO_DATA_FOLDER / "x.pt"))

    moved = migrate_legacy_app_data(settings)

    assert moved == [(old / DEMO_OUTPUT_FOLDER, new / DEMO_OUTPUT_FOLDER)]
    assert (old / DEMO_DATA_FOLDER / "circle" / "c.png").is_file()  # untouched
    assert not any((new / DEMO_DATA_FOLDER).iterdir())
    assert settings.value("predict/model") == str(old / DEMO_DATA_FOLDER / "x.pt")


def test_the_application_has_its_icon_and_desktop_file_name(qapp) -> None:
    from mlcls_gui.desktop_entry import ICON_PNG, ICON_SVG
    from mlcls_gui.gui.app import create_application

    assert ICON_PNG.is_file() and ICON_SVG.is_file()
    app = create_application()
    assert app is qapp
    assert app.desktopFileName() == "mlcls-gui"  # matches mlcls-gui.desktop
    icon = app.windowIcon()
    assert not icon.isNull()
    assert icon.pixmap(64, 64).size().width() == 64 and icon.pixmap(256, 256).size().width() == 256


def test_cycles_made_in_a_worker_thread_are_collected_on_the_gui_thread(qtbot: QtBot) -> None:
    """The window's collector (on in every GUI test): a worker thread never runs
    the cycle collector, which could destroy a widget off the GUI thread."""
    import gc
    import threading

    collected_on: list[str] = []
    kept: list[list[list[int]]] = []

    class Cyclic:
        def __init__(self) -> None:
            self.me = self

        def __del__(self) -> None:
            collected_on.append(threading.current_thread().name)

    def worker() -> None:
        for _ in range(3):
            Cyclic()
        # Far past the thresholds (kept alive so the count stays there): the
        # automatic collector would have run in this thread.
        kept.append([[] for _ in range(50_000)])

    assert not gc.isenabled()
    thread = threading.Thread(target=worker, name="worker")
    thread.start()
    thread.join()
    assert collected_on == []
    qtbot.waitUntil(lambda: len(collected_on) == 3, timeout=5_000)
    assert set(collected_on) == {threading.main_thread().name}
