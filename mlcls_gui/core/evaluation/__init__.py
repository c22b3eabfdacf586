"""Metrics, tuned thresholds and evaluation reports, computed from stored probabilities."""
