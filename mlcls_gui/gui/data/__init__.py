"""The Data tab: data-root picker, scan summary, dataset audit."""
