"""The PySide6 window of mlcls-gui: one client of the headless core.

``run_app`` (in ``app.py``) is the entry point; nothing here is imported by
the core. Importing this package first guards against a PySide6 6.12
reference-count bug on Python < 3.12 (see ``pyside_compat``).
"""

from mlcls_gui.gui.pyside_compat import protect_singletons

protect_singletons()
