"""Take README's screenshot (assets/screenshot.png) from the real window.

Run it under a virtual display, at the window's default size:

    xvfb-run -a -s "-screen 0 1560x940x24" python assets/take_screenshot.py [--out FILE]

It writes the demo data set into a temporary folder, trains the demo settings
(about a minute on 2 CPU cores), then gives Try the model two demo images and a
PDF (which it refuses, saying why) and saves the window as a PNG. The user's
own settings and data folder are not touched: the window's settings live in
the temporary folder too, which is removed at the end.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication

from mlcls_gui.core.config import demo_config
from mlcls_gui.core.data.demo import write_demo_dataset

logger = logging.getLogger("take_screenshot")
SIZE = (1560, 940)  # MainWindow's default size
TIMEOUT_MS = 15 * 60 * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).with_name("screenshot.png")), help="PNG to write")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    app = QApplication(sys.argv[:1])
    app.setApplicationName("mlcls-gui")
    from mlcls_gui.gui.main_window import MainWindow  # after the QApplication, as the app does

    with tempfile.TemporaryDirectory(prefix="mlcls-screenshot-") as folder:
        work = Path(folder)
        root = write_demo_dataset(work / "demo-data")
        window = MainWindow(settings=QSettings(str(work / "window.ini"), QSettings.Format.IniFormat))
        window.confirm_close_during_run = lambda: True  # type: ignore[method-assign]
        window.resize(*SIZE)
        window.show()
        window.apply_config(demo_config(root, work / "demo-output"), baseline_source="the demo settings")
        pdf = work / "notes.pdf"
        pdf.write_bytes(b"%PDF-1.4\n% not an image\n")
        images = [str(next((root / "circle+square+triangle").glob("*.png"))), str(next((root / "cross").glob("*.png")))]
        saved: list[bool] = []

        def start_when_ready() -> None:
            if window.is_ready():
                window.start_run()
            else:
                QTimer.singleShot(200, start_when_ready)

        def predict(_reason: str) -> None:
            window.predict_panel.predictions_shown.connect(lambda: QTimer.singleShot(800, save))
            window.predict_panel.add_paths([*images, str(pdf)])

        def save() -> None:
            window.grab().save(args.out)
            logger.info("Wrote %s (%d×%d)", args.out, window.width(), window.height())
            saved.append(True)
            window.close()
            app.quit()

        window.run_ended.connect(predict)
        QTimer.singleShot(200, start_when_ready)
        QTimer.singleShot(TIMEOUT_MS, app.quit)  # never hang a script that a person waits for
        app.exec()
    return 0 if saved else 1


if __name__ == "__main__":
    sys.exit(main())
