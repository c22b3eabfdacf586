"""Writing and opening files safely: atomic replace, digests, paths that stay inside their folder."""
