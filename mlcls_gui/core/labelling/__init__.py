"""Labelling: unlabelled images, the model-assisted queue, label files in and out."""
