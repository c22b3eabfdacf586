"""What a model file or checkpoint holds: safe save and load, and the rules every field obeys."""
