"""The Predict tab (images) and the Batch predict tab (a folder into a CSV)."""
