"""The headless core of mlcls-gui: plain PyTorch, no Qt.

Import submodules directly (``from mlcls_gui.core.training.engine import Trainer``);
this package imports nothing heavy so that ``import mlcls_gui.core`` stays cheap.
"""
