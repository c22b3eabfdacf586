"""The architecture registry and its families; a model built with one output per label (head, extractor, saliency target)."""
