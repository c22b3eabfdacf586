"""QApplication setup and the ``run_app`` entry point the CLI calls.

The window shows before torch is imported: the main window imports only the
torch-free parts of the core, and loads torch on a background thread after
the first paint.
"""

from __future__ import annotations

import logging
import sys
import time

from mlcls_gui.desktop_entry import APP_ID, ICON_PNG, ICON_SVG

logger = logging.getLogger(__name__)

# Settings live in <config>/mlcls-gui/mlcls-gui.conf (kept where they always were);
# the data folder is named after the application alone (startup.app_data_dir).
ORGANIZATION_NAME = "mlcls-gui"
APPLICATION_NAME = "mlcls-gui"


def configure_logging(level: int = logging.INFO) -> None:
    """Log to stderr (the window adds its own handler for the log panel)."""
    package_logger = logging.getLogger("mlcls_gui")
    package_logger.setLevel(level)
    if not any(getattr(h, "_mlcls_stderr", False) for h in package_logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler._mlcls_stderr = True  # type: ignore[attr-defined]
        package_logger.addHandler(handler)
    # This handler prints the package's records; the root logger would print them twice.
    package_logger.propagate = False


GUI_SWITCH_INTERVAL_S = 0.001


def share_the_gil_with_the_gui(interval: float = GUI_SWITCH_INTERVAL_S) -> None:
    """Let the GUI thread get the GIL back sooner from the training thread.

    Painting the plots crosses from C++ into Python many times; each time the
    GUI thread may wait up to the interpreter's switch interval (5 ms by
    default) for the training thread to release the GIL. Measured on 2 cores
    (tests/benchmarks/bench_gui_latency.py, demo run): stalls over 40 ms fell
    from ~40 to ~15 per run and the worst stall from 67 to 53 ms, p99 about the
    same (30–33 ms); training speed unchanged within noise."""
    sys.setswitchinterval(interval)


def collect_garbage_on_the_gui_thread(interval_s: float = 1.0):  # -> pyqtgraph GarbageCollector
    """Run Python's cycle collector only on the GUI thread, from a timer.

    The automatic collector runs in whichever thread happens to allocate when
    its thresholds trip. If that is a worker (training, evaluation, a scan) and
    the garbage holds a widget, Qt destroys the widget off the GUI thread: a
    crash or a deadlock. Seen in the test suite: the collector, run by an
    evaluation thread inside torch.load, destroyed a closed window's menus
    while the GUI thread waited on the same QObject's mutex. pyqtgraph's
    GarbageCollector turns the automatic collector off and collects, by the
    same thresholds, on a timer of the GUI thread. Keep the returned object
    alive (destroying its timer while the collector is on can deadlock too)."""
    from pyqtgraph.util.garbage_collector import GarbageCollector

    return GarbageCollector(interval=interval_s)


def create_application(argv: list[str] | None = None):  # -> QApplication
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        app = QApplication(argv if argv is not None else sys.argv[:1])
    app.setOrganizationName(ORGANIZATION_NAME)
    app.setApplicationName(APPLICATION_NAME)
    app.setApplicationDisplayName("mlcls-gui")
    app.setWindowIcon(application_icon())
    # Taskbars (Wayland app id, GNOME/KDE) match the window to mlcls-gui.desktop by this name.
    app.setDesktopFileName(APP_ID)
    return app


def application_icon():  # -> QIcon
    """The tag icon: the SVG for any size, the PNG where SVG support is missing."""
    from PySide6.QtGui import QIcon

    icon = QIcon()
    for path in (ICON_SVG, ICON_PNG):
        if path.is_file():
            icon.addFile(str(path))
    if icon.isNull():
        logger.warning("The application icon is missing from %s", ICON_PNG.parent)
    return icon


def run_app(*, demo: bool = False) -> int:
    """Open the main window (with the demo set ready when ``demo``) and run the event loop."""
    started = time.perf_counter()
    configure_logging()
    share_the_gil_with_the_gui()
    app = create_application()
    from PySide6.QtCore import QSettings, QTimer

    from mlcls_gui.gui.main_window import MainWindow
    from mlcls_gui.gui.startup import migrate_legacy_app_data

    app.aboutToQuit.connect(_wait_for_background_threads)
    collector = collect_garbage_on_the_gui_thread()  # noqa: F841 - the timer lives while it does
    try:
        migrate_legacy_app_data(QSettings())
    except Exception:  # noqa: BLE001 - an old folder left in place must never stop the window
        logger.warning("Could not move the data folder of an earlier version", exc_info=True)
    window = MainWindow()
    window.setWindowIcon(app.windowIcon())
    window.show()
    logger.info("Window shown after %.2f s", time.perf_counter() - started)
    if demo:
        QTimer.singleShot(0, window.prepare_demo)
    return int(app.exec())


def _wait_for_background_threads() -> None:
    """Let scans and predictions end before Qt tears the objects down."""
    from mlcls_gui.gui.widgets.background import live_threads, wait_for_thread

    for thread in live_threads():
        wait_for_thread(thread, 30_000)
