"""Architecture families behind ``core/models/registry.py``: torchvision (the app's
original names), timm (``timm:<name>``) and the built-in ``tiny_cnn``.

Import the registry, not these modules: each imports torch (and timm) when loaded.
"""
