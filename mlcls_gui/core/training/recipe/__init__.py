"""The modern multi-label recipe beside the seed's: losses, weight EMA, per-batch
schedules, multi-hot mixing and no-decay parameter groups (see ``presets``)."""
