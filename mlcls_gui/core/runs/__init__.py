"""A run's output folder (file names, reports, archive, lock) and every run of a folder, listed and compared."""
