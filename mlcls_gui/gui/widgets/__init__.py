"""Shared widgets and helpers: TaskRunner and threads, dialogs, path field, thumbnails, saliency overlays, wheel guard, field labels."""
