"""A training run: the engine, the recipe, events, launch, precision, resume, the learning-rate finder. This package's __init__ imports no torch."""
