"""The Settings form: field rows, architecture picker, presets, config files, learning-rate finder."""
