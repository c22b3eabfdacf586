"""The window opens without PyTorch: torch loads in the background (Start never waits for
it, a run loads its own), so nothing on the first screen may import it."""

from __future__ import annotations

import os
import subprocess
import sys

_CHILD = r"""
import sys
from PySide6.QtCore import QSettings
from mlcls_gui.gui.app import create_application
app = create_application()
from mlcls_gui.gui.main_window import MainWindow
window = MainWindow(settings=QSettings(sys.argv[1], QSettings.Format.IniFormat), warm_up_now=False)
window.show()
app.processEvents()
heavy = sorted(name for name in ("torch", "torchvision", "timm", "cleanlab", "sklearn", "onnx", "onnxruntime")
               if name in sys.modules)
print("heavy:", ",".join(heavy))
window.close()
"""


def test_building_and_showing_the_window_imports_no_heavy_library(tmp_path) -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    result = subprocess.run([sys.executable, "-c", _CHILD, str(tmp_path / "s.ini")], capture_output=True,
                            text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "heavy: \n" in result.stdout or result.stdout.strip() == "heavy:", result.stdout


_FROZEN_CHILD = r"""
import gc
from mlcls_gui.gui.startup import warm_up
before = gc.get_freeze_count()
warm_up()
print(before, gc.get_freeze_count())
"""


def test_the_warm_up_leaves_the_loaded_heap_out_of_full_collections() -> None:
    # A full pass over PyTorch's objects held the GIL ~0.2 s: the window's worst freeze.
    result = subprocess.run([sys.executable, "-c", _FROZEN_CHILD], capture_output=True, text=True, timeout=120,
                            env=dict(os.environ, QT_QPA_PLATFORM="offscreen"))
    assert result.returncode == 0, result.stderr[-2000:]
    before, after = (int(value) for value in result.stdout.split()[-2:])
    assert before == 0 and after > 100_000  # torch, the app's modules: hundreds of thousands of objects
