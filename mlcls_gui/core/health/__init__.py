"""Data health: near-duplicate groups and leakage between splits, outliers, and a 2-D map of the data set."""
