"""Shared by tests/core and tests/gui."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

# The relabel journal key and other per-user files go to a folder of this test
# process, never to the real ~/.config. Set at import, before the core
# conftest copies the environment for its training subprocesses.
_CONFIG_HOME = tempfile.mkdtemp(prefix="mlcls-test-config-")
os.environ["XDG_CONFIG_HOME"] = _CONFIG_HOME
atexit.register(shutil.rmtree, _CONFIG_HOME, ignore_errors=True)
