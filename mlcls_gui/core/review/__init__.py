"""Finding label mistakes and fixing them: the label review, relabel and its undo journal, crash-safe moves."""
