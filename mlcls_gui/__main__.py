"""``python -m mlcls_gui`` does what the ``mlcls-gui`` command does."""

import sys

from mlcls_gui.cli import main

if __name__ == "__main__":
    sys.exit(main())
