"""mlcls-gui: train multi-label image classifiers from folders, without code."""

__version__ = "0.1.0"
