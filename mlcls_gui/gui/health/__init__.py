"""The Health tab: near-duplicates across the split, outliers to exclude, and a map of the data."""
