"""Use cases the CLI and the window share, one function each, with the same rules for both."""
