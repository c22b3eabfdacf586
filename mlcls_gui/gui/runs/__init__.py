"""The Runs tab: runs table, curves of several runs, settings diff."""
