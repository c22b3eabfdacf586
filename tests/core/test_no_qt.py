import subprocess
import sys


def test_importing_the_core_loads_no_qt():
    code = (
        "import sys, pkgutil, importlib, mlcls_gui.core as core\n"
        "for m in pkgutil.walk_packages(core.__path__, 'mlcls_gui.core.'):\n"
        "    importlib.import_module(m.name)\n"
        "import mlcls_gui.cli\n"
        "bad = [n for n in sys.modules if n.startswith(('PySide6', 'pyqtgraph', 'mlcls_gui.gui'))]\n"
        "assert not bad, bad\n"
        "assert 'mlcls_gui.core.training.engine' in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
