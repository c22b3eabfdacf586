"""Fixtures for the GUI tests: offscreen Qt, isolated settings, no thread left behind."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import gc  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Iterator  # noqa: E402

import pytest  # noqa: E402
from PySide6.QtCore import QCoreApplication, QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from mlcls_gui.core.config import TrainConfig  # noqa: E402
from mlcls_gui.core.data.demo import write_demo_dataset  # noqa: E402
from mlcls_gui.gui.widgets.background import live_threads  # noqa: E402


@pytest.fixture(autouse=True)
def isolated_settings(
    tmp_path: Path, qapp: QApplication, monkeypatch: pytest.MonkeyPatch, garbage_collected_on_the_gui_thread: None
) -> Iterator[None]:
    """Never touch the real user's settings or data folder."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    QCoreApplication.setOrganizationName("mlcls-gui-tests")
    QCoreApplication.setApplicationName(f"mlcls-gui-test-{os.getpid()}")
    yield


@pytest.fixture(scope="session")
def gui_thread_collector(qapp: QApplication) -> Iterator[object]:  # pyqtgraph GarbageCollector
    """One collector timer for the session: destroying a QTimer while Python's
    collector is on can run a collection inside Qt's disconnect (a deadlock)."""
    from mlcls_gui.gui.app import collect_garbage_on_the_gui_thread

    yield collect_garbage_on_the_gui_thread(interval_s=0.5)
    gc.disable()  # the timer goes with the process, as in the app


@pytest.fixture(autouse=True)
def garbage_collected_on_the_gui_thread(gui_thread_collector) -> Iterator[None]:
    """As in the app: the cycle collector runs on the GUI thread only, never in a
    worker thread that could destroy a widget of an earlier test (a deadlock seen
    in this suite). Core tests run later in the same process get it back."""
    gc.disable()
    gui_thread_collector.timer.start()
    yield
    gui_thread_collector.timer.stop()
    gc.enable()


@pytest.fixture(autouse=True)
def no_thread_left_running(qapp: QApplication, garbage_collected_on_the_gui_thread: None) -> Iterator[None]:
    """Fail a test that leaves a GUI thread (training, scan, prediction…) running."""
    yield
    deadline = time.monotonic() + 3.0
    while live_threads() and time.monotonic() < deadline:
        qapp.processEvents()
        time.sleep(0.01)
    running = [thread.objectName() for thread in live_threads()]
    assert not running, f"threads still running after the test: {running}"


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny demo dataset: 9 label sets × 6 images of 32 px."""
    return write_demo_dataset(tmp_path_factory.mktemp("demo") / "data", images_per_folder=6, image_size=32)


def tiny_config(root: Path, output: Path, **changes: object) -> TrainConfig:
    values: dict[str, object] = dict(
        images_root=str(root), save_model_folder=str(output), image_size=32, batch_size=8,
        n_epochs=2, pretrained=False, arch="tiny_cnn", device="cpu",
        check_split_leakage=False,  # the near-copy check has tests of its own (pretrained features: seconds)
    )
    values.update(changes)
    return TrainConfig(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def trained_model(demo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A final model trained headless on the tiny set (once per session)."""
    import torch

    from mlcls_gui.core.training.engine import Trainer

    torch.set_num_threads(1)
    output = tmp_path_factory.mktemp("model")
    # resnet18: the Predict and Evaluate tests need a model with some skill and its name.
    result = Trainer(tiny_config(demo_root, output, n_epochs=1, arch="resnet18")).run()
    return Path(result.final_model_path)


@pytest.fixture
def make_window(qtbot, tmp_path: Path):  # -> Callable[..., MainWindow]
    """Main windows with settings in tmp; stopped and closed after the test."""
    from mlcls_gui.gui.main_window import MainWindow

    windows: list[MainWindow] = []

    def factory(settings_name: str = "window.ini", **kwargs: object) -> MainWindow:
        settings = QSettings(str(tmp_path / settings_name), QSettings.Format.IniFormat)
        window = MainWindow(settings=settings, **kwargs)  # type: ignore[arg-type]
        window.confirm_close_during_run = lambda: True  # type: ignore[method-assign]
        windows.append(window)
        window.show()
        return window

    yield factory
    for window in windows:
        if window.is_running():
            window.request_stop()
            qtbot.waitUntil(lambda w=window: not w.is_running(), timeout=60_000)
        window.close()
        window.deleteLater()


def wait_until_ready(qtbot, window, timeout: int = 60_000) -> None:
    qtbot.waitUntil(window.is_ready, timeout=timeout)


def drop_urls(widget, paths: list[Path]) -> bool:  # widget: QWidget
    """Drop local files on ``widget`` the way the window system does: a drag
    enters the window at the widget's position, then the drop follows."""
    import warnings

    from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDropEvent

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    window = widget.window().windowHandle()
    assert window is not None, "the widget must be shown"
    centre = widget.rect().center()
    pos = widget.mapTo(widget.window(), QPoint(centre.x(), centre.y()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        enter = QDragEnterEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                                Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    if not enter.isAccepted():
        return False
    drop = QDropEvent(QPointF(pos), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, drop)
    return drop.isAccepted()
